package nn

import (
	"fmt"

	"github.com/eimkit/eimkit/ad"
)

// Flatten returns the entries of ts concatenated in order, as one new
// vector: the view of a parameter set that finite-difference checks and
// vector-based optimizers work with.
func Flatten(ts []*ad.Tensor) []float64 {
	n := 0
	for _, t := range ts {
		n += t.Len()
	}
	x := make([]float64, 0, n)
	for _, t := range ts {
		x = append(x, t.Data()...)
	}
	return x
}

// SetFlat copies x into ts in place, the inverse of Flatten. It panics if
// len(x) is not the total number of entries of ts.
func SetFlat(ts []*ad.Tensor, x []float64) {
	off := 0
	for _, t := range ts {
		off += t.Len()
	}
	if off != len(x) {
		panic(fmt.Sprintf("nn: SetFlat: %d values for %d entries", len(x), off))
	}
	off = 0
	for _, t := range ts {
		copy(t.Data(), x[off:off+t.Len()])
		off += t.Len()
	}
}
