package video

// EncodeOptions choose how video is encoded (through ffmpeg).
type EncodeOptions struct {
	// Codec is an ffmpeg video encoder (libx264 by default; mpeg4 where
	// H.264 is missing).
	Codec  string
	Preset string // encoder speed preset (x264: ultrafast ... veryslow)
	CRF    int    // quality, 0-51, lower is better (0: encoder default)
	// AudioFrom, when set, is a file whose audio track is copied into the
	// output without re-encoding.
	AudioFrom string
}
