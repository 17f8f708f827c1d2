package imageio

// Image formats the service accepts, recognised by their first bytes, and
// their pixel size read from the header alone: a request is measured before
// any decoder sees it, so a small file that declares a huge image (a
// decompression bomb) is refused without allocating its pixels. Data in any
// other format never reaches OpenCV, whose decoders cover far more formats
// (and far more code) than the service needs.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Format is an accepted encoding; its value is the MIME subtype.
type Format string

const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
	BMP  Format = "bmp"
	TIFF Format = "tiff"
)

// ContentType is the MIME type of the format.
func (f Format) ContentType() string { return "image/" + string(f) }

// Ext is the file extension video.EncodeImage writes the format for.
func (f Format) Ext() string {
	switch f {
	case JPEG:
		return ".jpg"
	case TIFF:
		return ".tiff"
	}
	return "." + string(f)
}

// Accepted lists the formats for messages.
const Accepted = "JPEG, PNG, WebP, BMP or TIFF"

// FormatOfMIME maps a declared Content-Type (lower case, without
// parameters) to a format; ok is false for image types not accepted.
func FormatOfMIME(mt string) (Format, bool) {
	switch mt {
	case "image/jpeg", "image/jpg", "image/pjpeg":
		return JPEG, true
	case "image/png", "image/x-png":
		return PNG, true
	case "image/webp":
		return WebP, true
	case "image/bmp", "image/x-bmp", "image/x-ms-bmp":
		return BMP, true
	case "image/tiff", "image/tiff-fx":
		return TIFF, true
	}
	return "", false
}

// Sniff recognises data by its signature ("" when none matches).
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return JPEG
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return PNG
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP
	case len(b) >= 2 && string(b[:2]) == "BM":
		return BMP
	case len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*"):
		return TIFF
	}
	return ""
}

// ErrHeader means the header is damaged or cut short: the data says it is
// an image of a format but does not say how big.
var ErrHeader = errors.New("damaged image header")

// Size reads the width and height of data in format f from its
// header, without decoding any pixels.
func Size(f Format, b []byte) (w, h int, err error) {
	switch f {
	case JPEG:
		w, h, err = jpegSize(b)
	case PNG:
		w, h, err = pngSize(b)
	case WebP:
		w, h, err = webpSize(b)
	case BMP:
		w, h, err = bmpSize(b)
	case TIFF:
		w, h, err = tiffSize(b)
	default:
		return 0, 0, fmt.Errorf("unsupported format %q", f)
	}
	if err == nil && (w <= 0 || h <= 0) {
		err = fmt.Errorf("%w: %s declares a %dx%d image", ErrHeader, f, w, h)
	}
	return w, h, err
}

// jpegSize walks the marker segments up to the first start-of-frame.
func jpegSize(b []byte) (int, int, error) {
	i := 2
	for {
		for i < len(b) && b[i] != 0xFF {
			i++
		}
		for i < len(b) && b[i] == 0xFF {
			i++
		}
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: JPEG ends before its frame header", ErrHeader)
		}
		code := b[i]
		i++
		switch {
		case code == 0x01 || (code >= 0xD0 && code <= 0xD7):
			continue // no length field
		case code == 0xD9 || code == 0xDA:
			return 0, 0, fmt.Errorf("%w: JPEG has no frame header before its image data", ErrHeader)
		}
		if i+2 > len(b) {
			return 0, 0, fmt.Errorf("%w: JPEG ends inside a marker", ErrHeader)
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		if n < 2 {
			return 0, 0, fmt.Errorf("%w: JPEG marker of length %d", ErrHeader, n)
		}
		// SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC).
		if code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC {
			if i+7 > len(b) || n < 7 {
				return 0, 0, fmt.Errorf("%w: JPEG frame header cut short", ErrHeader)
			}
			h := int(binary.BigEndian.Uint16(b[i+3:]))
			w := int(binary.BigEndian.Uint16(b[i+5:]))
			return w, h, nil
		}
		i += n
	}
}

func pngSize(b []byte) (int, int, error) {
	// Signature, then the IHDR chunk: length 13, "IHDR", width, height.
	if len(b) < 24 || string(b[12:16]) != "IHDR" {
		return 0, 0, fmt.Errorf("%w: PNG without an IHDR chunk", ErrHeader)
	}
	w, h := binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
	if w > 1<<31-1 || h > 1<<31-1 {
		return 0, 0, fmt.Errorf("%w: PNG size %dx%d", ErrHeader, w, h)
	}
	return int(w), int(h), nil
}

