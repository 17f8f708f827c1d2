package ffmpeg

import (
	"math"
	"testing"
)

func TestRational(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want Rational
	}{{25, Rational{25, 1}}, {29.97002997, Rational{30000, 1001}}, {59.94005994005994, Rational{60000, 1001}}, {12.5, Rational{25, 2}}, {23.976023976, Rational{24000, 1001}}, {0, Rational{}}, {math.Inf(1), Rational{}}} {
		if got := RationalOf(c.f); got != c.want {
			t.Errorf("RationalOf(%g) = %v, want %v", c.f, got, c.want)
		}
	}
	for s, want := range map[string]Rational{"30000/1001": {30000, 1001}, "25": {25, 1}, "25/1": {25, 1}} {
		if got, err := ParseRational(s); err != nil || got != want {
			t.Errorf("ParseRational(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"0/0", "1/0", "x", "-25"} {
		if _, err := ParseRational(s); err == nil {
			t.Errorf("ParseRational(%q): no error", s)
		}
	}
}
