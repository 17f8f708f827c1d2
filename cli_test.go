package main

// End-to-end tests of the command line: each runs run() in-process on real
// photos, the installed models and the ONNX Runtime library from
// config.toml. The ONNX Runtime environment is process-wide; infer.Init
// creates it on the first run and reuses it after.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gocv.io/x/gocv"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
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
	code = run(t.Context(), append([]string{"anonymize"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

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
	Tool    string     `json:"tool"`
	Model   auditModel `json:"model"`
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
	Input      string      `json:"input"`
	Output     string      `json:"output"`
	Status     string      `json:"status"`
	Error      string      `json:"error"`
	Width      int         `json:"width"`
	Height     int         `json:"height"`
	Model      *auditModel `json:"model"`
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

// ---- help ------------------------------------------------------------------

func TestEveryCommandAndFlagHasHelp(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	if strings.TrimSpace(app.Usage) == "" {
		t.Error("app: no Usage")
	}
	checkFlags := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				t.Errorf("%s: flag %v cannot report its usage", where, f.Names())
				continue
			}
			if strings.TrimSpace(df.GetUsage()) == "" {
				t.Errorf("%s: flag --%s has no Usage", where, f.Names()[0])
			}
		}
	}
	checkFlags("anonymize", app.Flags)
	var seen []string
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := path + " " + c.Name
			seen = append(seen, p)
			if strings.TrimSpace(c.Usage) == "" {
				t.Errorf("%s: no Usage", p)
			}
			checkFlags(p, c.Flags)
			walk(p, c.Subcommands)
		}
	}
	walk("anonymize", app.Commands)
	for _, want := range []string{"anonymize version", "anonymize models", "anonymize models list", "anonymize models install", "anonymize models mock"} {
		if !slices.Contains(seen, want) {
			t.Errorf("command %q not found; walked %q", want, seen)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"models", "--help"}, {"models", "mock", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitOK {
			t.Errorf("anonymize %s: exit %d, want 0; stderr: %s", strings.Join(args, " "), code, stderr)
		}
		if !strings.Contains(stdout, "USAGE") {
			t.Errorf("anonymize %s: no help on stdout: %q", strings.Join(args, " "), stdout)
		}
	}
	_, stdout, _ := runCLI(t, "--help")
	for _, want := range []string{"--out", "--style", "--json", "Exit codes: 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("anonymize --help does not mention %q", want)
		}
	}
}

// ---- a folder tree ---------------------------------------------------------

