package convert_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// fuzzModel is a real manifest and its decoder (with the output check
// NewDecoder wraps around every adapter).
type fuzzModel struct {
	man models.Manifest
	dec convert.Decoder
}

// fuzzModels are the builtin catalogue's models and the mock (the tfod
// adapter), one or more per registered adapter.
var fuzzModels = sync.OnceValues(func() ([]fuzzModel, error) {
	cat, err := models.BuiltinCatalog()
	if err != nil {
		return nil, err
	}
	mans := []models.Manifest{}
	for _, e := range cat.Models {
		mans = append(mans, e.Manifest)
	}
	m, err := models.ParseManifest([]byte(mock.Manifest), "mock")
	if err != nil {
		return nil, err
	}
	mans = append(mans, m)
	var out []fuzzModel
	for _, m := range mans {
		d, err := m.NewDecoder()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		out = append(out, fuzzModel{man: m, dec: d})
	}
	return out, nil
})

// zeros backs the outputs shapeFor tries.
var zeros = make([]float32, 1<<22)

// shapesMu guards shapes, the output shapes found per model and tensor
// size.
var (
	shapesMu sync.Mutex
	shapes   = map[string][][]int64{}
)

// shapesFor returns output shapes that fm's decoder accepts for lb: the
// contract's fixed dims, and for each dynamic one (-1) 1 for a leading
// batch dim, else the first row count whose all-zero output the decoder
// does not name in its error. A shape it finds nothing for keeps 1.
func shapesFor(fm fuzzModel, lb convert.Letterbox) [][]int64 {
	key := fmt.Sprintf("%s %dx%d", fm.man.Name, lb.DstW, lb.DstH)
	shapesMu.Lock()
	defer shapesMu.Unlock()
	if s, ok := shapes[key]; ok {
		return s
	}
	contract := fm.dec.Outputs()
	got := make([][]int64, len(contract))
	for i, c := range contract {
		got[i] = make([]int64, len(c.Shape))
		for k, d := range c.Shape {
			got[i][k] = max(d, 1)
		}
	}
	outs := func() []convert.Output {
		o := make([]convert.Output, len(contract))
		for i, c := range contract {
			o[i] = convert.Output{Name: c.Name, Shape: got[i], Data: zeros[:size(got[i])]}
		}
		return o
	}
	// The row dim of each output: its last dynamic dim after the batch.
	row := make([]int, len(contract))
	for i, c := range contract {
		row[i] = -1
		for k, d := range c.Shape {
			if d < 0 && k > 0 {
				row[i] = k
			}
		}
	}
	// Grow, one row at a time, the output the decoder's error names.
	tried := make([]int64, len(contract))
	for range 1 << 17 {
		_, err := fm.dec.Decode(outs(), lb, 0.5)
		if err == nil {
			break
		}
		j := -1
		for i, c := range contract {
			if row[i] >= 0 && strings.Contains(err.Error(), fmt.Sprintf("%q", c.Name)) {
				j = i
				break
			}
		}
		if j < 0 {
			break
		}
		// Most errors say the count they want: try it first.
		if n := wantCount(err.Error(), contract[j].Name); n > got[j][row[j]] && n != tried[j] {
			tried[j], got[j][row[j]] = n, n
			if size(got[j]) > len(zeros) {
				got[j][row[j]] = 1
				continue
			}
			if _, err2 := fm.dec.Decode(outs(), lb, 0.5); err2 != nil && strings.Contains(err2.Error(), fmt.Sprintf("%q", contract[j].Name)) {
				got[j][row[j]] = 1 // not the count of this dim
			}
			continue
		}
		got[j][row[j]]++
		if size(got[j]) > len(zeros) {
			got[j][row[j]] = 1
			break
		}
	}
	shapes[key] = got
	return got
}

// wantCount is the number after "want " following name's quoted name in
// a decoder's error message, or 0.
func wantCount(msg, name string) int64 {
	_, rest, ok := strings.Cut(msg, fmt.Sprintf("%q", name))
	if !ok {
		return 0
	}
	_, rest, ok = strings.Cut(rest, "want ")
	if !ok {
		return 0
	}
	var n int64
	for _, r := range rest {
		if r < '0' || r > '9' {
			break
		}
		n = 10*n + int64(r-'0')
	}
	return n
}

