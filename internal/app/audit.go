package app

import (
	"encoding/json"
	"time"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video/batch"
)

// audit is the record of a folder run or a watch (--json FILE): the model,
// the summary and every image with its boxes.
type audit struct {
	Tool     string              `json:"tool"`
	Version  string              `json:"version"`
	Finished time.Time           `json:"finished"`
	Seconds  float64             `json:"seconds"`
	Model    infer.Info          `json:"model"`
	Summary  batch.Summary       `json:"summary"`
	Images   []batch.ImageResult `json:"images"`
}

// WriteAudit writes the audit record of a run by anonymize version to path,
// atomically.
func WriteAudit(path, version string, info infer.Info, results []batch.ImageResult, sum batch.Summary, d time.Duration) error {
	batch.SortResults(results)
	if results == nil {
		results = []batch.ImageResult{}
	}
	data, err := json.MarshalIndent(audit{Tool: "anonymize", Version: version, Finished: time.Now().UTC(),
		Seconds: d.Seconds(), Model: info, Summary: sum, Images: results}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
