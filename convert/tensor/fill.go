// Package tensor fills model input tensors from gocv Mats, as a
// convert.Preprocess plans them: resize, channel order, normalisation and
// padding. It is the part of the conversion that links OpenCV, kept apart so
// that convert (and models, which validates manifests with it) does not.
// Nothing here owns C memory beyond the call: the scratch Mats of a fill are
// closed before it returns.
package tensor

import (
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// resized returns img resized as planned (ContentW x ContentH, 8-bit BGR),
// possibly img itself, and a func to release any Mat made.
func resized(p convert.Preprocess, img gocv.Mat, l convert.Letterbox) (gocv.Mat, func(), error) {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return gocv.Mat{}, nil, fmt.Errorf("preprocess: want a non-empty 8-bit BGR image, got type %v, %dx%d", img.Type(), img.Cols(), img.Rows())
	}
	if img.Cols() != l.SrcW || img.Rows() != l.SrcH {
		return gocv.Mat{}, nil, fmt.Errorf("preprocess: image is %dx%d, plan is for %dx%d", img.Cols(), img.Rows(), l.SrcW, l.SrcH)
	}
	if l.ContentW == l.SrcW && l.ContentH == l.SrcH {
		return img, func() {}, nil
	}
	interp, err := interpolation(p.Interp, l)
	if err != nil {
		return gocv.Mat{}, nil, err
	}
	r := gocv.NewMat()
	gocv.Resize(img, &r, image.Pt(l.ContentW, l.ContentH), 0, 0, interp)
	return r, func() { r.Close() }, nil
}

// pixels resizes img as planned and returns its BGR bytes (continuous,
// ContentH rows of ContentW*3), and a func to release any Mat made.
func pixels(p convert.Preprocess, img gocv.Mat, l convert.Letterbox) ([]byte, func(), error) {
	src, release, err := resized(p, img, l)
	if err != nil {
		return nil, nil, err
	}
	if !src.IsContinuous() {
		r := src.Clone()
		release()
		src = r
		release = func() { r.Close() }
	}
	b, err := src.DataPtrUint8()
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("preprocess: %w", err)
	}
	return b, release, nil
}