// TestAnonymizeTree runs the tool over a tree of good, bad and ignored files
// four times: a first run, a second that skips what exists, one with
// --overwrite, and one with the bad files gone.
//
// The bad files: corrupt.jpg is garbage bytes; trunc.jpg is the first half
// of a real JPEG, which OpenCV would decode without an error (the rows after
// the cut made up from the last block), so the tool refuses it as truncated;
// unreadable.jpg is a dangling symbolic link, because tests run as root and
// chmod 000 does not stop root from reading a file.
func TestAnonymizeTree(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	audit := filepath.Join(out, "..", "audit.json")

	astroIn := filepath.Join(in, "a", "astronaut.png")
	groupIn := filepath.Join(in, "b", "c", "group_uf2.jpg")
	corrupt := filepath.Join(in, "corrupt.jpg")
	trunc := filepath.Join(in, "trunc.jpg")
	unreadable := filepath.Join(in, "unreadable.jpg")
	copyFile(t, shared(t, "astronaut.png"), astroIn)
	copyFile(t, shared(t, "group_uf2.jpg"), groupIn)
	writeFile(t, filepath.Join(in, "notes.txt"), []byte("not an image\n"))
	copyFile(t, shared(t, "messi5.jpg"), filepath.Join(in, ".hidden.jpg"))
	writeFile(t, corrupt, bytes.Repeat([]byte("this is not a JPEG file. "), 200))
	group, err := os.ReadFile(groupIn)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, trunc, group[:len(group)/2])
	if err := os.Symlink(filepath.Join(root, "no-such-photo.jpg"), unreadable); err != nil {
		t.Fatal(err)
	}
	inputsBefore := treeState(t, in)

	args := []string{"--config", cfg, "--out", out, "--style", "solid", "--format", "png", "--json", audit, "--jobs", "2", in}

	// ---- first run
	code, _, stderr := runCLI(t, args...)
	if code != exitSomeFailed {
		t.Fatalf("first run: exit %d, want %d; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	astroOut := filepath.Join(out, "a", "astronaut.png")
	groupOut := filepath.Join(out, "b", "c", "group_uf2.png")
	outputs := treeState(t, out)
	if got, want := sortedKeys(outputs), []string{"a/astronaut.png", "b/c/group_uf2.png"}; !slices.Equal(got, want) {
		// This also proves that no temporary (dot) file is left behind and
		// that nothing was written for the bad, hidden and non-image files.
		t.Errorf("files under the output folder: %q, want %q", got, want)
	}
	for _, name := range []string{corrupt, trunc, unreadable} {
		lines := stderrLines(stderr, filepath.Base(name))
		if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") {
			t.Errorf("stderr names %s in %d lines, want one error line:\n%s", filepath.Base(name), len(lines), strings.Join(lines, "\n"))
		}
	}
	if l := stderrLines(stderr, "trunc.jpg"); len(l) == 1 && !strings.Contains(l[0], "truncated") {
		t.Errorf("the error for trunc.jpg does not say it is truncated: %s", l[0])
	}
	for _, quiet := range []string{".hidden.jpg", "notes.txt"} {
		if l := stderrLines(stderr, quiet); len(l) != 0 {
			t.Errorf("stderr mentions %s, which is to be ignored silently: %q", quiet, l)
		}
	}
	if !strings.Contains(stderr, "2 written, 0 skipped (output exists), 3 failed") {
		t.Errorf("summary: want 2 written, 3 failed; stderr:\n%s", stderr)
	}
	if after := treeState(t, in); !mapsEqual(after, inputsBefore) {
		t.Errorf("the input tree changed:\nbefore %v\nafter  %v", inputsBefore, after)
	}

	// The audit record.
	a := readAudit(t, audit)
	var inputs []string
	for _, im := range a.Images {
		inputs = append(inputs, im.Input)
	}
	wantInputs := []string{astroIn, groupIn, corrupt, trunc, unreadable}
	slices.Sort(wantInputs)
	if !slices.Equal(inputs, wantInputs) {
		t.Errorf("audit images %q, want %q (sorted by input)", inputs, wantInputs)
	}
	// The default "faces": two detectors, each named with its version,
	// checksum and the threshold of its [detectors] entry.
	var parts []auditModel
	for _, p := range []struct {
		name      string
		threshold float32
	}{{"yunet-n-dynamic", 0.25}, {"yunet-s-640-opencvzoo-2023mar", 0.15}} {
		dir := testenv.Model(t, p.name)
		man, err := models.ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		onnx, err := os.ReadFile(filepath.Join(dir, models.ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(onnx)
		parts = append(parts, auditModel{Name: p.name, Version: man.Version, SHA256: hex.EncodeToString(sum[:]), Threshold: p.threshold})
	}
	wantModel := auditModel{Name: parts[0].Name + "+" + parts[1].Name, Version: parts[0].Version + "+" + parts[1].Version, Models: parts}
	sameModel := func(got auditModel) bool {
		return got.Name == wantModel.Name && got.Version == wantModel.Version && reflect.DeepEqual(got.Models, parts)
	}
	if !sameModel(a.Model) {
		t.Errorf("audit model %+v, want %+v", a.Model, wantModel)
	}
	if a.Summary.Done != 2 || a.Summary.Failed != 3 {
		t.Errorf("audit summary %+v, want 2 done and 3 failed", a.Summary)
	}
	boxesOf := func(im auditImage) [][4]float64 {
		t.Helper()
		if im.Status != "done" || im.Model == nil || !sameModel(*im.Model) {
			t.Errorf("%s: status %q, model %+v; want done by %+v", im.Input, im.Status, im.Model, wantModel)
		}
		var boxes [][4]float64
		for i, d := range im.Detections {
			if d.Box == nil || d.Score == nil || d.Label != "face" {
				t.Errorf("%s: detection %d lacks a box, score or face label: %+v", im.Input, i, d)
				continue
			}
			b := d.Box
			if !(b.X1 < b.X2 && b.Y1 < b.Y2 && b.X1 >= -1 && b.Y1 >= -1 && b.X2 <= float64(im.Width)+1 && b.Y2 <= float64(im.Height)+1) {
				t.Errorf("%s: detection %d box %+v is not inside the %dx%d image", im.Input, i, *b, im.Width, im.Height)
			}
			if *d.Score < float64(parts[1].Threshold) || *d.Score > 1 {
				t.Errorf("%s: detection %d score %g is outside [threshold %g, 1]", im.Input, i, *d.Score, parts[1].Threshold)
			}
			boxes = append(boxes, [4]float64{b.X1, b.Y1, b.X2, b.Y2})
		}
		return boxes
	}
	astroAudit, groupAudit := a.image(t, astroIn), a.image(t, groupIn)
	astroBoxes, groupBoxes := boxesOf(astroAudit), boxesOf(groupAudit)
	if len(astroBoxes) != 1 || len(groupBoxes) != 4 {
		t.Errorf("detections: astronaut %d, group_uf2 %d; want 1 and 4", len(astroBoxes), len(groupBoxes))
	}
	if astroAudit.Output != astroOut || groupAudit.Output != groupOut {
		t.Errorf("audit outputs %q, %q; want %q, %q", astroAudit.Output, groupAudit.Output, astroOut, groupOut)
	}
	for _, bad := range []string{corrupt, trunc, unreadable} {
		if im := a.image(t, bad); im.Status != "failed" || im.Error == "" || im.Output != "" {
			t.Errorf("audit of %s: %+v, want failed with an error and no output", bad, im)
		}
	}

	// The pixels: solid black over the faces, everything else as it was.
	astroPx, groupPx := decode(t, astroIn), decode(t, groupIn)
	astroOutPx := decode(t, astroOut)
	if got := astroOutPx.at(224, 120); got != black {
		// The astronaut's face (between her eyes and mouth) is at (224, 120).
		t.Errorf("astronaut: pixel (224, 120) in the face is %v, want black", got)
	}
	checkHidden(t, astroPx, astroOutPx, astroBoxes, 1.3)
	checkHidden(t, groupPx, decode(t, groupOut), groupBoxes, 1.3)

	// ---- second run: existing outputs are skipped, the bad files fail again
	code, _, stderr = runCLI(t, args...)
	if code != exitSomeFailed {
		t.Fatalf("second run: exit %d, want %d; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	if !strings.Contains(stderr, "0 written, 2 skipped (output exists), 3 failed") {
		t.Errorf("second run summary: want 2 skipped, 3 failed; stderr:\n%s", stderr)
	}
	a = readAudit(t, audit)
	for _, im := range a.Images {
		want := "failed"
		if im.Input == astroIn || im.Input == groupIn {
			want = "skipped"
		}
		if im.Status != want {
			t.Errorf("second run: %s is %q, want %q", im.Input, im.Status, want)
		}
	}
	if got := treeState(t, out); !mapsEqual(got, outputs) {
		t.Errorf("second run changed the outputs")
	}

	// ---- --overwrite rewrites: an unhidden copy put in place of an output
	// is replaced by the anonymized image again.
	copyFile(t, astroIn, astroOut)
	code, _, stderr = runCLI(t, append([]string{"--overwrite"}, args...)...)
	if code != exitSomeFailed || !strings.Contains(stderr, "2 written, 0 skipped (output exists), 3 failed") {
		t.Errorf("--overwrite run: exit %d, want %d with 2 written; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	if got := treeState(t, out); !mapsEqual(got, outputs) {
		t.Errorf("--overwrite did not write the same outputs again:\n got %v\nwant %v", got, outputs)
	}

	// ---- with only good files left, a run exits 0.
	for _, p := range []string{corrupt, trunc, unreadable} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr = runCLI(t, args...)
	if code != exitOK || !strings.Contains(stderr, "0 written, 2 skipped (output exists), 0 failed") {
		t.Errorf("run over good files only: exit %d, want 0 with 2 skipped; stderr:\n%s", code, stderr)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ---- usage errors ------------------------------------------------------------

func TestUsageErrorsExit2(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in := filepath.Join(root, "in")
	copyFile(t, shared(t, "portrait_mpface.jpg"), filepath.Join(in, "p.jpg"))
	badConfig := corpus(t, "bad_style.toml")
	tests := []struct {
		name string
		args []string
		want []string // in stderr
		not  string   // must not be in stderr
	}{
		{"no paths", []string{"--config", cfg}, []string{"no input paths"}, ""},
		{"unknown flag", []string{"--config", cfg, "--bogus", in}, []string{"bogus"}, ""},
		{"bad style flag", []string{"--config", cfg, "--style", "smudge", in}, []string{"hide.style", "smudge"},
			cfg}, // the file is fine: the message must not blame it
		{"bad config", []string{"--config", badConfig, in}, []string{badConfig, "hide.style", "smudge"}, ""},
		{"missing config", []string{"--config", filepath.Join(root, "nope.toml"), in}, []string{"nope.toml"}, ""},
		{"unknown model", []string{"--config", cfg, "--model", "nosuchmodel", in}, []string{"nosuchmodel", "anonymize models list"}, ""},
		{"output is the input", []string{"--config", cfg, "--out", in, in}, []string{"is the input folder"}, ""},
		{"threshold out of range", []string{"--config", cfg, "--threshold", "1.5", in}, []string{"threshold", "1.5"}, ""},
	}
	before := treeState(t, root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if tt.not != "" && strings.Contains(stderr, tt.not) {
				t.Errorf("stderr mentions %q:\n%s", tt.not, stderr)
			}
			if after := treeState(t, root); !mapsEqual(after, before) {
				t.Errorf("a usage error wrote files: %q", sortedKeys(after))
			}
		})
	}
}

// ---- output placement ----------------------------------------------------------

func TestOutputInsideInput(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	copyFile(t, shared(t, "portrait_mpface.jpg"), filepath.Join(root, "in", "p.jpg"))
	t.Chdir(root) // relative paths, as a user types them
	for i, extra := range [][]string{nil, nil, {"--overwrite"}} {
		args := append([]string{"--config", cfg, "--jobs", "2", "--out", "in/out"}, extra...)
		code, _, stderr := runCLI(t, append(args, "in")...)
		if code != exitOK {
			t.Fatalf("run %d: exit %d; stderr:\n%s", i+1, code, stderr)
		}
		if got := sortedKeys(treeState(t, "in")); !slices.Equal(got, []string{"out/.anonymize-output", "out/p.jpg", "p.jpg"}) {
			t.Errorf("run %d: files under in: %q, want only p.jpg, out/p.jpg and the output mark (the output folder is not walked)", i+1, got)
		}
	}
}

// An --out that maps a single input file onto itself must neither replace
// the original (with --overwrite) nor pass it off as an existing output.
func TestOutputNeverReplacesInput(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	f := filepath.Join(root, "f.jpg")
	copyFile(t, shared(t, "portrait_mpface.jpg"), f)
	before := treeState(t, root)
	for _, extra := range [][]string{nil, {"--overwrite"}} {
		args := append([]string{"--config", cfg, "--out", root, f}, extra...)
		code, _, stderr := runCLI(t, args...)
		if code != exitSomeFailed || len(stderrLines(stderr, "is the input itself")) != 1 {
			t.Errorf("anonymize %s: exit %d, want %d with the file named as its own output; stderr:\n%s", strings.Join(args, " "), code, exitSomeFailed, stderr)
		}
		if after := treeState(t, root); !mapsEqual(after, before) {
			t.Fatalf("anonymize %s changed the folder: %v -> %v", strings.Join(args, " "), before, after)
		}
	}
}

func TestDefaultOutputNames(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	copyFile(t, shared(t, "portrait_mpface.jpg"), filepath.Join(root, "in", "sub", "p.jpg"))
	copyFile(t, shared(t, "portrait_mpface.jpg"), filepath.Join(root, "f.jpg"))
	for _, input := range []string{filepath.Join(root, "in"), filepath.Join(root, "f.jpg")} {
		if code, _, stderr := runCLI(t, "--config", cfg, "--jobs", "2", input); code != exitOK {
			t.Fatalf("anonymize %s: exit %d; stderr:\n%s", input, code, stderr)
		}
	}
	got := sortedKeys(treeState(t, root))
	want := []string{"f.jpg", "f_anonymized.jpg", "in/sub/p.jpg", "in_anonymized/sub/p.jpg"}
	if !slices.Equal(got, want) {
		t.Errorf("files: %q, want %q", got, want)
	}
}

func TestFlagsAfterPaths(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	copyFile(t, shared(t, "portrait_mpface.jpg"), filepath.Join(in, "p.jpg"))
	code, stdout, stderr := runCLI(t, in, "--out", out, "--quiet", "--config", cfg, "-j", "2")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if stderr != "" || stdout != "" {
		t.Errorf("--quiet printed stdout %q, stderr %q; want nothing", stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "p.jpg")); err != nil {
		t.Errorf("--out after the path was not applied: %v", err)
	}
	if _, err := os.Stat(in + "_anonymized"); err == nil {
		t.Errorf("output went to the default folder, not --out")
	}
}

func TestFormatConversionAndCollision(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()

	// A PNG written as JPEG.
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "a.png"))
	if code, _, stderr := runCLI(t, "--config", cfg, "--jobs", "2", "--format", "jpg", "--out", out, in); code != exitOK {
		t.Fatalf("--format jpg: exit %d; stderr:\n%s", code, stderr)
	}
	if got := sortedKeys(treeState(t, out)); !slices.Equal(got, []string{"a.jpg"}) {
		t.Errorf("--format jpg wrote %q, want a.jpg", got)
	}
	data, err := os.ReadFile(filepath.Join(out, "a.jpg"))
	if err != nil || !bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}) {
		t.Errorf("a.jpg is not a JPEG file (err %v)", err)
	}
	if p := decode(t, filepath.Join(out, "a.jpg")); p.w != 512 || p.h != 512 {
		t.Errorf("a.jpg is %dx%d, want 512x512", p.w, p.h)
	}

	// Two inputs that --format png maps onto one output.
	in2, out2, audit := filepath.Join(root, "in2"), filepath.Join(root, "out2"), filepath.Join(root, "audit.json")
	copyFile(t, shared(t, "portrait_mpface.jpg"), filepath.Join(in2, "a.jpg"))
	writePNG(t, filepath.Join(in2, "a.png"), 64, 48, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), uint8(y), 200, 255} })
	code, _, stderr := runCLI(t, "--config", cfg, "--jobs", "2", "--format", "png", "--out", out2, "--json", audit, in2)
	if code != exitSomeFailed {
		t.Fatalf("colliding outputs: exit %d, want %d; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	a := readAudit(t, audit)
	var done, failed []auditImage
	for _, im := range a.Images {
		switch im.Status {
		case "done":
			done = append(done, im)
		case "failed":
			failed = append(failed, im)
		}
	}
	if len(done) != 1 || len(failed) != 1 {
		t.Fatalf("audit: %+v; want one done and one failed", a.Images)
	}
	if !strings.Contains(failed[0].Error, "would also be written for "+done[0].Input) {
		t.Errorf("collision error %q does not name the other input %s", failed[0].Error, done[0].Input)
	}
	if l := stderrLines(stderr, "would also be written"); len(l) != 1 || !strings.Contains(l[0], failed[0].Input) {
		t.Errorf("stderr does not name %s once with the collision:\n%s", failed[0].Input, stderr)
	}
	if got := sortedKeys(treeState(t, out2)); !slices.Equal(got, []string{"a.png"}) {
		t.Fatalf("files written: %q, want a.png", got)
	}
	want, got := decode(t, done[0].Input), decode(t, filepath.Join(out2, "a.png"))
	if got.w != want.w || got.h != want.h {
		t.Errorf("a.png is %dx%d; it should come from %s, %dx%d", got.w, got.h, done[0].Input, want.w, want.h)
	}
}

// ---- other commands ----------------------------------------------------------

func TestVersion(t *testing.T) {
	cfg := repoConfig(t)
	code, stdout, stderr := runCLI(t, "version", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "anonymize ") || !regexp.MustCompile(`(?m)^onnx runtime \d+\.\d+\.\d+`).MatchString(stdout) {
		t.Errorf("version output %q: want the tool's version and an ONNX Runtime version", stdout)
	}
}

func TestModelsListMarksActive(t *testing.T) {
	repo := repoConfig(t)
	testenv.Model(t, "blazeface-front-128")
	other := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, other, []byte("models_dir = "+strconv.Quote(testenv.ModelsDir())+"\nmodel = \"blazeface-front-128\"\n"))
	for _, tt := range []struct {
		config string
		active []string
	}{{repo, []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar"}}, {other, []string{"blazeface-front-128"}}} {
		code, stdout, stderr := runCLI(t, "models", "list", "--config", tt.config)
		if code != exitOK {
			t.Fatalf("models list: exit %d; stderr:\n%s", code, stderr)
		}
		var marked []string
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "*") {
				marked = append(marked, strings.Fields(l)[1])
			}
		}
		if !slices.Equal(marked, tt.active) {
			t.Errorf("models list marks %q, want %q:\n%s", marked, tt.active, stdout)
		}
	}
}

