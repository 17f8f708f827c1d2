// Package imageio reads and decodes still images into 8-bit BGR Mats (EXIF
// orientation applied, no metadata kept) and encodes them, reads the format
// and pixel size of an image from its header alone (header.go), tells
// images and videos apart by extension.
package imageio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"
)

// imageExts are the still-image formats read and written (lower case).
var imageExts = map[string]gocv.FileExt{
	".jpg": ".jpg", ".jpeg": ".jpg", ".png": ".png", ".bmp": ".bmp",
	".tif": ".tiff", ".tiff": ".tiff", ".webp": ".webp",
}

// videoExts are video containers (handled by the video pipeline).
var videoExts = map[string]bool{".mp4": true, ".mov": true, ".mkv": true, ".avi": true, ".webm": true, ".m4v": true}

// IsImage reports whether path has an image extension.
func IsImage(path string) bool {
	_, ok := imageExts[strings.ToLower(filepath.Ext(path))]
	return ok
}

// IsVideo reports whether path has a video extension.
func IsVideo(path string) bool { return videoExts[strings.ToLower(filepath.Ext(path))] }

// ErrDecode means a file could not be decoded as an image.
var ErrDecode = errors.New("not a readable image")

// ErrTooManyPixels means an image's header declares more pixels than the
// cap it is read under (max_pixels): it is refused before any decoder
// allocates them.
var ErrTooManyPixels = errors.New("too many pixels")

// DefaultMaxPixels is the pixel cap of Read and Decode: the default of the
// max_pixels setting.
const DefaultMaxPixels = 50_000_000

// OpenCV's own limits (CV_IO_MAX_IMAGE_PIXELS, and 2^20 a side, checked in
// validateInputImageSize). Over them, imdecode throws a C++ exception that
// nothing catches across cgo: the whole process aborts. No cap passes them.
const (
	openCVMaxPixels = 1 << 30
	openCVMaxSide   = 1 << 20
)

// maxImageBytes caps the size of an image file read into memory.
const maxImageBytes = 512 << 20

// Read reads and decodes an image file into an 8-bit BGR Mat (EXIF
// orientation applied), capped at DefaultMaxPixels. The caller closes the
// Mat; on error no Mat is allocated and there is nothing to close.
func Read(path string) (gocv.Mat, error) { return ReadMax(path, DefaultMaxPixels) }

// ReadMax is Read with a cap on the image's width x height (maxPixels;
// 0 or less: DefaultMaxPixels), checked in the header before any pixel
// is decoded.
func ReadMax(path string, maxPixels int64) (gocv.Mat, error) {
	data, err := readImageFile(path)
	if err != nil {
		return gocv.Mat{}, err
	}
	return DecodeMax(data, maxPixels)
}

// readImageFile reads the image file at path, refusing one over
// maxImageBytes before reading it.
func readImageFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxImageBytes {
		return nil, fmt.Errorf("%w: file is %d bytes, over the %d-byte limit", ErrDecode, st.Size(), maxImageBytes)
	}
	return os.ReadFile(path)
}

// Decode decodes encoded image bytes into an 8-bit BGR Mat (EXIF
// orientation applied), capped at DefaultMaxPixels; on error no Mat is
// allocated.
func Decode(data []byte) (gocv.Mat, error) { return DecodeMax(data, DefaultMaxPixels) }

// DecodeMax is Decode with a cap on the image's width x height (maxPixels;
// 0 or less: DefaultMaxPixels).
func DecodeMax(data []byte, maxPixels int64) (gocv.Mat, error) {
	if len(data) == 0 {
		return gocv.Mat{}, fmt.Errorf("%w: empty file", ErrDecode)
	}
	if _, _, _, err := Check(data, maxPixels); err != nil {
		return gocv.Mat{}, err
	}
	return decodeColour(data)
}

// decodeColour is DecodeMax after Check has passed.
func decodeColour(data []byte) (gocv.Mat, error) {
	if isJPEG(data) && jpegTruncated(data) {
		return gocv.Mat{}, fmt.Errorf("%w: truncated JPEG (the data ends before the end-of-image marker)", ErrDecode)
	}
	m, err := gocv.IMDecode(withoutICCP(data), gocv.IMReadColor)
	if err != nil {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: corrupt or unsupported data", ErrDecode)
	}
	return m, nil
}

