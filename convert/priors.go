package convert

import "fmt"

// Prior (anchor) boxes of the SSD-style heads (retinaface, lpd_yunet).

// prior is one prior box in input-tensor pixels: centre and size.
type prior struct {
	cx, cy, w, h float32
}

// PriorOptions are the prior boxes of the SSD-style heads (retinaface,
// lpd_yunet: RetinaFaceOptions, LPDYuNetOptions); empty fields take the
// adapter's defaults (those of the origin repos).
type PriorOptions struct {
	// Steps is each level's stride in input pixels; MinSizes the sizes of
	// each level's square priors, in input pixels (one list per step).
	Steps    []int       `toml:"steps,omitempty"`
	MinSizes [][]float32 `toml:"min_sizes,omitempty"`
	// Variances are the centre and size variances of the box encoding.
	Variances []float32 `toml:"variances,omitempty"`
}

// priorLevels checks a head's prior configuration, filling in the defaults
// for the levels, sizes and variances that o leaves empty.
func priorLevels(adapter string, o PriorOptions, steps []int, minSizes [][]float32) ([]int, [][]float32, [2]float32, error) {
	var v [2]float32
	if len(o.Steps) > 0 || len(o.MinSizes) > 0 {
		steps, minSizes = o.Steps, o.MinSizes
	}
	if len(steps) == 0 || len(steps) != len(minSizes) {
		return nil, nil, v, fmt.Errorf("%s: %d prior steps for %d levels of min sizes: want one step per level", adapter, len(steps), len(minSizes))
	}
	for i, s := range steps {
		if s <= 0 {
			return nil, nil, v, fmt.Errorf("%s: prior step %d: must be positive", adapter, s)
		}
		if len(minSizes[i]) == 0 {
			return nil, nil, v, fmt.Errorf("%s: prior level %d has no min sizes", adapter, i)
		}
		for _, m := range minSizes[i] {
			if !(m > 0) {
				return nil, nil, v, fmt.Errorf("%s: prior level %d: min size %g must be positive", adapter, i, m)
			}
		}
	}
	switch len(o.Variances) {
	case 0:
		v = [2]float32{0.1, 0.2}
	case 2:
		v = [2]float32{o.Variances[0], o.Variances[1]}
		if !(v[0] > 0) || !(v[1] > 0) {
			return nil, nil, v, fmt.Errorf("%s: variances %v: both must be positive", adapter, o.Variances)
		}
	default:
		return nil, nil, v, fmt.Errorf("%s: variances %v: want 2 values (centre, size)", adapter, o.Variances)
	}
	cs := make([][]float32, len(minSizes))
	for i := range minSizes {
		cs[i] = append([]float32(nil), minSizes[i]...)
	}
	return append([]int(nil), steps...), cs, v, nil
}

// makePriors lists the priors level by level, then row by row, column by
// column, and min size by min size within a cell: level k has a
// rows[k] x cols[k] feature map, cell (i, j) centred at
// ((j+0.5)*step, (i+0.5)*step).
func makePriors(steps []int, minSizes [][]float32, rows, cols []int) []prior {
	n := 0
	for k := range steps {
		n += rows[k] * cols[k] * len(minSizes[k])
	}
	out := make([]prior, 0, n)
	for k, step := range steps {
		s := float32(step)
		for i := range rows[k] {
			for j := range cols[k] {
				for _, m := range minSizes[k] {
					out = append(out, prior{cx: (float32(j) + 0.5) * s, cy: (float32(i) + 0.5) * s, w: m, h: m})
				}
			}
		}
	}
	return out
}

// priorCache holds the priors of the model's fixed input size, made once;
// other sizes (dynamic inputs) are made per call.
type priorCache struct {
	w, h   int
	priors []prior
	make   func(w, h int) []prior
}

func newPriorCache(w, h int, mk func(w, h int) []prior) priorCache {
	c := priorCache{w: w, h: h, make: mk}
	if w > 0 && h > 0 {
		c.priors = mk(w, h)
	}
	return c
}

// get returns the priors of a w x h input tensor.
func (c priorCache) get(w, h int) []prior {
	if c.priors != nil && w == c.w && h == c.h {
		return c.priors
	}
	return c.make(w, h)
}

// count is the number of priors of the fixed input size, -1 when dynamic.
func (c priorCache) count() int64 {
	if c.priors == nil {
		return -1
	}
	return int64(len(c.priors))
}

// priorRows checks the outputs of a prior-based decoder (lpd_yunet,
// retinaface) against its contract, whose dimension rowDim holds the
// values of one prior, and returns the priors of lb's input size and each
// output's values, one row per prior.
func priorRows(adapter string, contract []TensorInfo, rowDim int, c priorCache, outs []Output, lb Letterbox) ([]prior, [][]float32, error) {
	if len(outs) != len(contract) {
		return nil, nil, fmt.Errorf("%s: want %d outputs, got %d", adapter, len(contract), len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", adapter, err)
	}
	priors := c.get(lb.DstW, lb.DstH)
	n := len(priors)
	data := make([][]float32, len(contract))
	for i, info := range contract {
		v, err := rows(outs[i], info.Name, "priors", n, int(info.Shape[rowDim]))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w (%d priors for a %dx%d input)", adapter, err, n, lb.DstW, lb.DstH)
		}
		data[i] = v
	}
	return priors, data, nil
}
