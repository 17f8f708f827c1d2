package testenv

// Decompression bombs for the tests of the pixel cap (max_pixels): small
// files whose headers declare huge images. Each is made here, in Go, from
// a tiny valid image whose header is patched, or (BigPNG) written row by
// row as a real, valid image.

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

// PNGBomb is a valid 1x1 PNG whose IHDR declares w x h; with fixCRC the
// chunk's CRC is recomputed (so libpng accepts the header), else it is
// left as it was (and no longer matches).
func PNGBomb(t testing.TB, w, h uint32, fixCRC bool) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	// Signature (8), then IHDR: length (4), "IHDR", width, height, ..., CRC.
	if string(data[12:16]) != "IHDR" {
		t.Fatal("PNG without IHDR first")
	}
	binary.BigEndian.PutUint32(data[16:], w)
	binary.BigEndian.PutUint32(data[20:], h)
	if fixCRC {
		binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	}
	return data
}

// JPEGBomb is a valid 16x16 JPEG whose frame header (SOF0) declares w x h.
func JPEGBomb(t testing.TB, w, h uint16) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("JPEG without SOF0")
	}
	// FF C0, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(data[i+5:], h)
	binary.BigEndian.PutUint16(data[i+7:], w)
	return data
}

// BMPBomb is a 24-bit BMP (BITMAPINFOHEADER) that declares w x h and
// holds the pixels of one row.
func BMPBomb(t testing.TB, w, h int32) []byte {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	row := make([]byte, 4*((3*int(max(min(w, 4096), 0))+3)/4))
	b.WriteString("BM")
	binary.Write(&b, le, uint32(54+len(row))) // file size
	binary.Write(&b, le, uint32(0))           // reserved
	binary.Write(&b, le, uint32(54))          // pixel data offset
	binary.Write(&b, le, uint32(40))          // header size
	binary.Write(&b, le, w)
	binary.Write(&b, le, h)
	binary.Write(&b, le, uint16(1))  // planes
	binary.Write(&b, le, uint16(24)) // bits per pixel
	binary.Write(&b, le, uint32(0))  // BI_RGB
	binary.Write(&b, le, uint32(0))  // image size (may be 0 for BI_RGB)
	binary.Write(&b, le, [4]uint32{2835, 2835, 0, 0})
	b.Write(row)
	return b.Bytes()
}

// BigPNG is a real, valid w x h 8-bit greyscale PNG, all black: every row
// is the same deflate block (one row of zeros, compressed once), repeated,
// so a 32768 x 32768 image (2^30 pixels) takes well under a second to make
// and about 3 MB, yet decodes to 1 GiB of grey (3 GiB of BGR).
func BigPNG(t testing.TB, w, h uint32) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, c.Sum32())
	}
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8 // bit depth 8; colour type 0 (grey), deflate, no filter method or interlace
	chunk("IHDR", ihdr[:])

	// One row: filter byte 0 and w zero bytes, as a non-final deflate
	// block ending on a byte boundary (Flush), from a fresh compressor so
	// that it refers to nothing before it.
	var blk bytes.Buffer
	fw, err := flate.NewWriter(&blk, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(make([]byte, int(w)+1))
	fw.Flush()
	block := blk.Bytes()

	var z bytes.Buffer
	z.Write([]byte{0x78, 0xDA}) // zlib header: deflate, 32K window, best compression
	for range h {
		z.Write(block)
	}
	z.Write([]byte{0x01, 0x00, 0x00, 0xFF, 0xFF}) // final, empty stored block
	// Adler-32 of n zero bytes: a stays 1, b gains 1 per byte.
	n := uint64(w+1) * uint64(h)
	binary.Write(&z, binary.BigEndian, uint32(n%65521)<<16|1)
	idat := z.Bytes()
	for len(idat) > 0 { // chunks of at most 1 MiB
		k := min(len(idat), 1<<20)
		chunk("IDAT", idat[:k])
		idat = idat[k:]
	}
	chunk("IEND", nil)
	return out.Bytes()
}
