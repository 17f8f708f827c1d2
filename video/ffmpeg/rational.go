package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Rational is a frame rate as ffmpeg keeps it, e.g. 30000/1001.
type Rational struct{ Num, Den int }

// Valid reports whether r is a positive, finite rate.
func (r Rational) Valid() bool { return r.Num > 0 && r.Den > 0 }

// Float is r as a number (0 when r is not valid).
func (r Rational) Float() float64 {
	if !r.Valid() {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// String is "Num/Den", which ffmpeg's -r takes exactly.
func (r Rational) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// ParseRational reads "30000/1001" or "25".
func ParseRational(s string) (Rational, error) {
	n, d, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		d = "1"
	}
	num, err1 := strconv.Atoi(n)
	den, err2 := strconv.Atoi(d)
	if err1 != nil || err2 != nil {
		return Rational{}, fmt.Errorf("frame rate %q: not a number or a ratio", s)
	}
	r := Rational{num, den}
	if !r.Valid() {
		return Rational{}, fmt.Errorf("frame rate %q: not positive", s)
	}
	return r, nil
}

// RationalOf approximates f: NTSC rates (24000/1001, 30000/1001, ...) and
// whole or millesimal rates come out exact.
func RationalOf(f float64) Rational {
	if !(f > 0) || math.IsInf(f, 0) {
		return Rational{}
	}
	// 29.97 and 29.97002997 both mean 30000/1001.
	if n := math.Round(f*1.001) * 1000; n > 0 && math.Abs(n/1001-f) < 5e-4 {
		return Rational{int(n), 1001}
	}
	return Rational{int(math.Round(f * 1000)), 1000}.reduce()
}

func (r Rational) reduce() Rational {
	a, b := r.Num, r.Den
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return r
	}
	return Rational{r.Num / a, r.Den / a}
}
