package proofs_test

// Gradient estimators (package estimators) on the closed-form IWAE bound of
// package iwae: the surrogate of every estimator has the value of
// iwae.IntegrandAt at the same draws, and at q = p(z | x) the STL and DReG
// gradients for q's parameters vanish draw by draw (Tucker et al. 2019).
// Tolerance 1e-12: both are identities.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/iwae"
)

// dregGaussModel is z ~ N(0, 1), x | z ~ N(z, σ²), for x [n, 1] and z [..., n, 1].
type dregGaussModel struct{ sigma float64 }

func (m dregGaussModel) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	zz := ad.Sum(z, -1)
	xx := ad.Sum(ad.BroadcastTo(x, z.Shape()...), -1)
	d := ad.MulScalar(ad.Sub(xx, zz), 1/m.sigma)
	lp := ad.Add(ad.MulScalar(ad.Square(zz), -0.5), ad.MulScalar(ad.Square(d), -0.5))
	return ad.AddScalar(lp, -math.Log(2*math.Pi)-math.Log(m.sigma))
}

func TestGradientEstimatorsOnIWAE(t *testing.T) {
	m := dregGaussModel{sigma: 0.8}
	const xv, K = 1.1, 16
	s2 := m.sigma * m.sigma
	for _, atPosterior := range []bool{false, true} {
		loc, logScale := 0.2, -0.3
		if atPosterior {
			loc, logScale = xv/(1+s2), 0.5*math.Log(s2/(1+s2))
		}
		for _, e := range []estimators.GradientEstimator{estimators.Reparameterized, estimators.STL, estimators.DReG} {
			q := &eimfamily.Normal{Loc: ad.Full(loc, 1).RequireGrad(), LogScale: ad.Full(logScale, 1).RequireGrad()}
			qStop := &eimfamily.Normal{Loc: q.Loc.Detach(), LogScale: q.LogScale.Detach()}
			x := ad.New([]float64{xv, xv, xv, xv}, 4, 1)
			z := q.Sample(rand.New(rand.NewPCG(1, 2)), x, K) // [K, 4, 1]
			terms := estimators.IWAETerms{
				LogP:         m.LogJoint(x, z),
				LogQ:         q.LogProb(x, z),
				LogQStopped:  qStop.LogProb(x, z),
				LogPStoppedZ: m.LogJoint(x, z.Detach()),
			}
			sur := estimators.IWAESurrogate(e, terms)
			want := iwae.IntegrandAt(m, q, x, z).Data()
			for i, v := range sur.Data() {
				if math.Abs(v-want[i]) > 1e-12 {
					t.Errorf("%v: surrogate %v, iwae.IntegrandAt %v", e, v, want[i])
				}
			}
			if !atPosterior {
				continue
			}
			g := ad.Grad(ad.Sum(sur), q.Loc, q.LogScale)
			size := math.Abs(g[0].Item()) + math.Abs(g[1].Item())
			if e == estimators.Reparameterized {
				if size < 1e-6 {
					t.Errorf("reparameterized at the posterior: |∇φ| = %g, want the nonzero score noise", size)
				}
			} else if size > 1e-12 {
				t.Errorf("%v at the posterior: |∇φ| = %g, want 0", e, size)
			}
		}
	}
}
