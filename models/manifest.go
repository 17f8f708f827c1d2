// Package models reads model folders (model.onnx + model.toml) and lists,
// fetches and installs models from hub catalogues. The mock model is in
// models/mock.
package models

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/convert"
)

// ManifestFile and ModelFile are the two files of a model folder.
const (
	ManifestFile = "model.toml"
	ModelFile    = "model.onnx"
)

// Manifest is a model folder's model.toml.
type Manifest struct {
	Name        string `toml:"name"`
	Version     string `toml:"version"`
	Adapter     string `toml:"adapter"`
	Description string `toml:"description"`
	// License is an SPDX identifier ("Apache-2.0", "GPL-3.0-only",
	// "LicenseRef-..."); LicenseUnknown when the file names none.
	License string `toml:"license"`
	Source  string `toml:"source"`
	// Labels names the classes the model outputs; LabelBase is the raw
	// class id of Labels[0].
	Labels    []string `toml:"labels"`
	LabelBase int      `toml:"label_base"`
	// Hide lists the labels to hide (default: every label).
	Hide []string `toml:"hide"`
	// Threshold is the default score threshold; NMSIoU the NMS overlap.
	Threshold float32 `toml:"threshold"`
	NMSIoU    float32 `toml:"nms_iou"`

	Input Input `toml:"input"`
	// Options are the adapter's own options, its [ADAPTER] section
	// decoded into the adapter's options type (convert.YuNetOptions for
	// [yunet], ...); the zero options when the section is absent.
	Options convert.Options `toml:"-"`
}

// Input describes the model's image input.
type Input struct {
	Name   string `toml:"name"`
	DType  string `toml:"dtype"`  // float32 | uint8
	Layout string `toml:"layout"` // nchw | nhwc
	Colour string `toml:"colour"` // bgr | rgb
	// Width and Height 0: the model takes any size (the frame's own,
	// padded up to Multiple and shrunk to MaxSide).
	Width    int        `toml:"width"`
	Height   int        `toml:"height"`
	Multiple int        `toml:"multiple"`
	MaxSide  int        `toml:"max_side"`
	Fit      string     `toml:"fit"` // topleft | centre | stretch
	Mean     [3]float32 `toml:"mean"`
	Std      [3]float32 `toml:"std"`
	// Interp is the resize interpolation: linear, area or cubic; empty:
	// linear when enlarging, area when shrinking.
	Interp string `toml:"interp,omitempty"`
}

// ErrNoManifest means a folder has no model.toml.
var ErrNoManifest = errors.New("no " + ManifestFile)

// ReadManifest reads and validates dir/model.toml. Unknown keys are errors.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	var m Manifest
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("%s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return m, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return ParseManifest(data, path)
}

