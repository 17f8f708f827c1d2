package cli

// End-to-end tests of the command line: each runs run() in-process on real
// photos, the installed models and the ONNX Runtime library from
// config.toml. The ONNX Runtime environment is process-wide; infer.Init
// creates it on the first run and reuses it after.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/testenv"
)

// ---- helpers ---------------------------------------------------------------

// repoConfig is the repository's config.toml, by absolute path: tests run
// in the package folder (the repository root), but each run names its
// config explicitly so that none depends on the working directory.
func repoConfig(t *testing.T) string {
	t.Helper()
	testenv.ORTLibrary(t) // fail early, saying how to install it
	testenv.Model(t, "yunet-n-dynamic")
	return filepath.Join(testenv.RepoRoot(), "config.toml")
}

// runCLI runs the app with args (without the program name) and returns its
// exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	// A live run whose test server never answers retries for ever, as it
	// should for a camera; a test must fail instead of hanging CI.
	ctx, cancel := context.WithTimeout(t.Context(), cliTestTimeout)
	defer cancel()
	code = run(ctx, append([]string{"anonymize"}, args...), &out, &errb)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("anonymize %q still running after %v: stopped it", args, cliTestTimeout)
	}
	return code, out.String(), errb.String()
}

// cliTestTimeout bounds one runCLI call.
const cliTestTimeout = 3 * time.Minute

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func shared(t *testing.T, name string) string {
	return testenv.Shared(t, filepath.Join("data", "faces", name))
}

// treeState maps each path under root (relative) to the sha256 of its
// content, or of its link target for a symbolic link.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m[rel] = "link:" + target
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			m[rel] = hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pixels is a decoded image: 8-bit BGR, as OpenCV reads it.
type pixels struct {
	w, h int
	bgr  []byte
}

func decode(t *testing.T, path string) pixels {
	t.Helper()
	m := gocv.IMRead(path, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		t.Fatalf("cannot decode %s", path)
	}
	return pixels{w: m.Cols(), h: m.Rows(), bgr: m.ToBytes()}
}

func (p pixels) at(x, y int) [3]byte {
	i := 3 * (y*p.w + x)
	return [3]byte{p.bgr[i], p.bgr[i+1], p.bgr[i+2]}
}

var black = [3]byte{0, 0, 0}

// writePNG writes an RGB image whose pixel (x, y) is fill(x, y).
func writePNG(t *testing.T, path string, w, h int, fill func(x, y int) color.NRGBA) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, fill(x, y))
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.Bytes())
}

// stderrLines returns the lines of stderr that mention s.
func stderrLines(stderr, s string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// The audit record (--json), as a reader of the file sees it.
type auditFile struct {
	Tool    string       `json:"tool"`
	Models  []auditModel `json:"models"` // each model that ran, once
	Summary struct {
		Done, Skipped, Failed int
		HiddenWhole           int `json:"hidden_whole"`
	} `json:"summary"`
	Images []auditImage `json:"images"`
}

type auditModel struct {
	Name      string       `json:"name"`
	Version   string       `json:"version"`
	SHA256    string       `json:"sha256"`
	Threshold float32      `json:"threshold"`
	Models    []auditModel `json:"models"` // the parts, when several run as one
}

type auditImage struct {
	Input      string `json:"input"`
	Output     string `json:"output"`
	Status     string `json:"status"`
	Error      string `json:"error"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Model      string `json:"model"` // name@version of each model that ran on it, joined by +
	InputSHA   string `json:"input_sha256"`
	OutputSHA  string `json:"output_sha256"`
	Detections []struct {
		Box   *struct{ X1, Y1, X2, Y2 float64 } `json:"box"`
		Score *float64                          `json:"score"`
		Label string                            `json:"label"`
	} `json:"detections"`
	Video *struct {
		Models []auditModel `json:"models"`
	} `json:"video"`
}

func readAudit(t *testing.T, path string) auditFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit record: %v", err)
	}
	var a auditFile
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("audit record %s: %v", path, err)
	}
	return a
}

func (a auditFile) image(t *testing.T, input string) auditImage {
	t.Helper()
	for _, im := range a.Images {
		if im.Input == input {
			return im
		}
	}
	t.Fatalf("audit record has no image %s", input)
	return auditImage{}
}

// checkHidden checks that out is in with solid black over each detection:
// the centre of every box is black, and every pixel farther than a pixel
// from every box grown by maskScale is unchanged.
func checkHidden(t *testing.T, in, out pixels, boxes [][4]float64, maskScale float64) {
	t.Helper()
	if in.w != out.w || in.h != out.h {
		t.Fatalf("output is %dx%d, input %dx%d", out.w, out.h, in.w, in.h)
	}
	type rect struct{ x0, y0, x1, y1 float64 }
	var grown []rect
	for _, b := range boxes {
		cx, cy := (b[0]+b[2])/2, (b[1]+b[3])/2
		a, bb := (b[2]-b[0])/2*maskScale, (b[3]-b[1])/2*maskScale
		grown = append(grown, rect{cx - a - 1, cy - bb - 1, cx + a + 1, cy + bb + 1})
		x, y := int(cx), int(cy)
		if got := out.at(x, y); got != black {
			t.Errorf("box %v: centre pixel (%d, %d) is %v, want black", b, x, y, got)
		}
		if in.at(x, y) == black {
			t.Errorf("box %v: centre pixel (%d, %d) is black in the input too: the check proves nothing", b, x, y)
		}
	}
	changed := 0
	for y := range in.h {
	pixel:
		for x := range in.w {
			for _, r := range grown {
				if float64(x+1) > r.x0 && float64(x) < r.x1 && float64(y+1) > r.y0 && float64(y) < r.y1 {
					continue pixel
				}
			}
			if in.at(x, y) != out.at(x, y) {
				if changed++; changed <= 3 {
					t.Errorf("pixel (%d, %d) outside every hidden region changed: %v -> %v", x, y, in.at(x, y), out.at(x, y))
				}
			}
		}
	}
	if changed > 3 {
		t.Errorf("... %d pixels outside the hidden regions changed in all", changed)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testConfig writes a config for the tests that run models: the
// repository's runtime library, the models folder and model given, CPU
// only, a short reload debounce (reload.watch as given, new folders
// adopted), top lines before any table and tables after the others.
func testConfig(t *testing.T, modelsDir, model string, reloadWatch bool, top, tables string) string {
	t.Helper()
	repo, err := config.Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, path, fmt.Appendf(nil, `models_dir = %q
model = %q
%s

[runtime]
library = %q
providers = ["cpu"]

[reload]
watch = %v
debounce_ms = 100
adopt_new = true

%s
`, modelsDir, model, top, repo.Runtime.Library, reloadWatch, tables))
	return path
}
