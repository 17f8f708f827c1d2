package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// nineFaces copies nine wider-dev photos into a new folder, three in each
// of three subfolders, and returns it.
func nineFaces(t *testing.T) string {
	t.Helper()
	src := shared(t, "wider-dev")
	var photos []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jpg") && len(photos) < 9 {
			photos = append(photos, p)
		}
		return nil
	})
	if len(photos) < 9 {
		t.Fatalf("wider-dev has %d photos, want 9", len(photos))
	}
	in := filepath.Join(t.TempDir(), "archive")
	for i, p := range photos {
		copyFile(t, p, filepath.Join(in, fmt.Sprintf("cam%d", i%3), filepath.Base(p)))
	}
	return in
}

var shardSummary = regexp.MustCompile(`(\d+) written, (\d+) skipped .* shard (\d)/3: took (\d+) of 9 files, left (\d+) to the other shards`)

// runShards runs the three shards of a folder run at once, as three
// workers over one shared folder, and returns each one's written and
// skipped counts (from its summary line).
func runShards(t *testing.T, cfg, in, out, audits string) (written, skipped [3]int) {
	var wg sync.WaitGroup
	var codes [3]int
	var stderrs [3]string
	for k := range 3 {
		wg.Go(func() {
			codes[k], _, stderrs[k] = runCLI(t, "--config", cfg, "--shard", fmt.Sprintf("%d/3", k+1), "--out", out,
				"--audit", filepath.Join(audits, fmt.Sprintf("shard%d.json", k+1)), "--jobs", "1", in)
		})
	}
	wg.Wait()
	for k := range 3 {
		m := shardSummary.FindStringSubmatch(stderrs[k])
		if codes[k] != exitOK || m == nil {
			t.Fatalf("shard %d/3: exit %d, want 0 and a summary naming the shard: %s", k+1, codes[k], stderrs[k])
		}
		written[k], _ = strconv.Atoi(m[1])
		skipped[k], _ = strconv.Atoi(m[2])
		took, _ := strconv.Atoi(m[4])
		left, _ := strconv.Atoi(m[5])
		if m[3] != strconv.Itoa(k+1) || took != written[k]+skipped[k] || took+left != 9 {
			t.Errorf("shard %d/3 summary: %s", k+1, m[0])
		}
	}
	return written, skipped
}

// TestShardsWriteEachOutputOnce: three --shard K/3 workers at once over
// nine photos write nine outputs, each by one worker (the audit records
// name each output once); run again, they write nothing and change
// nothing.
func TestShardsWriteEachOutputOnce(t *testing.T) {
	model := testenv.Model(t, "yunet-n-dynamic")
	cfg := testConfig(t, filepath.Dir(model), model, false, "", "")
	in, out := nineFaces(t), filepath.Join(t.TempDir(), "out")
	audits := t.TempDir()

	written, skipped := runShards(t, cfg, in, out, audits)
	if written[0]+written[1]+written[2] != 9 || skipped != [3]int{} {
		t.Errorf("shards wrote %v and skipped %v, want 9 written in all and none skipped", written, skipped)
	}
	writers := map[string][]int{}
	for k := range 3 {
		for _, im := range readAudit(t, filepath.Join(audits, fmt.Sprintf("shard%d.json", k+1))).Images {
			if im.Status != "done" {
				t.Errorf("shard %d/3: %s is %s: %s", k+1, im.Input, im.Status, im.Error)
			}
			writers[im.Output] = append(writers[im.Output], k+1)
		}
	}
	for o, ks := range writers {
		if len(ks) != 1 {
			t.Errorf("%s written by shards %v, want one", o, ks)
		}
	}
	state := treeState(t, out)
	var outputs []string
	for rel := range state {
		if strings.HasSuffix(rel, ".jpg") {
			outputs = append(outputs, rel)
		}
	}
	if len(writers) != 9 || len(outputs) != 9 {
		t.Errorf("%d outputs in the audit records, %d in %s; want 9: %v", len(writers), len(outputs), out, sortedKeys(state))
	}

	written, skipped = runShards(t, cfg, in, out, t.TempDir())
	if written != [3]int{} || skipped[0]+skipped[1]+skipped[2] != 9 {
		t.Errorf("re-run wrote %v and skipped %v, want nothing written and 9 skipped", written, skipped)
	}
	if again := treeState(t, out); fmt.Sprint(again) != fmt.Sprint(state) {
		t.Errorf("re-run changed the outputs")
	}
}

// TestShardNeedsItsIndex: a split with no index (run.shards set, no
// --shard and no JOB_COMPLETION_INDEX) writes nothing and exits 2; --shard
// with --watch is refused. The run's first line names its config.
func TestShardNeedsItsIndex(t *testing.T) {
	model := testenv.Model(t, "yunet-n-dynamic")
	cfg := testConfig(t, filepath.Dir(model), model, false, "", "[run]\nshards = 3")
	in, out := nineFaces(t), filepath.Join(t.TempDir(), "out")
	t.Setenv("ANONYMIZE_VIDEO_CRF", "23")
	code, _, stderr := runCLI(t, "--config", cfg, "--out", out, in)
	if code != exitUsage || !strings.Contains(stderr, "--shard K/3, or JOB_COMPLETION_INDEX") {
		t.Errorf("exit %d, want 2 asking for the shard: %s", code, stderr)
	}
	// The first line says which config file and variables the run used.
	if first, _, _ := strings.Cut(stderr, "\n"); !strings.Contains(first, "msg=config file="+cfg) || !strings.Contains(first, "environment=ANONYMIZE_VIDEO_CRF") {
		t.Errorf("first line %q does not name the config file %s and ANONYMIZE_VIDEO_CRF", first, cfg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was made", out)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "5")
	code, _, stderr = runCLI(t, "--config", cfg, "--out", out, in)
	if code != exitUsage || !strings.Contains(stderr, "JOB_COMPLETION_INDEX=5 is outside run.shards = 3") {
		t.Errorf("index 5 of 3: exit %d, want 2: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "--config", cfg, "--shard", "1/3", "--watch", "--out", out, in)
	if code != exitUsage || !strings.Contains(stderr, "splits a folder run") {
		t.Errorf("--shard --watch: exit %d, want 2: %s", code, stderr)
	}
	// run.shards (here from the Job's environment) with --watch would take
	// every file on every worker: refused too.
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	code, _, stderr = runCLI(t, "--config", cfg, "--watch", "--out", out, in)
	if code != exitUsage || !strings.Contains(stderr, "splits a folder run") {
		t.Errorf("run.shards 3 with --watch: exit %d, want 2: %s", code, stderr)
	}
}
