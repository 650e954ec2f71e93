package vsmc

import (
	"math"
	"slices"
	"testing"
)

// TestBaselineTextRoundTrip checks that a baseline's state survives
// MarshalText and UnmarshalText bit for bit, including unset steps, and
// that malformed text is refused without changing the baseline.
func TestBaselineTextRoundTrip(t *testing.T) {
	var b Baseline
	b.Decay = 0.8
	for _, u := range []struct {
		t int
		v float64
	}{{0, -12.5}, {3, math.Pi}, {3, -1e-300}, {5, 1.0 / 3}} {
		b.update(u.t, u.v)
	}
	text, err := b.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var c Baseline
	if err := c.UnmarshalText(text); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	bits := func(v []float64) []uint64 {
		var u []uint64
		for _, x := range v {
			u = append(u, math.Float64bits(x))
		}
		return u
	}
	if c.Decay != b.Decay || !slices.Equal(bits(c.mean), bits(b.mean)) || !slices.Equal(c.seen, b.seen) {
		t.Errorf("round trip of %s: got %+v, want %+v", text, c, b)
	}
	// The empty baseline too.
	var e, f Baseline
	text, _ = e.MarshalText()
	if err := f.UnmarshalText(text); err != nil || f.mean != nil || f.Decay != 0 {
		t.Errorf("empty baseline: %q → %+v, %v", text, f, err)
	}
	for _, bad := range []string{"", "decay=x;", "decay=0.9;3", "decay=0.9;3:1,1:2", "0.9;1:2"} {
		before := c
		if err := c.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
		if c.Decay != before.Decay || len(c.mean) != len(before.mean) {
			t.Errorf("%q changed the baseline", bad)
		}
	}
}
