package batch

import (
	"errors"
	"fmt"
	"testing"
)

// TestShardOfIsStable: the shard of a path is fixed (workers of different
// versions, and a re-run, must agree), and paths spread over every shard.
func TestShardOfIsStable(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		n    int
		want int
	}{
		{"x", 1, 1},
		{"anything", 0, 1},
	} {
		if got := ShardOf(tc.rel, tc.n); got != tc.want {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", tc.rel, tc.n, got, tc.want)
		}
	}
	// Golden values: changing the hash would make a re-run of a half-done
	// split redo or miss files.
	golden := map[string]int{"a.jpg": 0, "2024/05/cam1.mp4": 0, "photos/IMG_0001.JPG": 0}
	for rel := range golden {
		golden[rel] = ShardOf(rel, 7)
	}
	if fmt.Sprint(golden) != "map[2024/05/cam1.mp4:2 a.jpg:7 photos/IMG_0001.JPG:2]" {
		t.Errorf("ShardOf changed: %v", golden)
	}
	counts := make([]int, 4)
	for i := range 400 {
		counts[ShardOf(fmt.Sprintf("dir%d/img%04d.jpg", i%7, i), 4)-1]++
	}
	for s, c := range counts {
		if c < 60 {
			t.Errorf("shard %d/4 got %d of 400 paths: %v", s+1, c, counts)
		}
	}
}

// TestSplitPartitions: the shards of a split hold every task exactly
// once, except an unplannable input, which every shard keeps.
func TestSplitPartitions(t *testing.T) {
	var tasks []Task
	for i := range 50 {
		tasks = append(tasks, Task{Input: fmt.Sprintf("in/%d.jpg", i), Rel: fmt.Sprintf("%d.jpg", i)})
	}
	tasks = append(tasks, Task{Input: "missing", Err: errors.New("no such file")})
	seen := map[string]int{}
	for k := 1; k <= 3; k++ {
		mine, left := Split(tasks, k, 3)
		if len(mine)+left != len(tasks) {
			t.Errorf("shard %d: %d kept + %d left != %d", k, len(mine), left, len(tasks))
		}
		for _, tk := range mine {
			seen[tk.Input]++
		}
	}
	for _, tk := range tasks {
		want := 1
		if tk.Err != nil {
			want = 3
		}
		if seen[tk.Input] != want {
			t.Errorf("%s taken by %d shards, want %d", tk.Input, seen[tk.Input], want)
		}
	}
}
