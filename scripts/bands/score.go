package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video/eval"
	"github.com/anonymize/anonymize/video/hide"
)

// grid is the thresholds a band may take: coarse, so that a choice cannot
// follow the noise of a few faces.
var grid = []float32{0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7}

// thresholds are per model, per band.
type thresholds [][]float32

func (t thresholds) clone() thresholds {
	out := make(thresholds, len(t))
	for i := range t {
		out[i] = slices.Clone(t[i])
	}
	return out
}

// figures are what a choice gives on a set of instances, by scale.
type figures struct {
	faces, hidden []int
	over          []float64 // summed over instances
	n             []int
}

func (f figures) recall() float64 { return ratio(sum(f.hidden), sum(f.faces)) }

func (f figures) recallAt(i int) float64 { return ratio(f.hidden[i], f.faces[i]) }

func (f figures) overAt(i int) float64 { return f.over[i] / float64(max(1, f.n[i])) }

// worstOver is the highest mean over-masking of any scale.
func (f figures) worstOver() float64 {
	w := 0.0
	for i := range f.n {
		w = max(w, f.overAt(i))
	}
	return w
}

type scorer struct {
	insts []instance
	o     opts
	hide  hide.Options
}

// score measures thresholds t on the instances picked.
func (s *scorer) score(t thresholds, pick []bool) figures {
	ns := len(s.o.scales)
	f := figures{faces: make([]int, ns), hidden: make([]int, ns), over: make([]float64, ns), n: make([]int, ns)}
	for i, in := range s.insts {
		if !pick[i] {
			continue
		}
		si := slices.Index(s.o.scales, in.Scale)
		dets := s.keep(in, t)
		cover, over := eval.Score(dets, in.Faces, in.W, in.H, s.hide, nil)
		f.faces[si] += len(in.Faces)
		for _, c := range cover {
			if c >= 0.5 {
				f.hidden[si]++
			}
		}
		f.over[si] += over
		f.n[si]++
	}
	return f
}

// keep is what the models report under t, merged across models as a run
// merges them.
func (s *scorer) keep(in instance, t thresholds) []convert.Detection {
	var out []convert.Detection
	for _, d := range in.Cands {
		mi := slices.Index(s.o.models, d.Model)
		if d.Score >= t[mi][s.band(d.Box.H())] {
			out = append(out, d)
		}
	}
	return convert.MergeAcross(out, 0.5)
}

func (s *scorer) band(h float32) int {
	for i, e := range s.o.edges {
		if h < e {
			return i
		}
	}
	return len(s.o.edges)
}

// excess is how far f over-masks beyond the allowance at its worst scale:
// the uniform thresholds' over-masking there (on the same photos) plus
// -budget (0 or less: within it).
func (s *scorer) excess(f, base figures) float64 {
	e := math.Inf(-1)
	for i := range f.n {
		e = max(e, f.overAt(i)-base.overAt(i)-s.o.budget)
	}
	return e
}

// better: within the allowance beats over it; then higher recall; then
// less over-masking.
func (s *scorer) better(a, b, base figures) bool {
	ea, eb := s.excess(a, base), s.excess(b, base)
	if (ea <= 0) != (eb <= 0) {
		return ea <= 0
	}
	if ea > 0 {
		return ea < eb
	}
	if ra, rb := a.recall(), b.recall(); ra != rb {
		return ra > rb
	}
	return ea < eb
}

// allowed: thresholds never fall as boxes grow, and the tallest band
// keeps the uniform threshold: a large face is the one most easily
// recognised, so no choice may trade it away for small ones.
func allowed(t, start thresholds) bool {
	for m := range t {
		last := len(t[m]) - 1
		if t[m][last] != start[m][last] {
			return false
		}
		for b := range last {
			if t[m][b] > t[m][b+1] {
				return false
			}
		}
	}
	return true
}