// Check is what DecodeMax asks of data before OpenCV sees it: its format
// from its signature (one of Accepted: OpenCV's other decoders are never
// reached) and its width and height from its header, at most maxPixels
// (0 or less: DefaultMaxPixels) and within OpenCV's own limits. Errors wrap
// ErrDecode, and ErrTooManyPixels for a size over the cap.
func Check(data []byte, maxPixels int64) (f Format, w, h int, err error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if f = Sniff(data); f == "" {
		return "", 0, 0, fmt.Errorf("%w: not an image in a supported format (%s)", ErrDecode, Accepted)
	}
	if w, h, err = Size(f, data); err != nil {
		return f, 0, 0, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if err := singleFrame(f, data); err != nil {
		return f, w, h, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	px := int64(w) * int64(h)
	switch {
	case px > maxPixels:
		return f, w, h, fmt.Errorf("%w: %w: %dx%d %s (%d pixels) is over the %d-pixel limit (max_pixels)", ErrDecode, ErrTooManyPixels, w, h, f, px, maxPixels)
	case px > openCVMaxPixels || w > openCVMaxSide || h > openCVMaxSide:
		return f, w, h, fmt.Errorf("%w: %w: %dx%d %s is over the limits of OpenCV's decoder (%d pixels, %d a side)", ErrDecode, ErrTooManyPixels, w, h, f, openCVMaxPixels, openCVMaxSide)
	}
	return f, w, h, nil
}

func isJPEG(data []byte) bool { return len(data) >= 2 && data[0] == 0xFF && data[1] == 0xD8 }

// jpegTruncated reports whether JPEG data ends before its end-of-image
// marker. OpenCV's decoder does not report this: it returns the whole frame,
// the rows after the cut made up from the last block it could decode, so a
// cut-off download would otherwise come out as a damaged "anonymized" copy.
// It walks the marker segments (skipping each by its length, so a thumbnail
// inside EXIF is not mistaken for the end) and the entropy-coded data after
// each start-of-scan; bytes after the end-of-image marker are allowed.
func jpegTruncated(data []byte) bool {
	i := 2 // after the start-of-image marker
	for {
		// The next marker: 0xFF, any 0xFF fill bytes, then its code. Stray
		// bytes before it are skipped, as libjpeg does.
		for i < len(data) && data[i] != 0xFF {
			i++
		}
		for i < len(data) && data[i] == 0xFF {
			i++
		}
		if i >= len(data) {
			return true
		}
		code := data[i]
		i++
		switch {
		case code == 0xD9: // end of image
			return false
		case code == 0x00 || code == 0x01 || (code >= 0xD0 && code <= 0xD7):
			continue // no length field
		}
		if i+2 > len(data) {
			return true
		}
		n := int(data[i])<<8 | int(data[i+1])
		if n < 2 {
			return false // malformed, not truncated: the decoder rejects it
		}
		i += n
		if i > len(data) {
			return true
		}
		if code != 0xDA {
			continue
		}
		// Start of scan: entropy-coded data runs to the next marker that is
		// neither a stuffed 0xFF00 nor a restart marker.
		for {
			for i < len(data) && data[i] != 0xFF {
				i++
			}
			if i+1 >= len(data) {
				return true
			}
			if c := data[i+1]; c == 0x00 || (c >= 0xD0 && c <= 0xD7) {
				i += 2
				continue
			}
			if data[i+1] == 0xFF {
				i++
				continue
			}
			break
		}
	}
}

// Encode encodes img in the format of ext (".jpg", ".png", ...).
func Encode(img gocv.Mat, ext string, jpegQuality int) ([]byte, error) {
	fe, ok := imageExts[strings.ToLower(ext)]
	if !ok {
		return nil, fmt.Errorf("encode: unsupported image format %q", ext)
	}
	// gocv's IMEncodeWithParams indexes params[0], so always pass one.
	params := []int{gocv.IMWriteJpegQuality, jpegQuality}
	switch fe {
	case gocv.PNGFileExt:
		params = []int{gocv.IMWritePngCompression, 3}
	case ".webp":
		params = []int{gocv.IMWriteWebpQuality, jpegQuality}
	}
	if img.Empty() {
		return nil, fmt.Errorf("encode %s: empty image", ext)
	}
	buf, err := gocv.IMEncodeWithParams(fe, img, params)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ext, err)
	}
	defer buf.Close()
	b := buf.GetBytes()
	out := make([]byte, len(b))
	copy(out, b)
	return out, nil
}

// IsTempName reports whether a file name is one of the temporary files
// anonymize writes an output through before renaming it into place:
// ".NAME.tmp-DIGITS" for an image NAME (WriteFileAtomic) and
// ".STEM.tmp-DIGITS.EXT" for a video (ffmpeg.NewEncoder), where NAME and
// EXT have an image and a video extension. A run that is killed leaves
// such a file behind.
func IsTempName(name string) bool {
	if !strings.HasPrefix(name, ".") {
		return false
	}
	i := strings.LastIndex(name, ".tmp-")
	if i <= 1 {
		return false
	}
	stem, rest := name[1:i], name[i+len(".tmp-"):]
	digits, ext, _ := strings.Cut(rest, ".")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	if ext == "" {
		return IsImage(stem)
	}
	return IsVideo("." + ext)
}
