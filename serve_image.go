package main

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

// imageFormat is an accepted encoding; its value is the MIME subtype.
type imageFormat string

const (
	formatJPEG imageFormat = "jpeg"
	formatPNG  imageFormat = "png"
	formatWebP imageFormat = "webp"
	formatBMP  imageFormat = "bmp"
	formatTIFF imageFormat = "tiff"
)

// contentType is the MIME type of the format.
func (f imageFormat) contentType() string { return "image/" + string(f) }

// ext is the file extension imageio.Encode writes the format for.
func (f imageFormat) ext() string {
	switch f {
	case formatJPEG:
		return ".jpg"
	case formatTIFF:
		return ".tiff"
	}
	return "." + string(f)
}

// acceptedFormats lists the formats for messages.
const acceptedFormats = "JPEG, PNG, WebP, BMP or TIFF"

// formatOfMIME maps a declared Content-Type (lower case, without
// parameters) to a format; ok is false for image types not accepted.
func formatOfMIME(mt string) (imageFormat, bool) {
	switch mt {
	case "image/jpeg", "image/jpg", "image/pjpeg":
		return formatJPEG, true
	case "image/png", "image/x-png":
		return formatPNG, true
	case "image/webp":
		return formatWebP, true
	case "image/bmp", "image/x-bmp", "image/x-ms-bmp":
		return formatBMP, true
	case "image/tiff", "image/tiff-fx":
		return formatTIFF, true
	}
	return "", false
}

// sniffFormat recognises data by its signature ("" when none matches).
func sniffFormat(b []byte) imageFormat {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return formatJPEG
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return formatPNG
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return formatWebP
	case len(b) >= 2 && string(b[:2]) == "BM":
		return formatBMP
	case len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*"):
		return formatTIFF
	}
	return ""
}

// errHeader means the header is damaged or cut short: the data says it is
// an image of a format but does not say how big.
var errHeader = errors.New("damaged image header")

// imageSize reads the width and height of data in format f from its
// header, without decoding any pixels.
func imageSize(f imageFormat, b []byte) (w, h int, err error) {
	switch f {
	case formatJPEG:
		w, h, err = jpegSize(b)
	case formatPNG:
		w, h, err = pngSize(b)
	case formatWebP:
		w, h, err = webpSize(b)
	case formatBMP:
		w, h, err = bmpSize(b)
	case formatTIFF:
		w, h, err = tiffSize(b)
	default:
		return 0, 0, fmt.Errorf("unsupported format %q", f)
	}
	if err == nil && (w <= 0 || h <= 0) {
		err = fmt.Errorf("%w: %s declares a %dx%d image", errHeader, f, w, h)
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
			return 0, 0, fmt.Errorf("%w: JPEG ends before its frame header", errHeader)
		}
		code := b[i]
		i++
		switch {
		case code == 0x01 || (code >= 0xD0 && code <= 0xD7):
			continue // no length field
		case code == 0xD9 || code == 0xDA:
			return 0, 0, fmt.Errorf("%w: JPEG has no frame header before its image data", errHeader)
		}
		if i+2 > len(b) {
			return 0, 0, fmt.Errorf("%w: JPEG ends inside a marker", errHeader)
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		if n < 2 {
			return 0, 0, fmt.Errorf("%w: JPEG marker of length %d", errHeader, n)
		}
		// SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC).
		if code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC {
			if i+7 > len(b) || n < 7 {
				return 0, 0, fmt.Errorf("%w: JPEG frame header cut short", errHeader)
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
		return 0, 0, fmt.Errorf("%w: PNG without an IHDR chunk", errHeader)
	}
	w, h := binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
	if w > 1<<31-1 || h > 1<<31-1 {
		return 0, 0, fmt.Errorf("%w: PNG size %dx%d", errHeader, w, h)
	}
	return int(w), int(h), nil
}

func webpSize(b []byte) (int, int, error) {
	if len(b) < 30 {
		return 0, 0, fmt.Errorf("%w: WebP cut short", errHeader)
	}
	d := b[20:]
	switch string(b[12:16]) {
	case "VP8 ": // lossy: frame tag, start code, 14-bit sizes
		if d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A {
			return 0, 0, fmt.Errorf("%w: WebP VP8 start code missing", errHeader)
		}
		return int(binary.LittleEndian.Uint16(d[6:]) & 0x3FFF), int(binary.LittleEndian.Uint16(d[8:]) & 0x3FFF), nil
	case "VP8L": // lossless: signature, then 14-bit sizes minus one
		if d[0] != 0x2F {
			return 0, 0, fmt.Errorf("%w: WebP VP8L signature missing", errHeader)
		}
		bits := binary.LittleEndian.Uint32(d[1:])
		return int(bits&0x3FFF) + 1, int(bits>>14&0x3FFF) + 1, nil
	case "VP8X": // extended: 24-bit canvas sizes minus one
		le24 := func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }
		return le24(d[4:]) + 1, le24(d[7:]) + 1, nil
	}
	return 0, 0, fmt.Errorf("%w: WebP chunk %q", errHeader, b[12:16])
}

func bmpSize(b []byte) (int, int, error) {
	if len(b) < 26 {
		return 0, 0, fmt.Errorf("%w: BMP cut short", errHeader)
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
		return 0, 0, fmt.Errorf("%w: TIFF cut short", errHeader)
	}
	off := int64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > int64(len(b)) {
		return 0, 0, fmt.Errorf("%w: TIFF directory outside the data", errHeader)
	}
	n := int64(bo.Uint16(b[off:]))
	w, h := -1, -1
	for e := off + 2; e < off+2+12*n; e += 12 {
		if e+12 > int64(len(b)) {
			return 0, 0, fmt.Errorf("%w: TIFF directory cut short", errHeader)
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
		return 0, 0, fmt.Errorf("%w: TIFF without ImageWidth and ImageLength", errHeader)
	}
	return w, h, nil
}
