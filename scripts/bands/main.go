// Command bands chooses the size-aware thresholds (threshold_bands) of a
// set of face detectors by a method meant to carry over to photos it never
// saw, and reports figures on photos it did not choose on:
//
//  1. Every labelled photo is also shrunk to 1/2 and 1/3 (area
//     interpolation, labels scaled with it), so that small faces, which
//     crowds and 1080p frames are full of, weigh as they do there.
//  2. Each model reports every candidate down to a low score once per
//     photo and scale (the slow part, cached in -cache).
//  3. Thresholds are chosen per model and per height band (edges -edges,
//     in source pixels) by coordinate ascent over a coarse grid: the
//     highest recall (faces at least half covered by the mask a run
//     applies) whose over-masking stays under -budget at every scale.
//  4. Cross-validation: the photos (each with its shrunk copies) are split
//     into halves at random, -repeats times; thresholds chosen on one half
//     are scored on the other. The figures to quote are these held-out
//     ones. The bands to ship are then chosen on all photos.
//
// Run from the repository root after scripts/setup.sh:
//
//	go run ./scripts/bands -images ../shared/data/faces/wider-dev -boxes ../shared/data/faces/wider-dev_boxes.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"log"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video/eval"
)

// instance is one photo at one scale, with every model's candidates.
type instance struct {
	Name  string              `json:"name"`
	Scale float64             `json:"scale"`
	W     int                 `json:"w"`
	H     int                 `json:"h"`
	Faces []convert.Box       `json:"faces"`
	Cands []convert.Detection `json:"cands"`
}

type opts struct {
	images, boxes, cfgPath, cache string
	models                        []string
	scales                        []float64
	edges                         []float32
	floor, budget                 float64
	repeats                       int
	start                         map[string]float32 // uniform thresholds to start from
}

func main() {
	var o opts
	var models, scales, edges, start string
	flag.StringVar(&o.images, "images", "", "labelled photos")
	flag.StringVar(&o.boxes, "boxes", "", "their face boxes")
	flag.StringVar(&o.cfgPath, "config", "config.toml", "config (runtime, models_dir, [hide])")
	flag.StringVar(&o.cache, "cache", "", "candidate cache file (written when missing)")
	flag.StringVar(&models, "models", "yunet-n-dynamic,yunet-s-640-opencvzoo-2023mar", "models, comma-separated")
	flag.StringVar(&scales, "scales", "1,0.5,0.3333", "scales of every photo")
	flag.StringVar(&edges, "edges", "20,50", "band edges in source pixels")
	flag.Float64Var(&o.floor, "floor", 0.02, "lowest candidate score")
	flag.Float64Var(&o.budget, "budget", 0.0015, "over-masking allowed beyond the uniform thresholds' at each scale")
	flag.IntVar(&o.repeats, "repeats", 3, "random halvings")
	flag.StringVar(&start, "start", "", "uniform thresholds to start from and keep for the tallest boxes, NAME=T,... (built in: the faces models' own)")
	flag.Parse()
	o.models = strings.Split(models, ",")
	o.start = map[string]float32{}
	for _, kv := range strings.Split(start, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 32)
		if !ok || err != nil {
			log.Fatalf("-start: %q: want NAME=T", kv)
		}
		o.start[k] = float32(f)
	}
	for _, s := range strings.Split(scales, ",") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 || v > 1 {
			log.Fatalf("-scales: %q", s)
		}
		o.scales = append(o.scales, v)
	}
	for _, s := range strings.Split(edges, ",") {
		v, err := strconv.ParseFloat(s, 32)
		if err != nil || v <= 0 {
			log.Fatalf("-edges: %q", s)
		}
		o.edges = append(o.edges, float32(v))
	}
	cfg, err := config.Load(o.cfgPath)
	if err != nil {
		log.Fatal(err)
	}
	ho, err := cfg.HideOptions()
	if err != nil {
		log.Fatal(err)
	}
	insts, err := candidates(cfg, o)
	if err != nil {
		log.Fatal(err)
	}
	s := &scorer{insts: insts, o: o, hide: ho}
	s.crossValidate()
}

// candidates are read from o.cache, or computed (and cached).
func candidates(cfg config.Config, o opts) ([]instance, error) {
	if o.cache != "" {
		if data, err := os.ReadFile(o.cache); err == nil {
			var insts []instance
			return insts, json.Unmarshal(data, &insts)
		}
	}
	labels, err := eval.LoadLabels(o.boxes)
	if err != nil {
		return nil, err
	}
	var insts []instance
	for mi, name := range o.models {
		c := cfg
		c.Model, _, _ = strings.Cut(name, "@")             // NAME@F: the photo enlarged F times
		if m, tiles, ok := strings.Cut(c.Model, "#"); ok { // NAME#TILES: with tiles
			c.Model, c.Tiles = m, tiles
		}
		up := 1.0
		if _, f, ok := strings.Cut(name, "@"); ok {
			if up, err = strconv.ParseFloat(f, 64); err != nil {
				return nil, fmt.Errorf("-models %s: %w", name, err)
			}
		}
		c.ForceThreshold(float32(o.floor))
		set, err := app.LoadDetector(c, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		k := 0
		for _, img := range slices.Sorted(maps.Keys(labels)) {
			for _, sc := range o.scales {
				if mi == 0 {
					insts = append(insts, instance{Name: img, Scale: sc})
				}
				if err := detectAt(set, filepath.Join(o.images, img), labels[img], &insts[k], name, up); err != nil {
					return nil, err
				}
				k++
			}
		}
		set.Close()
	}
	if o.cache != "" {
		data, _ := json.Marshal(insts)
		if err := os.WriteFile(o.cache, data, 0o644); err != nil {
			return nil, err
		}
	}
	return insts, nil
}

// detectAt adds model's candidates on the photo at path shrunk to in.Scale.
func detectAt(set interface {
	Detect(gocv.Mat) ([]convert.Detection, error)
}, path string, faces []convert.Box, in *instance, model string, up float64) error {
	src, sx, sy, err := eval.ReadScaled(path, 0, in.Scale) // as eval --scale shrinks it
	if err != nil {
		return err
	}
	defer src.Close()
	in.W, in.H = src.Cols(), src.Rows()
	if in.Faces == nil {
		in.Faces, _ = eval.ScaleBoxes(faces, sx, sy)
		if in.Faces == nil {
			in.Faces = []convert.Box{}
		}
	}
	if up != 1 {
		big := gocv.NewMat()
		defer big.Close()
		gocv.Resize(src, &big, image.Pt(int(math.Round(float64(in.W)*up)), int(math.Round(float64(in.H)*up))), 0, 0, gocv.InterpolationLinear)
		src = big
	}
	dets, err := set.Detect(src)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if up != 1 {
		for i := range dets {
			b := &dets[i].Box
			b.X1, b.Y1, b.X2, b.Y2 = b.X1/float32(up), b.Y1/float32(up), b.X2/float32(up), b.Y2/float32(up)
		}
	}
	for _, d := range dets {
		d.Model = model
		in.Cands = append(in.Cands, d)
	}
	return nil
}

// rng is seeded so that a run is repeatable.
var rng = rand.New(rand.NewPCG(1, 2))
