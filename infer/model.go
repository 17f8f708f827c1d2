package infer

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/convert/tensor"
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/models"
)

// Info identifies the model that produced a set of detections. It is
// convert.ModelInfo, so that packages consuming detections (video) can name
// it without importing infer.
type Info = convert.ModelInfo

// Detector finds the regions to hide in a frame.
type Detector interface {
	// Detect returns the detections to hide in img (8-bit BGR), boxes in
	// img's pixels. It is safe for concurrent use.
	Detect(img gocv.Mat) ([]convert.Detection, error)
	// DetectInfo is Detect, also naming the model that did the work (which
	// may change between calls when models are hot-swapped).
	DetectInfo(img gocv.Mat) ([]convert.Detection, Info, error)
	// Info names the model in use now.
	Info() Info
	// Close releases the model once in-flight Detect calls have finished.
	// It is safe to call more than once.
	Close() error
}

// LoadOptions override a manifest's defaults.
type LoadOptions struct {
	// Threshold replaces the manifest's default score threshold when > 0.
	Threshold float32
	// Bands, when set, replace Threshold by one that depends on the height
	// of each box in source pixels (convert.Bands).
	Bands convert.Bands
	// Hide replaces the manifest's labels to hide when set; each must be
	// one of the model's labels.
	Hide []string
	// Tiles adds multi-scale detection: "off" (or ""), "auto" or "RxC"
	// (see tiles.go).
	Tiles string
	// ImagesOnly keeps the model off video frames (Set.ForVideo): a second
	// detector that buys recall on photos at a cost per frame that real
	// time video cannot pay.
	ImagesOnly bool
	// Style is how the model's detections are hidden (nil: the run's
	// default); it travels in the model's Info to every hider.
	Style *convert.Style
}

// Model is a loaded model folder. It owns one ONNX Runtime session.
type Model struct {
	info     Info
	manifest models.Manifest
	tiles    Tiling
	pre      convert.Preprocess
	dec      convert.Decoder
	hide     map[string]bool
	canary   Canary

	mu      sync.RWMutex // held for reading by each Detect; Close takes it for writing
	session *ort.DynamicAdvancedSession
}

// ErrClosed is returned by Detect on a closed model.
var ErrClosed = errors.New("model is closed")

// Load reads dir (model.onnx + model.toml), checks the model's real inputs
// and outputs against its adapter's contract, opens a session on the first
// execution provider that starts, and runs one warm-up inference. A model
// hiding faces or people must then find the one on the canary photo built
// into the binary, at its own threshold; one that does not is refused with
// ErrCanary (see canary.go).
func (r *Runtime) Load(dir string, o LoadOptions) (*Model, error) {
	man, tiles, err := readWithOptions(dir, o)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, models.ModelFile)
	sum, err := fsutil.FileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	dec, err := man.NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	pre := man.Preprocess()
	if err := r.checkContract(path, man, pre, dec); err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	outNames := make([]string, 0, len(dec.Outputs()))
	for _, t := range dec.Outputs() {
		outNames = append(outNames, t.Name)
	}
	s, provider, err := r.openSession(path, []string{man.Input.Name}, outNames)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	r.log.Info("model loaded", "model", man.Name, "version", man.Version, "provider", provider, "dir", dir)
	m := &Model{
		info:     r.infoOf(man, o, dir, sum, provider, tiles),
		manifest: man, pre: pre, dec: dec, session: s, hide: map[string]bool{}, tiles: tiles,
	}
	for _, h := range man.Hide {
		m.hide[h] = true
	}
	if err := m.warmUp(); err != nil {
		m.Close()
		return nil, fmt.Errorf("load model %s: warm-up inference: %w", dir, err)
	}
	if m.canary, err = m.runCanary(); err != nil {
		m.Close()
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	r.logNoCanary(m.canary.Unchecked)
	return m, nil
}

// readWithOptions reads dir's manifest and checks o against it: the
// threshold and bands, the labels to hide (which replace the manifest's),
// the tiling.
func readWithOptions(dir string, o LoadOptions) (models.Manifest, Tiling, error) {
	man, err := models.ReadManifest(dir)
	if err != nil {
		return man, Tiling{}, err
	}
	if o.Threshold < 0 || o.Threshold > 1 {
		return man, Tiling{}, fmt.Errorf("threshold %g is outside [0, 1]", o.Threshold)
	}
	if err := o.Bands.Validate(); err != nil {
		return man, Tiling{}, fmt.Errorf("load model %s: threshold_bands: %w", dir, err)
	}
	if len(o.Hide) > 0 {
		for _, h := range o.Hide {
			if !slices.Contains(man.Labels, h) {
				return man, Tiling{}, fmt.Errorf("load model %s: hide: %q is not one of its labels %q", dir, h, man.Labels)
			}
		}
		man.Hide = slices.Clone(o.Hide)
	}
	tiles, err := ParseTiling(o.Tiles)
	if err != nil {
		return man, Tiling{}, fmt.Errorf("load model %s: %w", dir, err)
	}
	return man, tiles, nil
}

