package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

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

	args := []string{"--config", cfg, "--out", out, "--style", "solid", "--format", "png", "--audit", audit, "--jobs", "2", in}

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
	// Each model is listed once; an image names the models that ran on it.
	wantRef := parts[0].Name + "@" + parts[0].Version + "+" + parts[1].Name + "@" + parts[1].Version
	if !reflect.DeepEqual(a.Models, parts) {
		t.Errorf("audit models %+v, want %+v", a.Models, parts)
	}
	if a.Summary.Done != 2 || a.Summary.Failed != 3 {
		t.Errorf("audit summary %+v, want 2 done and 3 failed", a.Summary)
	}
	boxesOf := func(im auditImage) [][4]float64 {
		t.Helper()
		if im.Status != "done" || im.Model != wantRef {
			t.Errorf("%s: status %q, models %q; want done by %q", im.Input, im.Status, im.Model, wantRef)
		}
		if in, out := treeState(t, filepath.Dir(im.Input))[filepath.Base(im.Input)], treeState(t, filepath.Dir(im.Output))[filepath.Base(im.Output)]; im.InputSHA != in || im.OutputSHA != out {
			t.Errorf("%s: sha256 %s -> %s in the audit, want %s -> %s", im.Input, im.InputSHA, im.OutputSHA, in, out)
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
	badConfig := filepath.Join(testenv.RepoRoot(), "internal", "config", "testdata", "config", "bad_style.toml")
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
	code, _, stderr := runCLI(t, "--config", cfg, "--jobs", "2", "--format", "png", "--out", out2, "--audit", audit, in2)
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

// TestAuditJSONDeprecated: --json still writes the audit record, for one
// release, and says to use --audit.
func TestAuditJSONDeprecated(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in, audit := filepath.Join(root, "in"), filepath.Join(root, "audit.json")
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "a.png"))
	code, _, stderr := runCLI(t, "--config", cfg, "--json", audit, "--out", filepath.Join(root, "out"), in)
	if code != exitOK || !strings.Contains(stderr, "--json is deprecated") {
		t.Fatalf("exit %d, stderr %q; want 0 and the deprecation", code, stderr)
	}
	if a := readAudit(t, audit); len(a.Images) != 1 || len(a.Models) != 2 {
		t.Errorf("audit record: %d images, %d models; want 1 and the 2 default face models", len(a.Images), len(a.Models))
	}
}

// astronautRGBA is the astronaut photo with an alpha ramp, as a PNG.
func astronautRGBA(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(shared(t, "astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	m := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
			c.A = uint8(55 + (x+y)%200)
			m.SetNRGBA(x, y, c)
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, m); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sameAlpha checks that PNG got has want's alpha, pixel for pixel.
func sameAlpha(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, err := png.Decode(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	g, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if g.Bounds() != w.Bounds() {
		t.Fatalf("%s: %v, want %v", what, g.Bounds(), w.Bounds())
	}
	for y := w.Bounds().Min.Y; y < w.Bounds().Max.Y; y++ {
		for x := w.Bounds().Min.X; x < w.Bounds().Max.X; x++ {
			if wa, ga := color.NRGBAModel.Convert(w.At(x, y)).(color.NRGBA).A, color.NRGBAModel.Convert(g.At(x, y)).(color.NRGBA).A; wa != ga {
				t.Fatalf("%s: alpha at (%d, %d) is %d, want %d (the input's)", what, x, y, ga, wa)
			}
		}
	}
}

// TestAlphaKept: an RGBA PNG comes out RGBA with the same alpha, its face
// hidden in the colour channels, from a folder run and from the service.
// (The alpha channel was dropped: the output was RGB.)
func TestAlphaKept(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in, out, audit := filepath.Join(root, "in"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	data := astronautRGBA(t)
	writeFile(t, filepath.Join(in, "a.png"), data)
	if code, _, stderr := runCLI(t, "--config", cfg, "--style", "solid", "--audit", audit, "--out", out, in); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sameAlpha(t, "folder run", data, readFile(t, filepath.Join(out, "a.png")))
	if im := readAudit(t, audit).image(t, filepath.Join(in, "a.png")); len(im.Detections) == 0 {
		t.Error("no face hidden in the RGBA photo")
	}
	srv := startServe(t, nil, "--config", defaultServeConfig(t))
	r := srv.post(t, "/v1/anonymize?style=solid", "image/png", data)
	if r.status != http.StatusOK || r.header.Get("X-Anonymize-Detections") == "0" {
		t.Fatalf("service: status %d, %s detections", r.status, r.header.Get("X-Anonymize-Detections"))
	}
	sameAlpha(t, "service", data, r.body)
}
