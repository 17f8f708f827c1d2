package convert

import (
	"errors"
	"math"
	"testing"
)

// TestDecodeFailsClosed: outputs no working detector produces are an
// ErrInvalidOutput, for every adapter (issue #11 item 3), never zero
// detections.
func TestDecodeFailsClosed(t *testing.T) {
	inf := float32(math.Inf(1))
	yunet, _ := newDec(testCfg{Adapter: "yunet"})
	tfod, _ := newDec(testCfg{Adapter: "tfod", Labels: []string{"face", "plate"}, LabelBase: 1})
	ultra, _ := newDec(testCfg{Adapter: "ultraface"})
	nano, _ := newDec(nanoCfg)
	allNaN := func(outs []Output) []Output {
		for _, o := range outs {
			for i := range o.Data {
				o.Data[i] = nan
			}
		}
		return outs
	}
	// tfodWith is tfodOutputsFor(num) with row 0 given score and box.
	tfodWith := func(num, score float32, box [4]float32) []Output {
		outs := tfodOutputsFor(num)
		outs[1].Data[0] = score
		copy(outs[0].Data[0:4], box[:])
		return outs
	}
	tests := []struct {
		name string
		dec  Decoder
		outs []Output
		lb   Letterbox
	}{
		{"yunet all NaN", yunet, allNaN(yunetOutputs()), yunetLB},
		{"yunet box overflows to Inf", yunet, func() []Output {
			o := yunetOutputs()
			// Anchor 0 of stride 8 (outputs cls_8, obj_8, bbox_8) scores 1
			// with dw 200: exp(200) overflows float32 to Inf.
			o[0].Data[0], o[3].Data[0], o[6].Data[2] = 1, 1, 200
			return o
		}(), yunetLB},
		{"tfod all NaN", tfod, allNaN(tfodOutputsFor(3)), tfodLB},
		{"tfod NaN scores", tfod, func() []Output { o := tfodOutputsFor(3); o[1].Data[1] = nan; return o }(), tfodLB},
		{"tfod NaN num_detections", tfod, tfodOutputsFor(nan), tfodLB},
		{"tfod num_detections -1", tfod, tfodOutputsFor(-1), tfodLB},
		{"tfod num_detections past the rows", tfod, tfodOutputsFor(99), tfodLB},
		{"tfod NaN box, score 1", tfod, tfodWith(3, 1, [4]float32{nan, nan, nan, nan}), tfodLB},
		{"tfod Inf box, score 1", tfod, tfodWith(3, 1, [4]float32{0, 0, inf, 1}), tfodLB},
		{"tfod inverted box [1,1,0,0], score 1", tfod, tfodWith(3, 1, [4]float32{1, 1, 0, 0}), tfodLB},
		{"tfod box far outside, score 1", tfod, tfodWith(3, 1, [4]float32{100, 100, 101, 101}), tfodLB},
		{"ultraface NaN score", ultra, func() []Output { o := ultraOutputs(); o[0].Data[9] = nan; return o }(), ultraLB},
		{"nanodet NaN class score", nano, func() []Output { o := nanoOutputs(); o[0].Data[3] = nan; return o }(), nanoLB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := tc.dec.Decode(tc.outs, tc.lb, 0.5)
			if !errors.Is(err, ErrInvalidOutput) {
				t.Fatalf("error %v (detections %v), want ErrInvalidOutput", err, dets)
			}
		})
	}
}

// TestDecodeClipsChecked: a box that reaches a little outside the frame is
// valid, and comes back clipped, keypoints too.
func TestDecodeClipsChecked(t *testing.T) {
	d, _ := newDec(testCfg{Adapter: "tfod", Labels: []string{"face"}, LabelBase: 1})
	outs := tfodOutputsFor(1)
	copy(outs[0].Data[0:4], []float32{-0.2, -0.1, 1.3, 1.2}) // ymin, xmin, ymax, xmax
	dets, err := d.Decode(outs, tfodLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || dets[0].Box != (Box{0, 0, 400, 160}) {
		t.Fatalf("detections %v, want one box clipped to the 400x160 frame", dets)
	}
	y, _ := newDec(testCfg{Adapter: "yunet"})
	ydets, err := y.Decode(yunetOutputs(), yunetLB, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ydets {
		for _, p := range d.Keypoints {
			if p.X < 0 || p.Y < 0 || p.X > float32(yunetLB.SrcW) || p.Y > float32(yunetLB.SrcH) {
				t.Errorf("keypoint %v outside the %dx%d frame", p, yunetLB.SrcW, yunetLB.SrcH)
			}
		}
	}
}