// FillFloat32 writes img, as p plans it, (8-bit BGR, SrcW x SrcH) into dst, which must hold
// Len(l) elements. Padding is the value a black pixel normalises to.
//
// OpenCV writes the content straight into dst, several times faster than a
// per-pixel Go loop and with the same floats as pixel*scale + offset in Go:
// convertTo where pixel*scale is exact for every 8-bit value (so that its
// fused multiply-add cannot round differently), else a LUT of the 256
// values computed here.
func FillFloat32(p convert.Preprocess, img gocv.Mat, l convert.Letterbox, dst []float32) error {
	n := p.Len(l)
	if len(dst) < n {
		return fmt.Errorf("preprocess: tensor holds %d values, need %d", len(dst), n)
	}
	dst = dst[:n]
	src, release, err := resized(p, img, l)
	if err != nil {
		return err
	}
	defer release()
	var norm [3]channelNorm
	for c := range 3 {
		sd := p.Std[c]
		if sd == 0 {
			sd = 1
		}
		norm[c] = newChannelNorm(1/sd, -p.Mean[c]/sd)
	}
	fillPadding(p, dst, l, [3]float32{norm[0].offset, norm[1].offset, norm[2].offset})
	content := image.Rect(int(l.PadX), int(l.PadY), int(l.PadX)+l.ContentW, int(l.PadY)+l.ContentH)
	if p.Layout == convert.NHWC {
		if p.RGB {
			rgb := gocv.NewMat()
			defer rgb.Close()
			gocv.CvtColor(src, &rgb, gocv.ColorBGRToRGB)
			src = rgb
		}
		roi, closeROI, err := tensorRegion(dst, l.DstW, l.DstH, gocv.MatTypeCV32FC3, content)
		if err != nil {
			return err
		}
		defer closeROI()
		if norm[0].exact && norm[1] == norm[0] && norm[2] == norm[0] {
			src.ConvertToWithParams(&roi, gocv.MatTypeCV32F, norm[0].scale, norm[0].offset)
			return nil
		}
		// One 3-channel table, in the tensor's channel order.
		var t [256 * 3]float32
		for v := range 256 {
			for c := range 3 {
				t[v*3+c] = norm[c].at(v)
			}
		}
		return lut(src, t[:], gocv.MatTypeCV32FC3, &roi)
	}
	planes := gocv.Split(src) // B, G, R
	defer func() {
		for _, m := range planes {
			m.Close()
		}
	}()
	if len(planes) != 3 {
		return fmt.Errorf("preprocess: split gave %d planes, want 3", len(planes))
	}
	// src channel for tensor channel c.
	ch := [3]int{0, 1, 2}
	if p.RGB {
		ch = [3]int{2, 1, 0}
	}
	plane := l.DstW * l.DstH
	for c := range 3 {
		err := func() error {
			roi, closeROI, err := tensorRegion(dst[c*plane:(c+1)*plane], l.DstW, l.DstH, gocv.MatTypeCV32F, content)
			if err != nil {
				return err
			}
			defer closeROI()
			if norm[c].exact {
				planes[ch[c]].ConvertToWithParams(&roi, gocv.MatTypeCV32F, norm[c].scale, norm[c].offset)
				return nil
			}
			var t [256]float32
			for v := range 256 {
				t[v] = norm[c].at(v)
			}
			return lut(planes[ch[c]], t[:], gocv.MatTypeCV32F, &roi)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// channelNorm is one channel's normalisation: value = pixel*scale + offset.
type channelNorm struct {
	scale, offset float32
	// exact: pixel*scale is exact in float32 for every 8-bit pixel, so a
	// fused multiply-add gives the same value as a multiply, then an add.
	exact bool
}

func newChannelNorm(scale, offset float32) channelNorm {
	n := channelNorm{scale: scale, offset: offset, exact: true}
	for v := range 256 {
		if float64(float32(v)*scale) != float64(v)*float64(scale) {
			n.exact = false
			break
		}
	}
	return n
}

// at is the value of pixel v.
func (n channelNorm) at(v int) float32 { return float32(v)*n.scale + n.offset }

// tensorRegion is a Mat over the content rectangle of dst, a w x h image
// of type mt, for OpenCV to write into without a copy; the func closes it.
func tensorRegion(dst []float32, w, h int, mt gocv.MatType, content image.Rectangle) (gocv.Mat, func(), error) {
	cn := 1
	if mt == gocv.MatTypeCV32FC3 {
		cn = 3
	}
	full, err := gocv.NewMatFromBytes(h, w, mt, floatBytes(dst[:w*h*cn]))
	if err != nil {
		return gocv.Mat{}, nil, fmt.Errorf("preprocess: %w", err)
	}
	roi := full.Region(content)
	return roi, func() { roi.Close(); full.Close() }, nil
}

// lut maps src through table (256 values of type mt) into dst. OpenCV
// writes in place only into a Mat of the size and type it would make, so
// that is checked first.
func lut(src gocv.Mat, table []float32, mt gocv.MatType, dst *gocv.Mat) error {
	if dst.Cols() != src.Cols() || dst.Rows() != src.Rows() || dst.Type() != mt || src.Channels() != len(table)/256 {
		return fmt.Errorf("preprocess: %dx%d image for a %dx%d tensor region", src.Cols(), src.Rows(), dst.Cols(), dst.Rows())
	}
	t, err := gocv.NewMatFromBytes(1, 256, mt, floatBytes(table))
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	defer t.Close()
	gocv.LUT(src, t, dst)
	return nil
}

// floatBytes is f's memory as bytes, for a Mat over it (gocv keeps f alive
// with the Mat).
func floatBytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4)
}

// fillPadding sets every tensor value outside the content rectangle to its
// channel's offset (black).
func fillPadding(p convert.Preprocess, dst []float32, l convert.Letterbox, offset [3]float32) {
	px0, py0 := int(l.PadX), int(l.PadY)
	px1, py1 := px0+l.ContentW, py0+l.ContentH
	plane := l.DstW * l.DstH
	fill := func(y, x0, x1 int) {
		if x0 >= x1 {
			return
		}
		if p.Layout == convert.NHWC {
			d := dst[(y*l.DstW+x0)*3 : (y*l.DstW+x1)*3]
			for i := 0; i < len(d); i += 3 {
				d[i], d[i+1], d[i+2] = offset[0], offset[1], offset[2]
			}
			return
		}
		for c := range 3 {
			d := dst[c*plane+y*l.DstW+x0 : c*plane+y*l.DstW+x1]
			for i := range d {
				d[i] = offset[c]
			}
		}
	}
	for y := range l.DstH {
		if y < py0 || y >= py1 {
			fill(y, 0, l.DstW)
			continue
		}
		fill(y, 0, px0)
		fill(y, px1, l.DstW)
	}
}

// FillUint8 writes img, as p plans it, into an 8-bit tensor (no normalisation; padding 0).
func FillUint8(p convert.Preprocess, img gocv.Mat, l convert.Letterbox, dst []uint8) error {
	if len(dst) < p.Len(l) {
		return fmt.Errorf("preprocess: tensor holds %d values, need %d", len(dst), p.Len(l))
	}
	px, release, err := pixels(p, img, l)
	if err != nil {
		return err
	}
	defer release()
	clear(dst[:p.Len(l)])
	ch := [3]int{0, 1, 2}
	if p.RGB {
		ch = [3]int{2, 1, 0}
	}
	plane := l.DstW * l.DstH
	px0, py0 := int(l.PadX), int(l.PadY)
	for y := 0; y < l.ContentH; y++ {
		row := px[y*l.ContentW*3 : (y+1)*l.ContentW*3]
		ty := y + py0
		for x := 0; x < l.ContentW; x++ {
			s := row[x*3 : x*3+3]
			i := ty*l.DstW + px0 + x
			if p.Layout == convert.NHWC {
				dst[i*3], dst[i*3+1], dst[i*3+2] = s[ch[0]], s[ch[1]], s[ch[2]]
			} else {
				dst[i], dst[plane+i], dst[2*plane+i] = s[ch[0]], s[ch[1]], s[ch[2]]
			}
		}
	}
	return nil
}

// interpolation is OpenCV's flag for i; InterpAuto is linear when
// enlarging, area when shrinking.
func interpolation(i convert.Interp, l convert.Letterbox) (gocv.InterpolationFlags, error) {
	switch i {
	case convert.InterpAuto:
		if l.ContentW < l.SrcW {
			return gocv.InterpolationArea, nil
		}
		return gocv.InterpolationLinear, nil
	case convert.InterpLinear:
		return gocv.InterpolationLinear, nil
	case convert.InterpArea:
		return gocv.InterpolationArea, nil
	case convert.InterpCubic:
		return gocv.InterpolationCubic, nil
	}
	return 0, fmt.Errorf("preprocess: unknown interpolation %q", i)
}
