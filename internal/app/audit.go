package app

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video/batch"
)

// audit is the record of a folder run or a watch (--audit FILE): each model
// that ran, once, with its own threshold, sha256 and style; the summary;
// and every input with the sha256 of it and of its output, the models that
// ran on it (by name@version, as listed in models) and its boxes.
type audit struct {
	Tool     string              `json:"tool"`
	Version  string              `json:"version"`
	Finished time.Time           `json:"finished"`
	Seconds  float64             `json:"seconds"`
	Models   []convert.ModelInfo `json:"models"`
	Summary  batch.Summary       `json:"summary"`
	Images   []auditImage        `json:"images"`
}

// Result is one input's outcome for the audit record, with the sha256 of
// the input and of its output taken right after it was processed (a
// watched file may change later).
type Result struct {
	batch.ImageResult
	InputSHA256  string `json:"input_sha256,omitempty"`
	OutputSHA256 string `json:"output_sha256,omitempty"`
}

// Hashed is r with the hashes of its input and output ("" for a file that
// cannot be read, or no output).
func Hashed(r batch.ImageResult) Result {
	h := Result{ImageResult: r}
	{
		h.InputSHA256, _ = fsutil.FileSHA256(r.Input)
		if r.Output != "" {
			h.OutputSHA256, _ = fsutil.FileSHA256(r.Output)
		}
	}
	return h
}

// auditImage is one input's record. Its model is a reference into the
// record's models (the block is written once, not per image).
type auditImage struct {
	Result
	Model string `json:"model,omitempty"`
}

// WriteAudit writes the audit record of a run by anonymize version to path,
// atomically. info is the models running at the end; models that ran on
// some input and were swapped out since are listed too.
func WriteAudit(path, version string, info infer.Info, results []Result, sum batch.Summary, d time.Duration) error {
	slices.SortFunc(results, func(a, b Result) int { return strings.Compare(a.Input, b.Input) })
	models := append([]convert.ModelInfo{}, parts(info)...)
	images := make([]auditImage, 0, len(results))
	for _, r := range results {
		im := auditImage{Result: r}
		if r.Model != nil {
			im.Model = ModelRef(*r.Model)
			for _, p := range parts(*r.Model) {
				if !slices.ContainsFunc(models, func(m convert.ModelInfo) bool {
					return m.Name == p.Name && m.Version == p.Version && m.SHA256 == p.SHA256
				}) {
					models = append(models, p)
				}
			}
		}
		images = append(images, im)
	}
	data, err := json.MarshalIndent(audit{Tool: "anonymize", Version: version, Finished: time.Now().UTC(),
		Seconds: d.Seconds(), Models: models, Summary: sum, Images: images}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// parts lists the models info stands for: its parts when several ran
// as one, else itself.
func parts(info convert.ModelInfo) []convert.ModelInfo {
	if len(info.Models) > 0 {
		return slices.Clone(info.Models)
	}
	if info.Name == "" {
		return nil
	}
	return []convert.ModelInfo{info}
}

// ModelRef names the models of info as name@version, joined by "+".
func ModelRef(info convert.ModelInfo) string {
	var refs []string
	for _, p := range parts(info) {
		refs = append(refs, p.Name+"@"+p.Version)
	}
	return strings.Join(refs, "+")
}
