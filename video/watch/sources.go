package watch

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/anonymize/anonymize/internal/fsutil"
)

// SourcesFile, in a watch's output folder, records the sha256 of the input
// each output was made from. A restarted watch reads it, so that an input
// only touched since (newer modification time, same content) is not
// redone. It is written when the watch stops; a watch killed before that
// redoes what it did since its start: the safe side.
const SourcesFile = ".anonymize-sources.json"

// sources are the records of the output folders, by folder: output path
// relative to it -> the input's sha256. Owned by the event loop.
type sources struct {
	byRoot map[string]map[string]string
	dirty  map[string]bool
}

func newSources() *sources {
	return &sources{byRoot: map[string]map[string]string{}, dirty: map[string]bool{}}
}

// of is the record of output folder root, read on first use.
func (s *sources) of(root string) map[string]string {
	m, ok := s.byRoot[root]
	if !ok {
		m = map[string]string{}
		if data, err := os.ReadFile(filepath.Join(root, SourcesFile)); err == nil {
			json.Unmarshal(data, &m) // a damaged record only costs redoing
		}
		s.byRoot[root] = m
	}
	return m
}

// made reports whether out (in root) was made from content with sha256
// hash, as recorded.
func (s *sources) made(root, out, hash string) bool {
	rel, err := filepath.Rel(root, out)
	return err == nil && hash != "" && s.of(root)[rel] == hash
}

// record notes that out was made from content with sha256 hash.
func (s *sources) record(root, out, hash string) {
	rel, err := filepath.Rel(root, out)
	if err != nil || hash == "" {
		return
	}
	s.of(root)[rel] = hash
	s.dirty[root] = true
}

// save writes the records that changed, each atomically.
func (s *sources) save() error {
	var first error
	for root := range s.dirty {
		data, err := json.MarshalIndent(s.byRoot[root], "", " ")
		if err == nil {
			err = fsutil.WriteFileAtomic(filepath.Join(root, SourcesFile), append(data, '\n'), 0o644)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	s.dirty = map[string]bool{}
	return first
}
