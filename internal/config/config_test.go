package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// loadChecked is what the commands do with a config file: load it strictly,
// then validate it.
func loadChecked(path string) (Config, error) {
	c, err := Load(path)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

func corpus(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "config", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus file missing: %v", err)
	}
	return p
}

func TestLoadConfigGood(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "config"))
	if err != nil {
		t.Fatal(err)
	}
	defaults := func(edit func(*Config)) Config {
		c := Default()
		c.ModelsDir = filepath.Join(dir, "models")
		if edit != nil {
			edit(&c)
		}
		return c
	}
	tests := []struct {
		file string
		want Config
	}{
		{"good_empty.toml", defaults(nil)},
		{"good_minimal.toml", defaults(func(c *Config) { c.Model = "blazeface-back-256" })},
		{"good_full.toml", defaults(func(c *Config) {
			// Relative paths resolve against the config file's folder, not
			// the working directory; absolute ones stay as written.
			c.ModelsDir = filepath.Join(filepath.Dir(dir), "models-elsewhere")
			c.Model = "blazeface-front-128"
			c.Threshold = 0.6
			c.Runtime.Library = filepath.Join(dir, "lib", "libonnxruntime.so.1")
			// The file's list replaces the default one; it is not merged into it.
			c.Runtime.Providers = []string{"cpu"}
			c.Runtime.IntraOpThreads = 2
			c.Runtime.InterOpThreads = 1
			c.Hide.Style = "pixelate"
			c.Hide.Shape = "box"
			c.Hide.MaskScale = 1.5
			c.Hide.Colour = "#ff8000"
			c.Output.Dir = "/srv/anonymized"
			c.Output.Format = "jpg"
			c.Output.JPEGQuality = 80
			c.Output.Overwrite = true
			c.Run.Jobs = 3
		})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := corpus(t, tt.file)
			got, err := loadChecked(path)
			if err != nil {
				t.Fatalf("load %s: %v", tt.file, err)
			}
			tt.want.file = path
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("load %s:\n got %+v\nwant %+v", tt.file, got, tt.want)
			}
			if _, err := got.HideOptions(); err != nil {
				t.Errorf("hide options of a valid config: %v", err)
			}
		})
	}
}

// badCorpus lists every bad file of testdata/config with what its error
// must say: substrings besides the file's path, the key (as written in the
// file) and the bad value or line.
var badCorpus = []struct {
	file string
	want []string
}{
	{"bad_unknown_key.toml", []string{"unknown key", "modle"}},
	{"bad_unknown_nested_key.toml", []string{"unknown key", "hide.colur"}},
	{"bad_wrong_type.toml", []string{"threshold", "line 1"}},
	{"bad_threshold_range.toml", []string{"threshold", "1.5"}},
	{"bad_style.toml", []string{"hide.style", "smudge"}},
	{"bad_shape.toml", []string{"hide.shape", "circle"}},
	{"bad_mask_scale_zero.toml", []string{"hide.mask_scale", "0"}},
	{"bad_colour.toml", []string{"hide.colour", "red"}},
	{"bad_format.toml", []string{"output.format", "gif"}},
	{"bad_jpeg_quality.toml", []string{"output.jpeg_quality", "0"}},
	{"bad_providers.toml", []string{"runtime.providers", "gpu"}},
	{"bad_jobs.toml", []string{"run.jobs", "-1"}},
	{"bad_malformed.toml", []string{"line 3"}},
	// Absurd numbers: 100000 ONNX Runtime threads hung a run past
	// SIGTERM at 17 GB; 100000 jobs held every image in memory; a
	// 1-pixel detector input hid no face with exit 0.
	{"bad_threads_absurd.toml", []string{"runtime.intra_op_threads", "100000", "outside 0.."}},
	{"bad_jobs_absurd.toml", []string{"run.jobs", "100000", "outside 0.."}},
	{"bad_detect_max_side_tiny.toml", []string{"video.detect_max_side", "1 is outside 128..8192"}},
	{"bad_serve_concurrency_absurd.toml", []string{"serve.max_concurrent", "100000"}},
	{"bad_segment_absurd.toml", []string{"live.segment_seconds", "100000000"}},
	{"bad_threshold_bands.toml", []string{"detectors.yunet-n-dynamic.threshold_bands", "not above"}},
}

