package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
)

// ModelNames splits the model setting: "faces,plates" runs two models.
// An alias naming several models ("faces") stands for all of them; a model
// named twice runs once.
func (c Config) ModelNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range splitList(c.Model) {
		names := []string{m}
		if r := c.ResolveAlias(m); r != m {
			names = splitList(r)
		}
		for _, n := range names {
			if !seen[n] || n == "" {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(m))
	}
	return out
}

// ResolveAlias maps an alias to what it names: one model, or several
// separated by commas.
func (c Config) ResolveAlias(name string) string {
	if m, ok := c.Aliases[name]; ok {
		return m
	}
	if m, ok := builtinAliases[name]; ok {
		return m
	}
	return name
}

// AliasNames is what name stands for: the models an alias names, or the
// name itself.
func (c Config) AliasNames(name string) []string {
	if r := c.ResolveAlias(name); r != name {
		return splitList(r)
	}
	return []string{name}
}

// Configured tells whether dir is one of the configured models.
func (c Config) Configured(dir string) bool {
	return slices.ContainsFunc(c.ModelDirs(), func(d string) bool { return filepath.Clean(d) == filepath.Clean(dir) })
}

// ModelDir resolves the first configured model.
func (c Config) ModelDir() string { return c.ResolveModel(c.ModelNames()[0]) }

// ModelDirs resolves every configured model (aliases included).
func (c Config) ModelDirs() []string {
	var out []string
	for _, m := range c.ModelNames() {
		out = append(out, c.ResolveModel(m))
	}
	return out
}

// ResolveModel turns a model name or a path into a folder (modelNames
// has expanded the aliases).
func (c Config) ResolveModel(m string) string {
	if strings.ContainsRune(m, os.PathSeparator) || strings.HasPrefix(m, ".") {
		return m
	}
	if st, err := os.Stat(filepath.Join(c.ModelsDir, m)); err == nil && st.IsDir() {
		return filepath.Join(c.ModelsDir, m)
	}
	if st, err := os.Stat(m); err == nil && st.IsDir() {
		return m
	}
	return filepath.Join(c.ModelsDir, m)
}

// Detector is the [detectors.X] settings of a model folder: the
// built-in ones (builtinDetectors), then the config's tables of every alias
// naming it (in name order), then its own table, each over the last, key by
// key.
func (c Config) Detector(dir string) (DetectorConfig, bool) {
	base := filepath.Base(dir)
	out, found := builtinDetectors[base]
	for _, name := range slices.Sorted(maps.Keys(c.Detectors)) {
		if name != base && slices.Contains(c.AliasNames(name), base) {
			overlay(&out, c.Detectors[name])
			found = true
		}
	}
	if d, ok := c.Detectors[base]; ok {
		overlay(&out, d)
		found = true
	}
	return out, found
}

// overlay sets every key of dst that src sets. A threshold set without
// bands replaces the bands below it too: the user asked for that threshold.
func overlay(dst *DetectorConfig, src DetectorConfig) {
	if src.Threshold > 0 && src.ThresholdBands == nil {
		dst.ThresholdBands = nil
	}
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range s.NumField() {
		if !s.Field(i).IsZero() {
			d.Field(i).Set(s.Field(i))
		}
	}
}

// Specs lists what to run: each configured model with its options.
func (c Config) Specs() []infer.Spec {
	var out []infer.Spec
	for _, dir := range c.ModelDirs() {
		out = append(out, c.SpecFor(dir))
	}
	return out
}

// SpecFor is how the model in dir runs under this config, configured or
// not (a model adopted while running gets its own [detectors] table too):
// the threshold and tiles of the run or of its table, the labels it hides,
// whether it runs on video, and its hiding style, which travels with the
// loaded model to every hider.
func (c Config) SpecFor(dir string) infer.Spec {
	o := infer.LoadOptions{Threshold: c.Threshold, Tiles: c.Tiles}
	d, ok := c.Detector(dir)
	if ok {
		if d.Threshold > 0 && !c.thresholdFlag {
			o.Threshold = d.Threshold
		}
		if !c.thresholdFlag {
			o.Bands, _ = convert.ParseBands(d.ThresholdBands) // Validate checked them
		}
		if d.Tiles != "" && !c.tilesFlag {
			o.Tiles = d.Tiles
		}
		o.Hide = d.Hide
		o.ImagesOnly = d.Video != nil && !*d.Video
	}
	st := c.StyleWith(d)
	o.Style = &st
	return infer.Spec{Dir: dir, Options: o}
}

// StyleWith is the hiding style of a model whose [detectors] table is d:
// [hide] with d's values over it.
func (c Config) StyleWith(d DetectorConfig) convert.Style {
	st := convert.Style{Style: c.Hide.Style, Shape: c.Hide.Shape, MaskScale: c.Hide.MaskScale, Colour: c.Hide.Colour}
	if d.Style != "" {
		st.Style = d.Style
	}
	if d.Shape != "" {
		st.Shape = d.Shape
	}
	if d.MaskScale != 0 {
		st.MaskScale = d.MaskScale
	}
	if d.Colour != "" {
		st.Colour = d.Colour
	}
	return st
}
