package ffmpeg

import (
	"encoding/binary"
	"io"
	"time"
)

// The encoder's ffmpeg reads raw frames as a Matroska stream: the smallest
// container that ffmpeg reads raw video from with a timestamp on every
// frame (raw video on a pipe has none, and ffmpeg would time the frames at
// a constant rate). Each frame is one cluster holding one block, timed in
// nanoseconds (TimestampScale 1), so the frames keep the times they are
// written with, whatever the rate, exactly enough for any time base.

// Matroska element IDs (their leading bits are their own length).
const (
	mkvEBML            = 0x1A45DFA3
	mkvEBMLVersion     = 0x4286
	mkvEBMLReadVersion = 0x42F7
	mkvEBMLMaxIDLength = 0x42F2
	mkvEBMLMaxSizeLen  = 0x42F3
	mkvDocType         = 0x4282
	mkvDocTypeVersion  = 0x4287
	mkvDocTypeReadVer  = 0x4285
	mkvSegment         = 0x18538067
	mkvInfo            = 0x1549A966
	mkvTimestampScale  = 0x2AD7B1
	mkvMuxingApp       = 0x4D80
	mkvWritingApp      = 0x5741
	mkvTracks          = 0x1654AE6B
	mkvTrackEntry      = 0xAE
	mkvTrackNumber     = 0xD7
	mkvTrackUID        = 0x73C5
	mkvTrackType       = 0x83
	mkvCodecID         = 0x86
	mkvDefaultDuration = 0x23E383
	mkvVideo           = 0xE0
	mkvPixelWidth      = 0xB0
	mkvPixelHeight     = 0xBA
	mkvColourSpace     = 0x2EB524
	mkvCluster         = 0x1F43B675
	mkvTimestamp       = 0xE7
	mkvSimpleBlock     = 0xA3
)

// mkvUnknownSize marks an element whose end is not known in advance (the
// segment: frames follow until the stream ends).
var mkvUnknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

// ebml builds Matroska elements.
type ebml []byte

func (b ebml) id(id uint32) ebml {
	switch {
	case id >= 1<<24:
		return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<16:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		return append(b, byte(id>>8), byte(id))
	}
	return append(b, byte(id))
}

// size appends n as an 8-byte EBML length.
func (b ebml) size(n int) ebml {
	return binary.BigEndian.AppendUint64(b, uint64(n)|1<<56) // 0x01, then 7 bytes of n
}

func (b ebml) uint(id uint32, v uint64) ebml {
	b = b.id(id).size(8)
	return binary.BigEndian.AppendUint64(b, v)
}

func (b ebml) str(id uint32, s string) ebml { return append(b.id(id).size(len(s)), s...) }

func (b ebml) master(id uint32, children ebml) ebml {
	return append(b.id(id).size(len(children)), children...)
}

// mkvHeader is the start of a stream of w x h raw frames of the pixel
// format fourcc ("I420" or BGR24's), each lasting frame unless timed
// otherwise (the last frame's length, to a player).
func mkvHeader(w, h int, fourcc string, frame time.Duration) []byte {
	head := ebml(nil).master(mkvEBML, ebml(nil).
		uint(mkvEBMLVersion, 1).uint(mkvEBMLReadVersion, 1).
		uint(mkvEBMLMaxIDLength, 4).uint(mkvEBMLMaxSizeLen, 8).
		str(mkvDocType, "matroska").uint(mkvDocTypeVersion, 4).uint(mkvDocTypeReadVer, 2))
	info := ebml(nil).uint(mkvTimestampScale, 1).str(mkvMuxingApp, "anonymize").str(mkvWritingApp, "anonymize")
	vid := ebml(nil).uint(mkvPixelWidth, uint64(w)).uint(mkvPixelHeight, uint64(h)).str(mkvColourSpace, fourcc)
	track := ebml(nil).uint(mkvTrackNumber, 1).uint(mkvTrackUID, 1).uint(mkvTrackType, 1).
		str(mkvCodecID, "V_UNCOMPRESSED").master(mkvVideo, vid)
	if frame > 0 {
		track = track.uint(mkvDefaultDuration, uint64(frame))
	}
	head = head.id(mkvSegment)
	head = append(head, mkvUnknownSize...)
	head = head.master(mkvInfo, info)
	return head.master(mkvTracks, ebml(nil).master(mkvTrackEntry, track))
}

// mkvFourCC is the Matroska ColourSpace of the raw format of w x h frames.
func mkvFourCC(w, h int) string {
	if rawI420(w, h) {
		return "I420"
	}
	return "BGR\x18" // bgr24
}

// writeMKVFrame writes one frame at pts (not negative): a cluster at pts
// holding one key-frame block of data. buf is scratch space for the
// cluster's head, returned for the next call.
func writeMKVFrame(w io.Writer, buf []byte, pts time.Duration, data []byte) ([]byte, error) {
	// Block: track number 1 (as an EBML number), time 0 from the cluster's,
	// flags: a key frame.
	block := [...]byte{0x81, 0, 0, 0x80}
	const tsLen, blockHead = 1 + 8 + 8, 1 + 8 // the Timestamp element; SimpleBlock's ID and size
	b := ebml(buf[:0]).id(mkvCluster).size(tsLen + blockHead + len(block) + len(data))
	b = b.uint(mkvTimestamp, uint64(pts))
	b = b.id(mkvSimpleBlock).size(len(block) + len(data))
	b = append(b, block[:]...)
	if _, err := w.Write(b); err != nil {
		return b, err
	}
	_, err := w.Write(data)
	return b, err
}
