package eimfamily

import (
	"errors"
	"math"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestSNISLogProbExact checks SNIS.LogProb against the enumeration of all
// K candidates of Alg. 2 (snisExactPMF), unconditionally and for every
// context, including points off the support (−Inf).
func TestSNISLogProbExact(t *testing.T) {
	f := newFixture()
	lw := f.prop.LogWeights()
	for _, k := range []int{1, 2, 5} {
		m := &SNIS{Proposal: f.prop, Energy: f.energy, K: k}
		x := ad.Concat(0, f.support(), ad.New([]float64{9, 9}, 1, 2))
		got, err := m.LogProb(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		want := snisExactPMF(lw, f.energies(), k)
		for j, p := range want {
			if d := math.Abs(got.Data()[j] - math.Log(p)); d > exactTol {
				t.Errorf("K = %d: log p_SNIS(s_%d) = %v, enumeration %v", k, j, got.Data()[j], math.Log(p))
			}
		}
		if v := got.Data()[len(want)]; !math.IsInf(v, -1) {
			t.Errorf("K = %d: log p_SNIS off the support = %v, want -Inf", k, v)
		}

		mc := &SNIS{Proposal: f.prop, Energy: f.cond, K: k}
		xc, ctx := f.condBatch()
		gotc, err := mc.LogProb(ctx, xc)
		if err != nil {
			t.Fatal(err)
		}
		for r, u := range f.condEnergies() {
			want := snisExactPMF(lw, u, k)
			for j, p := range want {
				if d := math.Abs(gotc.Data()[r*len(want)+j] - math.Log(p)); d > exactTol {
					t.Errorf("K = %d, context %d: log p_SNIS(s_%d) = %v, enumeration %v", k, r, j, gotc.Data()[r*len(want)+j], math.Log(p))
				}
			}
		}
	}
}

// TestTRSLogProbExact checks TRS.LogProb against the brute-force
// enumeration of every run of Alg. 1, and LARS.LogProb at LARS.ExactZ
// against it.
func TestTRSLogProbExact(t *testing.T) {
	f := newFixture()
	lw := f.prop.LogWeights()
	for _, T := range []int{1, 2, 4} {
		m := NewTRS(f.prop, f.energy, T)
		got, err := m.LogProb(nil, f.support())
		if err != nil {
			t.Fatal(err)
		}
		pmf, _ := trsBruteForce(lw, f.energies(), T)
		lars := NewLARS(f.prop, f.energy, T, 1)
		z, err := lars.ExactZ(nil)
		if err != nil {
			t.Fatal(err)
		}
		gl := lars.LogProb(nil, f.support(), z).Data()
		for j, p := range pmf {
			if d := math.Abs(got.Data()[j] - math.Log(p)); d > exactTol {
				t.Errorf("T = %d: log p_TRS(s_%d) = %v, enumeration %v", T, j, got.Data()[j], math.Log(p))
			}
			if d := math.Abs(gl[j] - math.Log(p)); d > exactTol {
				t.Errorf("T = %d: LARS at the exact Z: %v, enumeration %v", T, gl[j], math.Log(p))
			}
		}
		mc := NewTRS(f.prop, f.cond, T)
		xc, ctx := f.condBatch()
		gotc, err := mc.LogProb(ctx, xc)
		if err != nil {
			t.Fatal(err)
		}
		for r, u := range f.condEnergies() {
			pmf, _ := trsBruteForce(lw, u, T)
			for j, p := range pmf {
				if d := math.Abs(gotc.Data()[r*len(pmf)+j] - math.Log(p)); d > exactTol {
					t.Errorf("T = %d, context %d: log p_TRS(s_%d) = %v, enumeration %v", T, r, j, gotc.Data()[r*len(pmf)+j], math.Log(p))
				}
			}
		}
	}
}

// TestExactLogProbGradient checks the gradients of the exact densities in
// learnable logits and the energy against finite differences.
func TestExactLogProbGradient(t *testing.T) {
	f := newFixture()
	logits := ad.New(append([]float64(nil), fixLogits...), 6).RequireGrad()
	q := NewDiscrete(f.support(), logits)
	x := ad.New([]float64{-1.5, 0.2, 2.0, 1.5, 0.0, -1.0}, 3, 2)
	snis := &SNIS{Proposal: q, Energy: f.energy, K: 3}
	checkGrad(t, "SNIS.LogProb", snis.Params(), func() *ad.Tensor {
		lp, err := snis.LogProb(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		return ad.Sum(lp)
	})
	xc, ctx := f.condBatch()
	sc := &SNIS{Proposal: q, Energy: f.cond, K: 3}
	checkGrad(t, "SNIS.LogProb conditional", sc.Params(), func() *ad.Tensor {
		lp, err := sc.LogProb(ctx, xc)
		if err != nil {
			t.Fatal(err)
		}
		return ad.Sum(lp)
	})
	trs := NewTRS(q, f.energy, 3)
	checkGrad(t, "TRS.LogProb", append(q.Params(), f.energy.Params()...), func() *ad.Tensor {
		lp, err := trs.LogProb(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		return ad.Sum(lp)
	})
}

// TestExactLogProbErrors checks the errors for a continuous proposal and
// an enumeration that is too large.
func TestExactLogProbErrors(t *testing.T) {
	f := newFixture()
	x := f.support()
	if _, err := (&SNIS{Proposal: NewStdNormal(2, 1), Energy: f.energy, K: 3}).LogProb(nil, x); !errors.Is(err, ErrIntractable) {
		t.Errorf("SNIS over a Normal: error %v, want ErrIntractable", err)
	}
	if _, err := NewTRS(NewStdNormal(2, 1), f.energy, 3).LogProb(nil, x); !errors.Is(err, ErrIntractable) {
		t.Errorf("TRS over a Normal: error %v, want ErrIntractable", err)
	}
	if _, err := NewLARS(NewStdNormal(2, 1), f.energy, 3, 4).ExactZ(nil); !errors.Is(err, ErrIntractable) {
		t.Errorf("LARS over a Normal: error %v, want ErrIntractable", err)
	}
	if _, err := (&SNIS{Proposal: f.prop, Energy: f.energy, K: 1000}).LogProb(nil, x); !errors.Is(err, ErrTooLarge) {
		t.Errorf("SNIS with K = 1000 over 6 points: error %v, want ErrTooLarge", err)
	}
}