// ---- known answers with the mock model -----------------------------------------

// TestMockModelKnownAnswer writes the mock model with `models mock` and runs
// it end to end. The mock scores the share of pure red pixels in the whole
// image (detection 0) and in its top-left quadrant (detection 1), threshold
// 0.5, so what must be hidden is known exactly.
func TestMockModelKnownAnswer(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	mock := filepath.Join(root, "mock")
	code, stdout, stderr := runCLI(t, "models", "mock", "--out", mock)
	if code != exitOK || !strings.Contains(stdout, mock) {
		t.Fatalf("models mock: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	red := color.NRGBA{255, 0, 0, 255}
	// Never pure red, never black.
	other := func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), uint8(y), 128, 255} }

	t.Run("all red", func(t *testing.T) {
		in, out, audit := filepath.Join(root, "red.png"), filepath.Join(root, "out-red"), filepath.Join(root, "red.json")
		writePNG(t, in, 40, 30, func(x, y int) color.NRGBA { return red })
		code, _, stderr := runCLI(t, "--config", cfg, "--model", mock, "--style", "solid", "--shape", "box", "--format", "png", "--out", out, "--json", audit, in)
		if code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		p := decode(t, filepath.Join(out, "red.png"))
		if p.w != 40 || p.h != 30 {
			t.Fatalf("output is %dx%d, want 40x30", p.w, p.h)
		}
		for i := 0; i < len(p.bgr); i += 3 {
			if px := [3]byte(p.bgr[i : i+3]); px != black {
				t.Fatalf("pixel (%d, %d) is %v, want the whole image black", i/3%p.w, i/3/p.w, px)
			}
		}
		im := readAudit(t, audit).image(t, in)
		if im.Model == nil || im.Model.Name != "mock" || len(im.Detections) == 0 {
			t.Fatalf("audit: %+v, want detections by the mock", im)
		}
		whole := im.Detections[0]
		if whole.Box == nil || *whole.Box != (struct{ X1, Y1, X2, Y2 float64 }{0, 0, 40, 30}) || whole.Score == nil || *whole.Score != 1 || whole.Label != "red" {
			t.Errorf("detection 0: %+v, want the whole image, score 1, label red", whole)
		}
	})

	t.Run("red quadrant", func(t *testing.T) {
		const w, h = 200, 160
		in, out, audit := filepath.Join(root, "quadrant.png"), filepath.Join(root, "out-quadrant"), filepath.Join(root, "quadrant.json")
		writePNG(t, in, w, h, func(x, y int) color.NRGBA {
			if x < w/2 && y < h/2 {
				return red
			}
			return other(x, y)
		})
		code, _, stderr := runCLI(t, "--config", cfg, "--model", mock, "--style", "solid", "--shape", "box", "--mask-scale", "1.3", "--format", "png", "--out", out, "--json", audit, in)
		if code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		im := readAudit(t, audit).image(t, in)
		if len(im.Detections) != 1 || im.Detections[0].Score == nil || *im.Detections[0].Score != 1 {
			t.Fatalf("detections %+v, want only the quadrant at score 1 (the whole image scores 0.25)", im.Detections)
		}
		// The quadrant [0, 100) x [0, 80) grown by 1.3 about its centre
		// (50, 40) is [-15, 115) x [-12, 92), clipped to the image.
		const x1, y1 = 115, 92
		src, p := decode(t, in), decode(t, filepath.Join(out, "quadrant.png"))
		bad := 0
		for y := range h {
			for x := range w {
				want := src.at(x, y)
				if x < x1 && y < y1 {
					want = black
				}
				if got := p.at(x, y); got != want && bad < 5 {
					bad++
					t.Errorf("pixel (%d, %d) is %v, want %v", x, y, got, want)
				}
			}
		}
		if got := p.at(w-1, h-1); got != src.at(w-1, h-1) {
			t.Errorf("the far bottom-right corner changed: %v -> %v", src.at(w-1, h-1), got)
		}
	})
}

