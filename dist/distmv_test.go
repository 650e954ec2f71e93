// This file compares Normal with gonum's stat/distmv.

package dist

import (
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distmv"

	"github.com/eimkit/eimkit/ad"
)

// gonumNormal returns the distmv Normal with mean loc and covariance
// diag(scale²).
func gonumNormal(t *testing.T, loc, scale []float64) *distmv.Normal {
	t.Helper()
	cov := mat.NewSymDense(len(loc), nil)
	for i, s := range scale {
		cov.SetSym(i, i, s*s)
	}
	n, ok := distmv.NewNormal(slices.Clone(loc), cov, nil)
	if !ok {
		t.Fatalf("distmv.NewNormal: covariance diag %v² not positive definite", scale)
	}
	return n
}

func TestNormalDistmv(t *testing.T) {
	const n, d = 4, 3
	rng := newRNG(11)
	lp, sp := randTensor(rng, -2, 2, n, d), randTensor(rng, 0.3, 3, n, d)
	lq, sq := randTensor(rng, -2, 2, n, d), randTensor(rng, 0.3, 3, n, d)
	x := randTensor(rng, -4, 4, n, d)
	var wantLP, wantH, wantKL []float64
	for r := range n {
		row := func(v *ad.Tensor) []float64 { return v.Data()[r*d : (r+1)*d] }
		gp, gq := gonumNormal(t, row(lp), row(sp)), gonumNormal(t, row(lq), row(sq))
		wantLP = append(wantLP, gp.LogProb(row(x)))
		wantH = append(wantH, gp.Entropy())
		wantKL = append(wantKL, distmv.KullbackLeibler{}.DistNormal(gp, gq))
	}
	for _, tc := range []struct {
		name string
		p, q *Normal
	}{
		{"NewNormal", NewNormal(lp, sp), NewNormal(lq, sq)},
		{"NewNormalLogScale", NewNormalLogScale(lp, ad.Log(sp)), NewNormalLogScale(lq, ad.Log(sq))},
	} {
		checkClose(t, tc.name+" LogProb vs distmv", tc.p.LogProb(x).Data(), wantLP)
		checkClose(t, tc.name+" Entropy vs distmv", tc.p.Entropy().Data(), wantH)
		checkClose(t, tc.name+" KL vs distmv", tc.p.KL(tc.q).Data(), wantKL)
	}
}
