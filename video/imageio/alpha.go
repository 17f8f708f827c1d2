package imageio

import (
	"encoding/binary"
	"fmt"
	"strings"

	"gocv.io/x/gocv"
)

// Images with an alpha channel (PNG with alpha, WebP with alpha) keep it:
// the colour channels are anonymized as BGR, and the alpha channel is put
// back untouched when the image is encoded to a format that has one (PNG,
// WebP, TIFF). A 16-bit PNG comes out 8-bit.

// hasAlpha reports whether the header of data in format f declares an
// alpha channel.
func hasAlpha(f Format, data []byte) bool {
	switch f {
	case PNG: // IHDR colour type 4 (grey + alpha) or 6 (RGBA)
		return len(data) > 25 && (data[25] == 4 || data[25] == 6)
	case WebP:
		if len(data) < 30 {
			return false
		}
		switch string(data[12:16]) {
		case "VP8X":
			return data[20]&0x10 != 0
		case "VP8L": // 14 bits width-1, 14 bits height-1, then alpha_is_used
			return len(data) >= 25 && binary.LittleEndian.Uint32(data[21:25])>>28&1 == 1
		}
	}
	return false
}

// ReadAlphaMax is ReadMax that also returns the image's alpha channel
// (8-bit, one channel) when it has one, else an empty Mat. The caller
// closes both; on error neither is allocated (and neither needs closing).
func ReadAlphaMax(path string, maxPixels int64) (bgr, alpha gocv.Mat, err error) {
	data, err := readImageFile(path)
	if err != nil {
		return gocv.Mat{}, gocv.Mat{}, err
	}
	return DecodeAlphaMax(data, maxPixels)
}

// DecodeAlphaMax is DecodeMax that also returns the alpha channel (see
// ReadAlphaMax). An image without one decodes exactly as DecodeMax does
// (EXIF orientation applied).
func DecodeAlphaMax(data []byte, maxPixels int64) (bgr, alpha gocv.Mat, err error) {
	f, _, _, err := Check(data, maxPixels)
	if err != nil {
		m, err := DecodeMax(data, maxPixels) // its error, as DecodeMax words it
		return m, gocv.Mat{}, err
	}
	if !hasAlpha(f, data) {
		return colourOnly(data)
	}
	m, err := gocv.IMDecode(withoutICCP(data), gocv.IMReadUnchanged)
	if err != nil || m.Empty() || m.Channels() != 4 {
		m.Close() // not as its header says: decode as colour alone
		return colourOnly(data)
	}
	defer m.Close()
	if m.Type() != gocv.MatTypeCV8UC4 { // 16-bit: scaled to 8
		m8 := gocv.NewMat()
		m.ConvertToWithParams(&m8, gocv.MatTypeCV8UC4, 1.0/257, 0)
		m.Close()
		m = m8
	}
	bgr, alpha = gocv.NewMat(), gocv.NewMat()
	gocv.CvtColor(m, &bgr, gocv.ColorBGRAToBGR)
	gocv.ExtractChannel(m, &alpha, 3)
	return bgr, alpha, nil
}

// colourOnly decodes checked data as DecodeMax does, with an empty alpha
// Mat (to be closed like any other) beside it.
func colourOnly(data []byte) (bgr, alpha gocv.Mat, err error) {
	bgr, err = decodeColour(data)
	if err != nil {
		return gocv.Mat{}, gocv.Mat{}, err
	}
	return bgr, gocv.NewMat(), nil
}

// EncodeAlpha encodes bgr as Encode does, with alpha (when not empty) put
// back as its fourth channel for the formats that keep one (PNG, WebP,
// TIFF); a JPEG or BMP output has none.
func EncodeAlpha(bgr, alpha gocv.Mat, ext string, quality int) ([]byte, error) {
	fe, ok := imageExts[strings.ToLower(ext)]
	if alpha.Empty() || !ok || (fe != ".png" && fe != ".webp" && fe != ".tiff") {
		return Encode(bgr, ext, quality)
	}
	if alpha.Rows() != bgr.Rows() || alpha.Cols() != bgr.Cols() {
		return nil, fmt.Errorf("encode %s: alpha is %dx%d, the image %dx%d", ext, alpha.Cols(), alpha.Rows(), bgr.Cols(), bgr.Rows())
	}
	bgra := gocv.NewMat()
	defer bgra.Close()
	gocv.CvtColor(bgr, &bgra, gocv.ColorBGRToBGRA)
	gocv.InsertChannel(alpha, &bgra, 3)
	return Encode(bgra, ext, quality)
}
