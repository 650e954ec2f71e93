package vsmc

import (
	"fmt"
	"strconv"
	"strings"
)

// MarshalText encodes the baseline's state — Decay and every b_t set so
// far — exactly (shortest round-trip decimals), so that a training run can
// save it in a checkpoint and resume bit for bit:
//
//	decay=0.9;0:-12.5,3:-4.25
func (b *Baseline) MarshalText() ([]byte, error) {
	var parts []string
	for t, v := range b.mean {
		if b.seen[t] {
			parts = append(parts, strconv.Itoa(t)+":"+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return []byte("decay=" + strconv.FormatFloat(b.Decay, 'g', -1, 64) + ";" + strings.Join(parts, ",")), nil
}

// UnmarshalText restores a state written by MarshalText; on an error b is
// left as it was.
func (b *Baseline) UnmarshalText(text []byte) error {
	head, body, ok := strings.Cut(string(text), ";")
	d, found := strings.CutPrefix(head, "decay=")
	if !ok || !found {
		return fmt.Errorf("vsmc: Baseline.UnmarshalText: %q is not a baseline", text)
	}
	decay, err := strconv.ParseFloat(d, 64)
	if err != nil {
		return fmt.Errorf("vsmc: Baseline.UnmarshalText: decay: %w", err)
	}
	var mean []float64
	var seen []bool
	if body != "" {
		for _, p := range strings.Split(body, ",") {
			ts, vs, ok := strings.Cut(p, ":")
			t, err1 := strconv.Atoi(ts)
			v, err2 := strconv.ParseFloat(vs, 64)
			if !ok || err1 != nil || err2 != nil || t < len(mean) {
				return fmt.Errorf("vsmc: Baseline.UnmarshalText: bad entry %q", p)
			}
			for len(mean) <= t {
				mean, seen = append(mean, 0), append(seen, false)
			}
			mean[t], seen[t] = v, true
		}
	}
	b.Decay, b.mean, b.seen = decay, mean, seen
	return nil
}