// infoOf is the Info of the model loaded from dir: the threshold it runs
// at (o's, or its bands' last, else the manifest's), and the licence of
// its file (a manifest edited to name another is overruled, with a
// warning: the file's own licence is the one that binds, in the log and
// the audit record).
func (r *Runtime) infoOf(man models.Manifest, o LoadOptions, dir, sum, provider string, tiles Tiling) Info {
	thr := man.Threshold
	if o.Threshold > 0 {
		thr = o.Threshold
	}
	bands := slices.Clone(o.Bands)
	if len(bands) > 0 {
		thr = bands[len(bands)-1].Threshold
	}
	info := Info{Name: man.Name, Version: man.Version, Adapter: man.Adapter, License: man.License, SHA256: sum,
		Provider: provider, Threshold: thr, Bands: bands, Hide: slices.Clone(man.Hide), Dir: dir, Tiles: tiles.String(), Style: o.Style}
	if l := models.FileLicense(sum); l != "" && l != man.License {
		r.log.Warn("model manifest names another licence than its file's", "model", man.Name, "manifest", man.License, "file", l, "dir", dir)
		info.License = l
	}
	return info
}

// Info names the model.
func (m *Model) Info() Info { return m.info }

// Manifest is the model's manifest.
func (m *Model) Manifest() models.Manifest { return m.manifest }

// Canary is what the canary check of Load saw (see canary.go).
func (m *Model) Canary() Canary { return m.canary }

// Preprocess is the model's frame-to-tensor conversion.
func (m *Model) Preprocess() convert.Preprocess { return m.pre }

func (m *Model) warmUp() error {
	w, h := m.pre.Width, m.pre.Height
	if w == 0 {
		w, h = 64, 48
	}
	img := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer img.Close()
	_, err := m.Detect(img)
	return err
}

// Close waits for in-flight Detect calls, then destroys the session.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		return nil
	}
	err := m.session.Destroy()
	m.session = nil
	return err
}

// Detect runs the model on img and returns the detections to hide, after
// NMS, with boxes in img's pixels. img is the source itself: threshold
// bands are applied at the boxes' heights in img.
func (m *Model) Detect(img gocv.Mat) ([]convert.Detection, error) {
	d, _, err := m.DetectScaled(img, 1)
	return d, err
}

// DetectInfo is Detect plus the model's Info.
func (m *Model) DetectInfo(img gocv.Mat) ([]convert.Detection, Info, error) {
	return m.DetectScaled(img, 1)
}

// DetectScaled is DetectInfo on a copy of the source scaled by 1/scale
// (scale: source pixels per pixel of img, as video.Shrink passes): the
// threshold bands are applied at each box's height in source pixels, and
// the boxes stay in img's pixels.
func (m *Model) DetectScaled(img gocv.Mat, scale float32) ([]convert.Detection, Info, error) {
	thr := m.info.Threshold
	if len(m.info.Bands) > 0 {
		thr = m.info.Bands.Min()
	}
	dets, err := m.detectTiled(img, thr)
	if err != nil {
		return nil, m.info, err
	}
	dets = m.info.Bands.Keep(dets, scale)
	return convert.Filter(dets, func(d convert.Detection) bool { return m.hide[d.Label] }), m.info, nil
}

// DetectAll returns every detection at or above threshold, of every label,
// after NMS.
func (m *Model) DetectAll(img gocv.Mat, threshold float32) ([]convert.Detection, error) {
	if img.Empty() {
		return nil, errors.New("detect: empty image")
	}
	lb := m.pre.Plan(img.Cols(), img.Rows())
	shape := ort.NewShape(m.pre.Shape(lb)...)
	var input ort.Value
	switch m.pre.DType {
	case convert.Uint8:
		buf := make([]uint8, m.pre.Len(lb))
		if err := tensor.FillUint8(m.pre, img, lb, buf); err != nil {
			return nil, err
		}
		t, err := ort.NewTensor(shape, buf)
		if err != nil {
			return nil, fmt.Errorf("detect: input tensor: %w", err)
		}
		input = t
	default:
		buf := getFloats(m.pre.Len(lb))
		defer floatBufs.Put(buf) // after input.Destroy (defers run last-in first-out)
		if err := tensor.FillFloat32(m.pre, img, lb, *buf); err != nil {
			return nil, err
		}
		t, err := ort.NewTensor(shape, *buf)
		if err != nil {
			return nil, fmt.Errorf("detect: input tensor: %w", err)
		}
		input = t
	}
	defer input.Destroy()

	contract := m.dec.Outputs()
	outs := make([]ort.Value, len(contract))
	m.mu.RLock()
	if m.session == nil {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	err := m.session.Run([]ort.Value{input}, outs)
	m.mu.RUnlock()
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("detect: run %s: %w", m.info.Name, err)
	}
	raw := make([]convert.Output, len(outs))
	for i, o := range outs {
		data, err := toFloat32(o)
		if err != nil {
			return nil, fmt.Errorf("detect: output %q: %w", contract[i].Name, err)
		}
		raw[i] = convert.Output{Name: contract[i].Name, Shape: o.GetShape(), Data: data}
	}
	dets, err := m.dec.Decode(raw, lb, threshold)
	if err != nil {
		return nil, fmt.Errorf("detect: decode %s: %w", m.info.Name, err)
	}
	return convert.NMS(dets, m.manifest.NMSIoU), nil
}