// ---- failing closed ----------------------------------------------------------

// TestDetectorErrorHidesWholeImage runs a model that loads (its warm-up
// frame is black) but fails inside ONNX Runtime on any frame with a pixel
// above 0: its graph gathers from a one-element tensor at the index of the
// largest pixel value. The image must come out wholly hidden, and the run
// must say so and exit 1.
func TestDetectorErrorHidesWholeImage(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	dir := filepath.Join(root, "failing-model")
	writeFile(t, filepath.Join(dir, models.ModelFile), failingONNX())
	writeFile(t, filepath.Join(dir, models.ManifestFile), []byte(`name = "fails-on-content"
version = "1"
adapter = "tfod"
description = "Test model: ONNX Runtime fails on any frame that is not all black."
labels = ["face"]
label_base = 1
threshold = 0.5

[input]
name = "image"
dtype = "uint8"
layout = "nhwc"
colour = "rgb"
width = 0
height = 0
`))
	in, out, audit := filepath.Join(root, "in.png"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	writePNG(t, in, 40, 30, func(x, y int) color.NRGBA { return color.NRGBA{uint8(5 * x), uint8(7 * y), 90, 255} })
	code, _, stderr := runCLI(t, "--config", cfg, "--model", dir, "--style", "solid", "--format", "png", "--out", out, "--json", audit, in)
	if code != exitSomeFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	if !strings.Contains(stderr, "1 hidden whole after a detector error") {
		t.Errorf("summary does not count the image hidden whole:\n%s", stderr)
	}
	if l := stderrLines(stderr, "in.png"); len(l) != 1 || !strings.Contains(l[0], "level=ERROR") {
		t.Errorf("stderr does not name in.png in one error line:\n%s", stderr)
	}
	p := decode(t, filepath.Join(out, "in.png"))
	for i := 0; i < len(p.bgr); i += 3 {
		if px := [3]byte(p.bgr[i : i+3]); px != black {
			t.Fatalf("pixel (%d, %d) is %v: after a detector error the whole image must be hidden", i/3%p.w, i/3/p.w, px)
		}
	}
	if im := readAudit(t, audit).image(t, in); im.Status != "hidden-whole" || im.Error == "" {
		t.Errorf("audit: status %q, error %q; want hidden-whole with the error", im.Status, im.Error)
	}
}

// failingONNX is a model with the TF Object Detection API signature of the
// mock (mock.ONNX) whose num_detections is
// Gather([0.0], Reshape(ReduceMax(Cast(image, int64)), [1])): 0 for an
// all-black frame, an out-of-bounds index (an ONNX Runtime error) otherwise.
// It is built here with the protobuf wire format, field numbers as in
// onnx.proto.
func failingONNX() []byte {
	const (
		tFloat = 1
		tUint8 = 2
		tInt64 = 7
	)
	bytesField := func(b []byte, f protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, f, protowire.BytesType), v)
	}
	str := func(b []byte, f protowire.Number, s string) []byte { return bytesField(b, f, []byte(s)) }
	varint := func(b []byte, f protowire.Number, v int64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, f, protowire.VarintType), uint64(v))
	}
	// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9.
	tensor := func(name string, dtype int64, dims []int64, values ...float64) []byte {
		var b []byte
		for _, d := range dims {
			b = varint(b, 1, d)
		}
		b = varint(b, 2, dtype)
		b = str(b, 8, name)
		var raw []byte
		for _, v := range values {
			if dtype == tFloat {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
			} else {
				raw = binary.LittleEndian.AppendUint64(raw, uint64(int64(v)))
			}
		}
		return bytesField(b, 9, raw)
	}
	// AttributeProto: name = 1, i = 3, type = 20 (INT = 2).
	attrInt := func(name string, v int64) []byte { return varint(varint(str(nil, 1, name), 3, v), 20, 2) }
	// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
	node := func(op string, ins []string, out string, attrs ...[]byte) []byte {
		var b []byte
		for _, s := range ins {
			b = str(b, 1, s)
		}
		b = str(str(str(b, 2, out), 3, out), 4, op)
		for _, a := range attrs {
			b = bytesField(b, 5, a)
		}
		return b
	}
	// ValueInfoProto: name = 1, type = 2; TypeProto.tensor_type = 1;
	// Tensor: elem_type = 1, shape = 2; TensorShapeProto.dim = 1;
	// Dimension: dim_value = 1, dim_param = 2.
	valueInfo := func(name string, elem int64, dims ...any) []byte {
		var shape []byte
		for _, d := range dims {
			var dim []byte
			switch d := d.(type) {
			case int:
				dim = varint(nil, 1, int64(d))
			case string:
				dim = str(nil, 2, d)
			}
			shape = bytesField(shape, 1, dim)
		}
		tt := bytesField(varint(nil, 1, elem), 2, shape)
		return bytesField(str(nil, 1, name), 2, bytesField(nil, 1, tt))
	}
	// GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
	var g []byte
	for _, n := range [][]byte{
		node("Cast", []string{"image"}, "image_i64", attrInt("to", tInt64)),
		node("ReduceMax", []string{"image_i64"}, "max_4d", attrInt("keepdims", 1)),
		node("Reshape", []string{"max_4d", "shape_1"}, "max_index"),
		node("Gather", []string{"zero_1", "max_index"}, "num_detections", attrInt("axis", 0)),
		node("Identity", []string{"boxes"}, "detection_boxes"),
		node("Identity", []string{"scores"}, "detection_scores"),
		node("Identity", []string{"classes"}, "detection_classes"),
	} {
		g = bytesField(g, 1, n)
	}
	g = str(g, 2, "fails-on-content")
	for _, init := range [][]byte{
		tensor("shape_1", tInt64, []int64{1}, 1),
		tensor("zero_1", tFloat, []int64{1}, 0),
		tensor("boxes", tFloat, []int64{1, 1, 4}, 0, 0, 1, 1),
		tensor("scores", tFloat, []int64{1, 1}, 0),
		tensor("classes", tFloat, []int64{1, 1}, 1),
	} {
		g = bytesField(g, 5, init)
	}
	g = bytesField(g, 11, valueInfo("image", tUint8, 1, "height", "width", 3))
	g = bytesField(g, 12, valueInfo("detection_boxes", tFloat, 1, 1, 4))
	g = bytesField(g, 12, valueInfo("detection_scores", tFloat, 1, 1))
	g = bytesField(g, 12, valueInfo("detection_classes", tFloat, 1, 1))
	g = bytesField(g, 12, valueInfo("num_detections", tFloat, 1))
	// ModelProto: ir_version = 1, graph = 7, opset_import = 8
	// (OperatorSetIdProto.version = 2).
	m := varint(nil, 1, 8)
	m = bytesField(m, 7, g)
	return bytesField(m, 8, varint(nil, 2, 13))
}

