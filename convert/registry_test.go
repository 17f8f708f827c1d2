package convert

import (
	"slices"
	"strings"
	"testing"
)

// testCfg is every adapter's settings in one struct, for the table-driven
// decoder tests; newDec splits it into the Config and the options of
// Adapter.
type testCfg struct {
	Adapter                  string
	InputW, InputH           int
	Labels                   []string
	LabelBase                int
	Strides                  []int
	Anchors                  []AnchorLayer
	ScoreOutputs, BoxOutputs []string
	PriorSteps               []int
	PriorMinSizes            [][]float32
	Variances                []float32
	PersonRegion             string
}

func withAdapter(a string, c testCfg) testCfg { c.Adapter = a; return c }

// newDec builds c.Adapter's decoder through the registry.
func newDec(c testCfg) (Decoder, error) {
	cfg := Config{InputW: c.InputW, InputH: c.InputH, Labels: c.Labels, LabelBase: c.LabelBase}
	p := PriorOptions{Steps: c.PriorSteps, MinSizes: c.PriorMinSizes, Variances: c.Variances}
	var o Options
	switch c.Adapter {
	case "yunet":
		o = YuNetOptions{Strides: c.Strides}
	case "blazeface":
		o = BlazeFaceOptions{Anchors: c.Anchors, Scores: c.ScoreOutputs, Boxes: c.BoxOutputs}
	case "retinaface":
		o = RetinaFaceOptions(p)
	case "lpd_yunet":
		o = LPDYuNetOptions(p)
	case "nanodet":
		o = NanoDetOptions{Scores: c.ScoreOutputs, Boxes: c.BoxOutputs, Strides: c.Strides, PersonRegion: c.PersonRegion}
	}
	return NewDecoder(c.Adapter, cfg, o)
}

func TestRegistry(t *testing.T) {
	want := []string{"blazeface", "lpd_yunet", "mpface", "nanodet", "retinaface", "scrfd", "tfod", "ultraface", "yolov5face", "yunet"}
	if got := Adapters(); !slices.Equal(got, want) {
		t.Errorf("Adapters() = %q, want %q", got, want)
	}
	for _, a := range want {
		opts, err := DecodeOptions(a, nil)
		if err != nil || opts == nil {
			t.Errorf("%s: zero options %v, %v", a, opts, err)
		}
	}
	if _, err := DecodeOptions("ssd", nil); err == nil || !strings.Contains(err.Error(), "known: blazeface") {
		t.Errorf("DecodeOptions(ssd): error %v, want one listing the known adapters", err)
	}
	// Options of another adapter are refused, not reinterpreted.
	if _, err := NewDecoder("yunet", Config{}, NanoDetOptions{}); err == nil || !strings.Contains(err.Error(), "options of type") {
		t.Errorf("nanodet options for yunet: error %v", err)
	}
	// A nil Options is the zero options.
	if _, err := NewDecoder("tfod", Config{}, nil); err != nil {
		t.Errorf("tfod with nil options: %v", err)
	}
}

func TestNewDecoderUnknown(t *testing.T) {
	if _, err := newDec(testCfg{Adapter: "ssd"}); err == nil || !strings.Contains(err.Error(), `"ssd"`) {
		t.Fatalf("error %v, want one naming the adapter", err)
	}
}

func TestNewDecoderKnowsEveryAdapter(t *testing.T) {
	for _, a := range Adapters() {
		_, err := newDec(testCfg{Adapter: a})
		if err != nil && strings.Contains(err.Error(), "unknown adapter") {
			t.Errorf("adapter %q: %v", a, err)
		}
	}
	_, err := newDec(testCfg{Adapter: "ssd"})
	if err == nil || !strings.Contains(err.Error(), "lpd_yunet") || !strings.Contains(err.Error(), "nanodet") {
		t.Errorf("unknown adapter: error %v, want one listing the known adapters", err)
	}
}