// floatBufs keeps float input tensors for reuse: a video frame's is
// megabytes, which a new slice costs zeroing (and the GC reclaiming) for
// FillFloat32 to overwrite all of.
var floatBufs sync.Pool // *[]float32

// getFloats returns a slice of n floats (contents undefined) from floatBufs.
func getFloats(n int) *[]float32 {
	if b, ok := floatBufs.Get().(*[]float32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float32, n)
	return &b
}

func toFloat32(v ort.Value) ([]float32, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return t.GetData(), nil
	case *ort.Tensor[float64]:
		return convertSlice(t.GetData()), nil
	case *ort.Tensor[int64]:
		return convertSlice(t.GetData()), nil
	case *ort.Tensor[int32]:
		return convertSlice(t.GetData()), nil
	case *ort.Tensor[uint8]:
		return convertSlice(t.GetData()), nil
	}
	return nil, fmt.Errorf("unsupported output type %T", v)
}

func convertSlice[T float64 | int64 | int32 | uint8](s []T) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// checkContract compares the model's real inputs and outputs with what the
// manifest and adapter expect, naming the input or output that differs.
func (r *Runtime) checkContract(path string, man models.Manifest, pre convert.Preprocess, dec convert.Decoder) error {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return fmt.Errorf("read inputs and outputs: %w", err)
	}
	var errs []error
	// The image input.
	var in *ort.InputOutputInfo
	var names []string
	for i := range ins {
		names = append(names, ins[i].Name)
		if ins[i].Name == man.Input.Name {
			in = &ins[i]
		}
	}
	if len(ins) != 1 {
		errs = append(errs, fmt.Errorf("model has %d inputs %q, the adapter feeds exactly one", len(ins), names))
	}
	if in == nil {
		errs = append(errs, fmt.Errorf("input %q: not found (model inputs: %q)", man.Input.Name, names))
	} else {
		want := pre.Shape(convert.Letterbox{DstW: pre.Width, DstH: pre.Height})
		for i := range want {
			if want[i] == 0 {
				want[i] = -1
			}
		}
		if dt := dtypeOf(in.DataType); dt != pre.DType || !shapeFits(in.Dimensions, want) ||
			(pre.Dynamic() && !dynamicSpatial(in.Dimensions, pre.Layout)) {
			errs = append(errs, fmt.Errorf("input %q: expected %s %s, found %s %v", in.Name,
				pre.DType, fmtShape(want), dtypeOf(in.DataType), []int64(in.Dimensions)))
		}
	}
	found := map[string]ort.InputOutputInfo{}
	var outNames []string
	for _, o := range outs {
		found[o.Name] = o
		outNames = append(outNames, o.Name)
	}
	for _, w := range dec.Outputs() {
		o, ok := found[w.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("output %q: not found (model outputs: %q)", w.Name, outNames))
			continue
		}
		dt := dtypeOf(o.DataType)
		if dt == convert.OtherType || !shapeFits(o.Dimensions, w.Shape) {
			errs = append(errs, fmt.Errorf("output %q: expected %s %s, found %s %v", w.Name, w.DType, fmtShape(w.Shape), dt, []int64(o.Dimensions)))
		}
	}
	return errors.Join(errs...)
}

// shapeFits reports whether a model's shape (-1 or 0 = dynamic) can hold a
// contract shape (-1 = any).
func shapeFits(have ort.Shape, want []int64) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range want {
		if want[i] >= 0 && have[i] > 0 && have[i] != want[i] {
			return false
		}
	}
	return true
}

// dynamicSpatial reports whether height and width of an image input are
// dynamic, as a model fed at the frame's own size needs.
func dynamicSpatial(s ort.Shape, l convert.Layout) bool {
	if len(s) != 4 {
		return false
	}
	h, w := s[2], s[3]
	if l == convert.NHWC {
		h, w = s[1], s[2]
	}
	return h <= 0 && w <= 0
}

func fmtShape(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func dtypeOf(t ort.TensorElementDataType) convert.DType {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return convert.Float32
	case ort.TensorElementDataTypeUint8:
		return convert.Uint8
	case ort.TensorElementDataTypeInt64:
		return convert.Int64
	case ort.TensorElementDataTypeInt32:
		return convert.Int32
	}
	return convert.OtherType
}