// TestOutInsideInputKeepsOriginals: --out naming a folder inside the input
// that already holds photos anonymize did not write is refused with
// --overwrite (the original there would be replaced by the anonymized copy
// of its namesake); a new output folder inside the input is marked as
// anonymize's, so later --overwrite runs may replace what it wrote.
func TestOutInsideInputKeepsOriginals(t *testing.T) {
	cfg := repoConfig(t)
	in := t.TempDir()
	copyFile(t, shared(t, "group_uf2.jpg"), filepath.Join(in, "a.jpg"))
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "clean", "a.jpg")) // an original, not an output
	before := treeState(t, in)
	code, _, stderr := runCLI(t, "--config", cfg, "-q", "--overwrite", "--out", filepath.Join(in, "clean"), in)
	if code != exitUsage || !strings.Contains(stderr, "did not write") {
		t.Errorf("--out over originals inside the input with --overwrite: exit %d, %s; want %d and why", code, stderr, exitUsage)
	}
	if after := treeState(t, in); !mapsEqual(after, before) {
		t.Errorf("the input tree changed:\nbefore %v\nafter  %v", before, after)
	}

	fresh := filepath.Join(in, "anon")
	for run := 1; run <= 2; run++ {
		if code, _, stderr := runCLI(t, "--config", cfg, "-q", "--overwrite", "--out", fresh, in); code != exitOK {
			t.Fatalf("run %d into a new folder inside the input: exit %d, %s", run, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(fresh, ".anonymize-output")); err != nil {
		t.Errorf("output folder not marked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "a.jpg")); err != nil {
		t.Errorf("no output: %v", err)
	}
}
