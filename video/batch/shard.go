package batch

import "hash/fnv"

// ShardOf is the shard, 1..n, that the input at rel (Task.Rel) falls to in
// a run split n ways: the FNV-1a 64-bit hash of rel, modulo n. It depends
// on nothing but rel and n, so workers over the same inputs agree on who
// writes what without talking to each other, and a re-run agrees with the
// run before it.
func ShardOf(rel string, n int) int {
	if n <= 1 {
		return 1
	}
	h := fnv.New64a()
	h.Write([]byte(rel))
	return int(h.Sum64()%uint64(n)) + 1
}

// Split keeps the tasks of shard k of n; left counts those that fall to
// the other shards. A task that could not be planned and has no Rel (an
// input path that does not exist, a folder that cannot be read) is kept by
// every shard, so each worker reports it.
func Split(tasks []Task, k, n int) (mine []Task, left int) {
	if n <= 1 {
		return tasks, 0
	}
	mine = make([]Task, 0, len(tasks)/n+1)
	for _, t := range tasks {
		if (t.Err != nil && t.Rel == "") || ShardOf(t.Rel, n) == k {
			mine = append(mine, t)
		} else {
			left++
		}
	}
	return mine, left
}