// ParseManifest parses and validates data as a model.toml, as ReadManifest
// does the file; name (the file's path) is for messages. Unknown keys are
// errors.
func ParseManifest(data []byte, name string) (Manifest, error) {
	path := name
	var m Manifest
	md, err := toml.Decode(string(data), &m)
	if err != nil {
		return m, fmt.Errorf("read manifest %s: %w", path, err)
	}
	var secs map[string]toml.Primitive
	smd, err := toml.Decode(string(data), &secs)
	if err != nil {
		return m, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if err := m.decodeOptions(&smd, secs); err != nil {
		return m, fmt.Errorf("manifest %s: %w", path, err)
	}
	if keys := unknownKeys(md, smd, 0); len(keys) > 0 {
		return m, fmt.Errorf("read manifest %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	m.setDefaults()
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// decodeOptions decodes the manifest's [ADAPTER] section, one of secs
// (its top-level keys, undecoded, from md), into m.Options. The section of
// another adapter is an error: a mistake, not something to ignore.
func (m *Manifest) decodeOptions(md *toml.MetaData, secs map[string]toml.Primitive) error {
	var errs []error
	for _, name := range convert.Adapters() {
		if _, ok := secs[name]; ok && name != m.Adapter {
			errs = append(errs, fmt.Errorf("[%s]: options for the %s adapter, but adapter is %q", name, name, m.Adapter))
		}
	}
	if !convert.Known(m.Adapter) || len(errs) > 0 {
		return errors.Join(errs...) // Validate reports an unknown adapter
	}
	var decode func(any) error
	if p, ok := secs[m.Adapter]; ok {
		decode = func(v any) error { return md.PrimitiveDecode(p, v) }
	}
	opts, err := convert.DecodeOptions(m.Adapter, decode)
	if err != nil {
		return fmt.Errorf("[%s]: %w", m.Adapter, err)
	}
	m.Options = opts
	return nil
}

// unknownKeys lists the keys of a document that neither decode used: md
// decoded the common fields, smd the adapter sections (the tables named
// after an adapter, depth keys down: 0 in a model.toml, 1 in a catalogue's
// [[model]]).
func unknownKeys(md, smd toml.MetaData, depth int) []string {
	var keys []string
	for _, k := range md.Undecoded() {
		if len(k) <= depth || !convert.Known(k[depth]) {
			keys = append(keys, k.String())
		}
	}
	for _, k := range smd.Undecoded() {
		if len(k) > depth+1 && convert.Known(k[depth]) {
			keys = append(keys, k.String())
		}
	}
	return keys
}

func (m *Manifest) setDefaults() {
	if len(m.Labels) == 0 {
		m.Labels = []string{"face"}
	}
	if len(m.Hide) == 0 {
		m.Hide = slices.Clone(m.Labels)
		if h, ok := m.Options.(convert.HideDefaulter); ok {
			if def := h.DefaultHide(m.Labels); len(def) > 0 {
				m.Hide = def
			}
		}
	}
	if m.License == "" {
		m.License = LicenseUnknown
	}
	if m.NMSIoU == 0 {
		m.NMSIoU = 0.4
	}
	if m.Threshold == 0 {
		m.Threshold = 0.5
	}
	in := &m.Input
	if in.DType == "" {
		in.DType = "float32"
	}
	if in.Layout == "" {
		in.Layout = "nchw"
	}
	if in.Colour == "" {
		in.Colour = "bgr"
	}
	if in.Fit == "" {
		in.Fit = "topleft"
	}
	if in.Multiple == 0 {
		in.Multiple = 1
	}
	if in.Std == [3]float32{} {
		in.Std = [3]float32{1, 1, 1}
	}
}

// Validate checks the common fields, then has the adapter check its
// options and what it needs of the rest (convert.NewDecoder); messages name
// the key.
func (m Manifest) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if m.Name == "" {
		bad("name: missing")
	}
	if m.Version == "" {
		bad("version: missing")
	}
	known := slices.Contains(convert.Adapters(), m.Adapter)
	switch {
	case m.Adapter == "":
		bad("adapter: missing (%s)", strings.Join(convert.Adapters(), ", "))
	case !known:
		bad("adapter: unknown %q (%s)", m.Adapter, strings.Join(convert.Adapters(), ", "))
	}
	for _, h := range m.Hide {
		if !slices.Contains(m.Labels, h) {
			bad("hide: label %q is not among labels %q", h, m.Labels)
		}
	}
	if m.Threshold < 0 || m.Threshold > 1 {
		bad("threshold: %g is outside [0, 1]", m.Threshold)
	}
	if m.NMSIoU < 0 || m.NMSIoU > 1 {
		bad("nms_iou: %g is outside [0, 1]", m.NMSIoU)
	}
	errs = append(errs, m.Input.validate()...)
	// The adapter checks its options and the rest of what it needs.
	if known && len(errs) == 0 {
		if _, err := m.NewDecoder(); err != nil {
			bad("%v", err)
		}
	}
	return errors.Join(errs...)
}

// validate checks the [input] fields; messages name the key.
func (in Input) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if in.Name == "" {
		bad("input.name: missing")
	}
	if in.DType != "float32" && in.DType != "uint8" {
		bad("input.dtype: %q (float32 or uint8)", in.DType)
	}
	if in.Layout != "nchw" && in.Layout != "nhwc" {
		bad("input.layout: %q (nchw or nhwc)", in.Layout)
	}
	if in.Colour != "bgr" && in.Colour != "rgb" {
		bad("input.colour: %q (bgr or rgb)", in.Colour)
	}
	switch in.Fit {
	case "topleft", "centre", "stretch":
	default:
		bad("input.fit: %q (topleft, centre or stretch)", in.Fit)
	}
	if in.Width < 0 || in.Height < 0 || (in.Width == 0) != (in.Height == 0) {
		bad("input.width, input.height: %d x %d (both 0 for any size, or both positive)", in.Width, in.Height)
	}
	if in.Multiple < 1 || in.MaxSide < 0 {
		bad("input.multiple, input.max_side: %d, %d", in.Multiple, in.MaxSide)
	}
	for c, s := range in.Std {
		if s == 0 {
			bad("input.std[%d]: must not be 0", c)
		}
	}
	if !convert.Interp(in.Interp).Valid() {
		bad("input.interp: %q (linear, area or cubic)", in.Interp)
	}
	return errs
}

// Preprocess is the frame-to-tensor conversion the manifest describes.
func (m Manifest) Preprocess() convert.Preprocess {
	in := m.Input
	p := convert.Preprocess{
		Width: in.Width, Height: in.Height, Multiple: in.Multiple, MaxSide: in.MaxSide,
		Layout: convert.Layout(in.Layout), RGB: in.Colour == "rgb",
		Mean: in.Mean, Std: in.Std, Fit: convert.Fit(in.Fit), Interp: convert.Interp(in.Interp),
	}
	if in.DType == "uint8" {
		p.DType = convert.Uint8
	}
	return p
}

// DecoderConfig is what every adapter's decoder needs from the manifest
// besides m.Options.
func (m Manifest) DecoderConfig() convert.Config {
	return convert.Config{InputW: m.Input.Width, InputH: m.Input.Height, Labels: m.Labels, LabelBase: m.LabelBase}
}

// NewDecoder builds the adapter's decoder from the manifest.
func (m Manifest) NewDecoder() (convert.Decoder, error) {
	return convert.NewDecoder(m.Adapter, m.DecoderConfig(), m.Options)
}

// manifestFields is Manifest without its methods, to embed in the
// struct types tomlValue builds.
type manifestFields Manifest

// tomlValue is m as the TOML encoder is to write it: the common fields,
// then those of extra (named struct types without methods, embedded, e.g.
// a catalogue entry's source), then the options under [ADAPTER]. The
// section's name is only known at run time, hence the struct type built
// here.
func (m Manifest) tomlValue(extra ...any) any {
	vals := append([]any{manifestFields(m)}, extra...)
	var fields []reflect.StructField
	for i, x := range vals {
		// Embedded (so the encoder writes their fields inline) under an
		// exported name (StructOf takes no unexported field).
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("Embedded%d", i), Type: reflect.TypeOf(x), Anonymous: true})
	}
	if m.Options != nil {
		vals = append(vals, m.Options)
		fields = append(fields, reflect.StructField{
			Name: "Options", Type: reflect.TypeOf(m.Options),
			Tag: reflect.StructTag(fmt.Sprintf(`toml:%q`, m.Adapter)),
		})
	}
	v := reflect.New(reflect.StructOf(fields)).Elem()
	for i, x := range vals {
		v.Field(i).Set(reflect.ValueOf(x))
	}
	return v.Interface()
}

// MarshalTOML writes the manifest as a model.toml, the adapter's options
// as its [ADAPTER] section.
func (m Manifest) MarshalTOML() ([]byte, error) {
	var b bytes.Buffer
	err := toml.NewEncoder(&b).Encode(m.tomlValue())
	return b.Bytes(), err
}