func webpSize(b []byte) (int, int, error) {
	if len(b) < 30 {
		return 0, 0, fmt.Errorf("%w: WebP cut short", ErrHeader)
	}
	d := b[20:]
	switch string(b[12:16]) {
	case "VP8 ": // lossy: frame tag, start code, 14-bit sizes
		if d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A {
			return 0, 0, fmt.Errorf("%w: WebP VP8 start code missing", ErrHeader)
		}
		return int(binary.LittleEndian.Uint16(d[6:]) & 0x3FFF), int(binary.LittleEndian.Uint16(d[8:]) & 0x3FFF), nil
	case "VP8L": // lossless: signature, then 14-bit sizes minus one
		if d[0] != 0x2F {
			return 0, 0, fmt.Errorf("%w: WebP VP8L signature missing", ErrHeader)
		}
		bits := binary.LittleEndian.Uint32(d[1:])
		return int(bits&0x3FFF) + 1, int(bits>>14&0x3FFF) + 1, nil
	case "VP8X": // extended: 24-bit canvas sizes minus one
		le24 := func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }
		return le24(d[4:]) + 1, le24(d[7:]) + 1, nil
	}
	return 0, 0, fmt.Errorf("%w: WebP chunk %q", ErrHeader, b[12:16])
}

func bmpSize(b []byte) (int, int, error) {
	if len(b) < 26 {
		return 0, 0, fmt.Errorf("%w: BMP cut short", ErrHeader)
	}
	var w, h int
	if binary.LittleEndian.Uint32(b[14:]) == 12 { // OS/2 BITMAPCOREHEADER
		w, h = int(binary.LittleEndian.Uint16(b[18:])), int(binary.LittleEndian.Uint16(b[20:]))
	} else {
		w, h = int(int32(binary.LittleEndian.Uint32(b[18:]))), int(int32(binary.LittleEndian.Uint32(b[22:])))
	}
	if h < 0 { // top-down rows
		h = -h
	}
	return w, h, nil
}

// tiffSize reads ImageWidth and ImageLength of the first image (the one
// OpenCV decodes).
func tiffSize(b []byte) (int, int, error) {
	var bo binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		bo = binary.BigEndian
	}
	if len(b) < 8 {
		return 0, 0, fmt.Errorf("%w: TIFF cut short", ErrHeader)
	}
	off := int64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > int64(len(b)) {
		return 0, 0, fmt.Errorf("%w: TIFF directory outside the data", ErrHeader)
	}
	n := int64(bo.Uint16(b[off:]))
	w, h := -1, -1
	for e := off + 2; e < off+2+12*n; e += 12 {
		if e+12 > int64(len(b)) {
			return 0, 0, fmt.Errorf("%w: TIFF directory cut short", ErrHeader)
		}
		tag, typ := bo.Uint16(b[e:]), bo.Uint16(b[e+2:])
		var v int
		switch typ {
		case 3: // SHORT, left-justified in the value field
			v = int(bo.Uint16(b[e+8:]))
		case 4: // LONG
			v = int(bo.Uint32(b[e+8:]))
		default:
			continue
		}
		switch tag {
		case 256:
			w = v
		case 257:
			h = v
		}
	}
	if w < 0 || h < 0 {
		return 0, 0, fmt.Errorf("%w: TIFF without ImageWidth and ImageLength", ErrHeader)
	}
	return w, h, nil
}

// ErrAnimated means an image holds several frames or pages (an animated
// PNG, a multi-page TIFF): only still images are anonymized, and keeping
// the first frame alone would drop the others silently.
var ErrAnimated = errors.New("several frames or pages")

// singleFrame reports an image of format f that holds more than one frame
// or page: an APNG (an acTL chunk before the image data) or a TIFF whose
// first directory links to a next one.
func singleFrame(f Format, b []byte) error {
	switch f {
	case PNG:
		for i := 8; i+8 <= len(b); {
			n := int(binary.BigEndian.Uint32(b[i:]))
			switch string(b[i+4 : i+8]) {
			case "acTL":
				return fmt.Errorf("%w: an animated PNG (APNG); convert it to a video, or split its frames, to anonymize every one", ErrAnimated)
			case "IDAT", "IEND":
				return nil
			}
			if n < 0 || n > len(b) {
				return nil // the size check has passed: the rest is the decoder's
			}
			i += 12 + n
		}
	case TIFF:
		var bo binary.ByteOrder = binary.LittleEndian
		if b[0] == 'M' {
			bo = binary.BigEndian
		}
		off := int64(bo.Uint32(b[4:]))
		n := int64(bo.Uint16(b[off:]))
		if next := off + 2 + 12*n; next+4 <= int64(len(b)) && bo.Uint32(b[next:]) != 0 {
			return fmt.Errorf("%w: a multi-page TIFF; split its pages to anonymize every one", ErrAnimated)
		}
	}
	return nil
}
