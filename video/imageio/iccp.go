package imageio

import (
	"bytes"
	"encoding/binary"
)

// pngSignature opens every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// withoutICCP is data without the iCCP chunks of a PNG (data itself when
// it is not a PNG or has none). OpenCV does no colour management, so the
// embedded ICC profile changes no decoded pixel; but libpng checks it,
// and OpenCV gives libpng no warning handler, so a profile libpng
// dislikes ("iCCP: known incorrect sRGB profile", common in files from
// image editors) is printed on the process's stderr, past --quiet and the
// log. Dropping the chunk before decoding keeps those lines out. A chunk
// whose length runs past the data ends the walk: the rest is left as it
// is, for the decoder to judge.
func withoutICCP(data []byte) []byte {
	if !bytes.HasPrefix(data, pngSignature) || !bytes.Contains(data, []byte("iCCP")) {
		return data
	}
	out := make([]byte, 0, len(data))
	out = append(out, pngSignature...)
	i := len(pngSignature)
	for i+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[i:]))
		end := int64(i) + 12 + n // length, type, data, CRC
		if end > int64(len(data)) {
			break
		}
		if string(data[i+4:i+8]) != "iCCP" {
			out = append(out, data[i:end]...)
		}
		i = int(end)
	}
	return append(out, data[i:]...)
}