// choose runs coordinate ascent from start over the grid on the picked
// instances until no single threshold change is better.
func (s *scorer) choose(start thresholds, pick []bool) (thresholds, figures) {
	best, bf := start.clone(), s.score(start, pick)
	base := bf
	for range 4 {
		moved := false
		for m := range best {
			for b := range best[m] {
				for _, g := range grid {
					if g == best[m][b] {
						continue
					}
					t := best.clone()
					t[m][b] = g
					if !allowed(t, start) {
						continue
					}
					if tf := s.score(t, pick); s.better(tf, bf, base) {
						best, bf, moved = t, tf, true
					}
				}
			}
		}
		if !moved {
			break
		}
	}
	return best, bf
}

// crossValidate prints held-out figures of the method, then the bands it
// chooses on every photo.
func (s *scorer) crossValidate() {
	start := s.uniform()
	names := s.names()
	all := s.pick(func(string) bool { return true })
	fmt.Printf("uniform %s on all: %s\n", s.format(start), s.line(s.score(start, all)))
	var held []figures
	var base []figures
	for r := range s.o.repeats {
		perm := rng.Perm(len(names))
		half := map[string]bool{}
		for _, i := range perm[:len(names)/2] {
			half[names[i]] = true
		}
		for side := range 2 {
			train := s.pick(func(n string) bool { return half[n] == (side == 0) })
			test := s.pick(func(n string) bool { return half[n] != (side == 0) })
			t, tf := s.choose(start, train)
			hf := s.score(t, test)
			held, base = append(held, hf), append(base, s.score(start, test))
			fmt.Printf("split %d.%d: chose %s\n  train: %s\n  held out: %s\n  uniform held out: %s\n", r+1, side+1, s.format(t), s.line(tf), s.line(hf), s.line(base[len(base)-1]))
		}
	}
	if len(held) > 0 {
		fmt.Printf("held-out mean, method: %s\nheld-out mean, uniform: %s\n", s.mean(held), s.mean(base))
	}
	t, f := s.choose(start, all)
	fmt.Printf("chosen on all photos: %s\n  %s\n", s.format(t), s.line(f))
}

// uniform is every model at its configured threshold at every height.
func (s *scorer) uniform() thresholds {
	def := map[string]float32{"yunet-n-dynamic": 0.25, "yunet-s-640-opencvzoo-2023mar": 0.15}
	for name, v := range s.o.start {
		def[name] = v
	}
	t := make(thresholds, len(s.o.models))
	for m, name := range s.o.models {
		base, _, _ := strings.Cut(name, "@")
		base, _, _ = strings.Cut(base, "#")
		v, ok := def[base]
		if !ok {
			v = 0.5
		}
		for range len(s.o.edges) + 1 {
			t[m] = append(t[m], v)
		}
	}
	return t
}

func (s *scorer) names() []string {
	var out []string
	for _, in := range s.insts {
		if !slices.Contains(out, in.Name) {
			out = append(out, in.Name)
		}
	}
	return out
}

func (s *scorer) pick(f func(string) bool) []bool {
	p := make([]bool, len(s.insts))
	for i, in := range s.insts {
		p[i] = f(in.Name)
	}
	return p
}

func (s *scorer) line(f figures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "recall %.3f", f.recall())
	for i, sc := range s.o.scales {
		fmt.Fprintf(&b, " | x%.2f %.3f over %.2f%%", sc, f.recallAt(i), 100*f.overAt(i))
	}
	return b.String()
}

func (s *scorer) mean(fs []figures) string {
	var b strings.Builder
	for i, sc := range s.o.scales {
		var r, o float64
		for _, f := range fs {
			r += f.recallAt(i)
			o += f.overAt(i)
		}
		fmt.Fprintf(&b, " x%.2f recall %.3f over %.2f%%;", sc, r/float64(len(fs)), 100*o/float64(len(fs)))
	}
	return b.String()
}

// format writes t as config tables.
func (s *scorer) format(t thresholds) string {
	var b strings.Builder
	for m, name := range s.o.models {
		var bs convert.Bands
		for i, v := range t[m] {
			e := float32(0)
			if i < len(s.o.edges) {
				e = s.o.edges[i]
			}
			bs = append(bs, convert.Band{MaxHeight: e, Threshold: v})
		}
		fmt.Fprintf(&b, "%s=%s ", name, bs)
	}
	return b.String()
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