func TestLoadConfigBad(t *testing.T) {
	for _, tt := range badCorpus {
		t.Run(tt.file, func(t *testing.T) {
			path := corpus(t, tt.file)
			_, err := loadChecked(path)
			if err == nil {
				t.Fatalf("load %s: no error, want one naming %q", tt.file, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("message does not name the file %s: %s", path, msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message does not contain %q: %s", w, msg)
				}
			}
		})
	}
}

// Every bad file in the corpus is listed in TestLoadConfigBad, so that a new
// fixture cannot be added and forgotten.
func TestConfigCorpusComplete(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "config"))
	if err != nil {
		t.Fatal(err)
	}
	var good, bad int
	for _, e := range entries {
		switch n := e.Name(); {
		case strings.HasPrefix(n, "good_") && strings.HasSuffix(n, ".toml"):
			good++
		case strings.HasPrefix(n, "bad_") && strings.HasSuffix(n, ".toml"):
			bad++
		case n == "README.md":
		default:
			t.Errorf("testdata/config/%s: name it good_*.toml or bad_*.toml", n)
		}
	}
	if good != 3 || bad != len(badCorpus) {
		t.Errorf("corpus has %d good and %d bad files; the tests list 3 and %d", good, bad, len(badCorpus))
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("load of a missing file: %v, want an error naming %s", err, path)
	}
}

// The repository's config.toml documents the defaults: it must load, pass
// Validate and hold exactly Default()'s values, apart from paths
// (resolved against the repository) and runtime.library (which points at
// the library scripts/setup.sh installs).
func TestRepoConfigIsTheDefaults(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(), "config.toml")
	got, err := loadChecked(path)
	if err != nil {
		t.Fatalf("repository config.toml: %v", err)
	}
	want := Default()
	if err := want.resolve(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	want.file = path
	if got.Runtime.Library == "" || !filepath.IsAbs(got.Runtime.Library) {
		t.Errorf("runtime.library = %q, want a path resolved against %s", got.Runtime.Library, filepath.Dir(path))
	}
	want.Runtime.Library = got.Runtime.Library
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config.toml and Default() differ:\nconfig.toml     %+v\ndefaultConfig() %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}
}

// TestFacesAlias: "faces" stands for both default face detectors, each with
// its [detectors] threshold; yunet-s runs on photos only. A model named
// twice runs once, and [detectors.faces] reaches both.
func TestFacesAlias(t *testing.T) {
	c := Default()
	type want struct {
		name       string
		threshold  float32
		tiles      string
		imagesOnly bool
	}
	check := func(c Config, w []want) {
		t.Helper()
		var got []want
		for _, s := range c.Specs() {
			got = append(got, want{filepath.Base(s.Dir), s.Options.Threshold, s.Options.Tiles, s.Options.ImagesOnly})
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("model %q runs\n %+v\nwant\n %+v", c.Model, got, w)
		}
	}
	check(c, []want{{"yunet-n-dynamic", 0.25, "off", false}, {"yunet-s-640-opencvzoo-2023mar", 0.15, "off", true}})

	c.Model = "faces, yunet-n-dynamic, plates"
	check(c, []want{{"yunet-n-dynamic", 0.25, "off", false}, {"yunet-s-640-opencvzoo-2023mar", 0.15, "off", true}, {"lpd-yunet-2023mar", 0, "off", false}})

	// A file's table for a default model keeps the built-in values it
	// leaves out; a table for the alias applies to each model it names.
	load := func(text string) Config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := loadChecked(path)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := load(`
[detectors.yunet-n-dynamic]
tiles = "auto"
[detectors.faces]
shape = "box"
`)
	check(f, []want{{"yunet-n-dynamic", 0.25, "auto", false}, {"yunet-s-640-opencvzoo-2023mar", 0.15, "off", true}})
	for _, m := range []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar"} {
		d, ok := f.Detector(filepath.Join(f.ModelsDir, m))
		h, err := f.HideWith(d)
		if !ok || err != nil || h.Shape != "box" {
			t.Errorf("%s: hides with %+v (%v), want the box of [detectors.faces]", m, h, err)
		}
	}
	// The alias's threshold beats the built-in ones; the model's own table
	// beats the alias's; the flag beats all (settings).
	f = load(`
[detectors.faces]
threshold = 0.4
[detectors.yunet-s-640-opencvzoo-2023mar]
threshold = 0.3
`)
	check(f, []want{{"yunet-n-dynamic", 0.4, "off", false}, {"yunet-s-640-opencvzoo-2023mar", 0.3, "off", true}})
	f.Threshold, f.thresholdFlag = 0.6, true
	check(f, []want{{"yunet-n-dynamic", 0.6, "off", false}, {"yunet-s-640-opencvzoo-2023mar", 0.6, "off", true}})
}
