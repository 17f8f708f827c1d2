package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// EnvPrefix starts the environment variables that override config keys:
// ANONYMIZE_ and the key in capitals with dots as underscores
// (serve.token_file: ANONYMIZE_SERVE_TOKEN_FILE). They apply over the
// config file and under the flags.
const EnvPrefix = "ANONYMIZE_"

// JobIndexEnv is the 0-based index a Kubernetes Indexed Job gives each of
// its pods: a folder run split into run.shards takes shard index+1.
const JobIndexEnv = "JOB_COMPLETION_INDEX"

// otherEnv are ANONYMIZE_ variables that are not config keys (read by the
// scripts and the tests), so they are not refused as unknown keys.
var otherEnv = map[string]bool{
	"ANONYMIZE_MODEL_MIRROR": true, // scripts/setup.sh: offline model files
	"ANONYMIZE_SAMPLES":      true, // scripts/demo.sh: sample photos
	"ANONYMIZE_SHARED":       true, // tests and benchmarks: the shared data
}

// secretKeys are never shown: not in errors, not by config check.
var secretKeys = map[string]bool{"serve.token": true}

// EnvVar is the environment variable that overrides key.
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvKeys are the config keys an environment variable can set, sorted:
// every key of a plain value (text, number, boolean or list of text); the
// tables [aliases] and [detectors] are for the file.
func EnvKeys() []string {
	var c Config
	keys := make([]string, 0, 64)
	for k := range keyFields(&c) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// keyFields maps each plain key of c to its settable field.
func keyFields(c *Config) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			switch fv := v.Field(i); fv.Kind() {
			case reflect.Struct:
				walk(fv, prefix+tag+".")
			case reflect.String, reflect.Int, reflect.Int64, reflect.Float32, reflect.Float64, reflect.Bool:
				out[prefix+tag] = fv
			case reflect.Slice:
				if fv.Type().Elem().Kind() == reflect.String {
					out[prefix+tag] = fv
				}
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// applyEnv sets the keys that ANONYMIZE_ variables in environ name, in
// the order of their names, and reads JOB_COMPLETION_INDEX. An unknown
// variable, a value that does not parse, and a value Check refuses are
// errors naming the variable. Paths are taken as given: relative to the
// working directory, not to the config file.
func (c *Config) applyEnv(environ []string) error {
	fields := keyFields(c)
	byVar := make(map[string]string, len(fields))
	for k := range fields {
		byVar[EnvVar(k)] = k
	}
	vars := append([]string(nil), environ...)
	sort.Strings(vars)
	hadToken := c.Serve.Token != "" || c.Serve.TokenFile != ""
	var errs []error
	for _, kv := range vars {
		name, val, _ := strings.Cut(kv, "=")
		if name == JobIndexEnv {
			errs = append(errs, c.setJobIndex(val))
			continue
		}
		if !strings.HasPrefix(name, EnvPrefix) || otherEnv[name] {
			continue
		}
		key, ok := byVar[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment %s: no such setting (the variables are %sKEY for a config key, e.g. %s; see docs/CONFIG.md)", name, EnvPrefix, EnvVar("run.jobs")))
			continue
		}
		errs = append(errs, c.setEnv(name, key, val, fields[key]))
	}
	if hadToken && c.Serve.Token == "" && c.Serve.TokenFile == "" {
		errs = append(errs, fmt.Errorf("environment %s: empty, it would turn authentication off (the config file sets a token): unset the variable, or set a token", c.emptiedToken()))
	}
	return errors.Join(errs...)
}

// emptiedToken names the variables that emptied the token keys.
func (c *Config) emptiedToken() string {
	var names []string
	for _, n := range c.fromEnv {
		if n == EnvVar("serve.token") || n == EnvVar("serve.token_file") {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// setEnv sets key from the variable name and blames it for every problem
// Check finds after it that it did not find before.
func (c *Config) setEnv(name, key, val string, field reflect.Value) error {
	shown := fmt.Sprintf("%s=%q", name, redactURL(val))
	if secretKeys[key] {
		shown = name
	}
	before := problems(c.Check())
	if err := setField(field, val); err != nil {
		return fmt.Errorf("environment %s: %s: %v", shown, key, err)
	}
	c.fromEnv = append(c.fromEnv, name)
	var found []string
	for p := range problems(c.Check()) {
		if !before[p] {
			found = append(found, p)
		}
	}
	sort.Strings(found)
	var errs []error
	for _, p := range found {
		errs = append(errs, fmt.Errorf("environment %s: %s", shown, p))
	}
	return errors.Join(errs...)
}

// problems are the messages of a joined error, as a set.
func problems(err error) map[string]bool {
	out := map[string]bool{}
	if err == nil {
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out[e.Error()] = true
		}
		return out
	}
	out[err.Error()] = true
	return out
}

// setField parses val into f by f's type; a list is comma-separated.
func setField(f reflect.Value, val string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%q is not true or false", val)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		f.SetInt(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", val)
		}
		f.SetFloat(x)
	case reflect.Slice:
		list := []string{}
		for _, e := range strings.Split(val, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
		f.Set(reflect.ValueOf(list))
	}
	return nil
}

// setJobIndex reads JOB_COMPLETION_INDEX (0-based).
func (c *Config) setJobIndex(val string) error {
	n, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || n < 0 || n >= maxShards {
		return fmt.Errorf("environment %s=%q: want the 0-based index of this pod of an Indexed Job", JobIndexEnv, val)
	}
	c.jobIndex = n + 1
	return nil
}

// FromEnv are the ANONYMIZE_ variables that set keys of c, sorted.
func (c Config) FromEnv() []string { return append([]string(nil), c.fromEnv...) }