func size(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// FuzzDecoders feeds every adapter, built from a real manifest, outputs
// shaped per its contract (the sizes from the fuzz input, one of them off
// by a little when the input says so) holding values from the fuzz bytes:
// each 8 bytes are the index of a value (modulo the outputs' size) and its
// float32 bits, NaN and infinities included; the rest are 0. A decode must
// not panic, and either fail or give detections that are finite, ordered
// and inside the frame.
func FuzzDecoders(f *testing.F) {
	ms, err := fuzzModels()
	if err != nil {
		f.Fatal(err)
	}
	covered := map[string]bool{}
	for _, m := range ms {
		covered[m.man.Adapter] = true
	}
	for _, a := range convert.Adapters() {
		if !covered[a] {
			f.Fatalf("adapter %s has no manifest to fuzz", a)
		}
	}
	// The shapes of the models fed at a fixed size, found before fuzzing
	// (each input has a time limit).
	for _, m := range ms {
		if pre := m.man.Preprocess(); !pre.Dynamic() {
			shapesFor(m, pre.Plan(pre.Width, pre.Height))
		}
	}
	for i := range ms {
		var b []byte
		for k, v := range []float32{0.9, 0.1, 0.5, 0.5, 0.2, 0.2, float32(math.NaN()), float32(math.Inf(1)), 3, -3} {
			b = binary.LittleEndian.AppendUint32(b, uint32(k*7))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		f.Add(uint8(i), uint16(640), uint16(480), int8(0), uint8(0), 0.5, b)
		f.Add(uint8(i), uint16(97), uint16(301), int8(0), uint8(0), 0.3, b[:16])
	}
	f.Fuzz(func(t *testing.T, model uint8, srcW, srcH uint16, delta int8, which uint8, threshold float64, values []byte) {
		fm := ms[int(model)%len(ms)]
		// Up to 640 px; up to 160 for a model fed at the frame's own size,
		// whose shapes shapesFor finds anew for each tensor size.
		side := 640
		pre := fm.man.Preprocess()
		if pre.Dynamic() {
			side = 160
		}
		lb := pre.Plan(1+int(srcW)%side, 1+int(srcH)%side)
		shp := shapesFor(fm, lb)
		contract := fm.dec.Outputs()
		outs := make([]convert.Output, len(contract))
		total := 0
		for i, c := range contract {
			s := append([]int64(nil), shp[i]...)
			if i == int(which)%len(contract) && delta != 0 {
				k := len(s) - 1
				s[k] = max(0, s[k]+int64(delta%4))
			}
			outs[i] = convert.Output{Name: c.Name, Shape: s, Data: make([]float32, size(s))}
			total += len(outs[i].Data)
		}
		for ; len(values) >= 8 && total > 0; values = values[8:] {
			at := int(binary.LittleEndian.Uint32(values) % uint32(total))
			v := math.Float32frombits(binary.LittleEndian.Uint32(values[4:]))
			for i := range outs {
				if at < len(outs[i].Data) {
					outs[i].Data[at] = v
					break
				}
				at -= len(outs[i].Data)
			}
		}
		dets, err := fm.dec.Decode(outs, lb, float32(threshold))
		if err != nil {
			return
		}
		fw, fh := float32(lb.SrcW), float32(lb.SrcH)
		in := func(x, y float32) bool { return x >= 0 && x <= fw && y >= 0 && y <= fh }
		for _, d := range dets {
			b := d.Box
			if !finite(d.Score) || !finite(b.X1) || !finite(b.Y1) || !finite(b.X2) || !finite(b.Y2) {
				t.Fatalf("%s: detection %+v is not finite", fm.man.Name, d)
			}
			if b.X1 > b.X2 || b.Y1 > b.Y2 {
				t.Fatalf("%s: detection %+v has an inverted box", fm.man.Name, d)
			}
			if !in(b.X1, b.Y1) || !in(b.X2, b.Y2) {
				t.Fatalf("%s: detection %+v is outside the %dx%d frame", fm.man.Name, d, lb.SrcW, lb.SrcH)
			}
			for _, p := range d.Keypoints {
				if !finite(p.X) || !finite(p.Y) || !in(p.X, p.Y) {
					t.Fatalf("%s: detection %+v has a keypoint outside the frame", fm.man.Name, d)
				}
			}
		}
	})
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
