package config

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// maxShards caps run.shards: more workers than this over one folder only
// add contention on the shared volume.
const maxShards = 100_000

// ForceShard sets this worker's part of a folder run for this run (the
// --shard K/N flag, checked by Check): it beats run.shards and
// JOB_COMPLETION_INDEX. An empty kn is refused like any bad K/N, not read
// as no split (--shard="$SHARD" with SHARD unset would have every worker
// take every file).
func (c *Config) ForceShard(kn string) { c.shardFlag = &kn }

// Shard is the part of a folder run this worker takes, shard k of n
// (1-based): --shard K/N; else run.shards = N with JOB_COMPLETION_INDEX
// (0-based) + 1; 1 of 1 without a split. run.shards over 1 with no index
// is an error, since the worker would not know its files.
func (c Config) Shard() (k, n int, err error) {
	if c.shardFlag != nil {
		return parseShard(*c.shardFlag)
	}
	n = c.Run.Shards
	switch {
	case n <= 1:
		return 1, 1, nil
	case c.jobIndex == 0:
		return 0, 0, fmt.Errorf("run.shards = %d: say which shard this worker takes: --shard K/%d, or %s (set by a Kubernetes Indexed Job)", n, n, JobIndexEnv)
	case c.jobIndex > n:
		return 0, 0, fmt.Errorf("%s=%d is outside run.shards = %d (0..%d): set completions and run.shards (%s) alike", JobIndexEnv, c.jobIndex-1, n, n-1, EnvVar("run.shards"))
	}
	return c.jobIndex, n, nil
}

// JobIndexUnused reports JOB_COMPLETION_INDEX set while the run is not
// split: every pod of the Job would take every file.
func (c Config) JobIndexUnused() bool {
	return c.jobIndex > 0 && c.shardFlag == nil && c.Run.Shards <= 1
}

// parseShard reads K/N, 1 <= K <= N.
func parseShard(kn string) (k, n int, err error) {
	a, b, ok := strings.Cut(kn, "/")
	k, errK := strconv.Atoi(a)
	n, errN := strconv.Atoi(b)
	if !ok || errK != nil || errN != nil || n < 1 || n > maxShards || k < 1 || k > n {
		return 0, 0, fmt.Errorf("--shard %q: want K/N with 1 <= K <= N <= %d (e.g. 2/3: the second of three workers)", kn, maxShards)
	}
	return k, n, nil
}

// checkFleet checks the keys of split runs and of the token.
func (c Config) checkFleet(v *checker) {
	v.between("run.shards", c.Run.Shards, 0, maxShards)
	if c.shardFlag != nil {
		if _, _, err := parseShard(*c.shardFlag); err != nil {
			v.errs = append(v.errs, err)
		}
	}
	if c.Serve.Token != "" && c.Serve.TokenFile != "" {
		v.bad("serve.token_file", "serve.token is set too: keep one")
	}
}

// ServeToken is the service's bearer token: serve.token, or what
// serve.token_file holds (without its trailing line break). A token file
// that cannot be read, is empty or holds spaces is an error naming it:
// authentication is never turned off by a file gone wrong.
func (c Config) ServeToken() (string, error) {
	if c.Serve.TokenFile == "" {
		return c.Serve.Token, nil
	}
	data, err := readSmall(c.Serve.TokenFile, maxTokenBytes)
	if err != nil {
		return "", fmt.Errorf("serve.token_file: %w", err)
	}
	tok := strings.TrimRight(string(data), "\r\n")
	if tok == "" {
		return "", fmt.Errorf("serve.token_file %s is empty: an empty token would turn authentication off", c.Serve.TokenFile)
	}
	if strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7F }) >= 0 {
		return "", fmt.Errorf("serve.token_file %s: the token must not contain spaces or control characters", c.Serve.TokenFile)
	}
	return tok, nil
}

// maxTokenBytes caps a token file: a token is a line, not a file's worth
// (serve.token_file pointed at a log or /dev/zero would be read whole).
const maxTokenBytes = 4096

// readSmall reads the file at path, an error when it holds over max bytes.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s holds over %d bytes: not a token", path, max)
	}
	return data, nil
}

// Redacted is c with its secrets hidden, to be shown: serve.token, and
// the password of any URL (hub.mirror, hub.catalogs).
func (c Config) Redacted() Config {
	if c.Serve.Token != "" {
		c.Serve.Token = "REDACTED"
	}
	c.Hub.Mirror = redactURL(c.Hub.Mirror)
	c.Hub.Catalogs = append([]string(nil), c.Hub.Catalogs...)
	for i, s := range c.Hub.Catalogs {
		c.Hub.Catalogs[i] = redactURL(s)
	}
	return c
}

// redactURL hides the password of a URL with one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	return s
}
