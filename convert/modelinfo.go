package convert

// ModelInfo identifies the model that produced a set of detections: the
// description a detector gives of itself, which the code that runs
// detectors (infer) fills in and the code that consumes detections (video,
// audit records) reads.
type ModelInfo struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Adapter   string   `json:"adapter"`
	SHA256    string   `json:"sha256"`
	Provider  string   `json:"provider"`
	Threshold float32  `json:"threshold"`
	Hide      []string `json:"hide"`
	Tiles     string   `json:"tiles,omitempty"`
	Dir       string   `json:"-"`
	// Models lists the parts when several models run as one.
	Models []ModelInfo `json:"models,omitempty"`
}
