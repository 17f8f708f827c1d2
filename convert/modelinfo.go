package convert

// ModelInfo identifies the model that produced a set of detections: the
// description a detector gives of itself, which the code that runs
// detectors (infer) fills in and the code that consumes detections (video,
// audit records) reads.
type ModelInfo struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Adapter  string `json:"adapter"`
	License  string `json:"license,omitempty"` // as the manifest names it; "unknown" when it names none
	SHA256   string `json:"sha256,omitempty"`  // empty for several models as one: see Models
	Provider string `json:"provider"`
	// Threshold is the score a detection must reach; with Bands, the
	// threshold of the tallest boxes (the last band).
	Threshold float32 `json:"threshold,omitempty"`
	// Bands is the size-aware threshold, when the model runs with one.
	Bands Bands    `json:"threshold_bands,omitempty"`
	Hide  []string `json:"hide"`
	Tiles string   `json:"tiles,omitempty"`
	// Style is how this model's detections are hidden, as its settings
	// say (the run's [hide] with its own [detectors] table over it); nil:
	// the run's default.
	Style *Style `json:"style,omitempty"`
	Dir   string `json:"-"`
	// Models lists the parts when several models run as one.
	Models []ModelInfo `json:"models,omitempty"`
}

// Style is a hiding style as settings spell it: blur, pixelate or solid;
// box or ellipse; the mask scale; the solid colour as #rrggbb. An empty
// field means the run's default. video/hide turns it into its options.
type Style struct {
	Style     string  `json:"style,omitempty"`
	Shape     string  `json:"shape,omitempty"`
	MaskScale float64 `json:"mask_scale,omitempty"`
	Colour    string  `json:"colour,omitempty"`
}
