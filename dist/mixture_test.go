package dist

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
)

// mixtureRef returns log Σ_j π_j Π_d N(x_d; μ_jd, σ_jd²) for one point,
// from distuv densities and log π_j = l_j − logsumexp(l).
func mixtureRef(logits, locs, scales, x []float64) float64 {
	m, d := len(logits), len(x)
	lse := floats.LogSumExp(logits)
	terms := make([]float64, m)
	for j := range m {
		terms[j] = logits[j] - lse
		for k := range d {
			terms[j] += distuv.Normal{Mu: locs[j*d+k], Sigma: scales[j*d+k]}.LogProb(x[k])
		}
	}
	return floats.LogSumExp(terms)
}

func TestMixtureLogProbGonum(t *testing.T) {
	const n, m, d = 5, 3, 2
	rng := newRNG(50)
	logits := randTensor(rng, -1, 1, m)
	locs := randTensor(rng, -2, 2, m, d)
	scales := randTensor(rng, 0.3, 1.5, m, d)
	x := randTensor(rng, -3, 3, n, d)
	want := make([]float64, n)
	for i := range n {
		want[i] = mixtureRef(logits.Data(), locs.Data(), scales.Data(), x.Data()[i*d:(i+1)*d])
	}
	for _, mx := range []*MixtureNormal{
		NewMixtureNormal(logits, locs, scales),
		NewMixtureNormalLogScale(logits, locs, ad.Log(scales)),
	} {
		lp := mx.LogProb(x)
		if !slices.Equal(lp.Shape(), []int{n}) {
			t.Fatalf("LogProb shape %v, want [%d]", lp.Shape(), n)
		}
		checkClose(t, "MixtureNormal vs distuv", lp.Data(), want)
	}

	// A batch of mixtures: per-point logits [n, m] with shared components.
	bl := randTensor(rng, -1, 1, n, m)
	bmx := NewMixtureNormal(bl, locs, scales)
	if want := []int{n, d}; !slices.Equal(bmx.Shape(), want) {
		t.Fatalf("batched Shape %v, want %v", bmx.Shape(), want)
	}
	for i := range n {
		want[i] = mixtureRef(bl.Data()[i*m:(i+1)*m], locs.Data(), scales.Data(), x.Data()[i*d:(i+1)*d])
	}
	checkClose(t, "batched MixtureNormal vs distuv", bmx.LogProb(x).Data(), want)

	// A batch of components [n, m, d] with shared logits [m].
	blocs := randTensor(rng, -2, 2, n, m, d)
	cmx := NewMixtureNormalLogScale(logits, blocs, ad.Log(scales))
	for i := range n {
		want[i] = mixtureRef(logits.Data(), blocs.Data()[i*m*d:(i+1)*m*d], scales.Data(), x.Data()[i*d:(i+1)*d])
	}
	checkClose(t, "MixtureNormal with batched components vs distuv", cmx.LogProb(x).Data(), want)
}

// TestMixtureMoments checks each coordinate's marginal, itself a mixture
// of univariate Normals, with moments
//
//	mean = Σ_j π_j μ_j,   σ² = Σ_j π_j (σ_j² + μ_j²) − mean²,
//	μ₄   = Σ_j π_j (δ_j⁴ + 6 δ_j² σ_j² + 3 σ_j⁴),   δ_j = μ_j − mean.
func TestMixtureMoments(t *testing.T) {
	const m, d = 3, 2
	logits := tensorOf([]float64{0, 1, -0.5}, m)
	locs := tensorOf([]float64{-2, 0, 0, 3, 1.5, -1}, m, d)
	scales := tensorOf([]float64{0.5, 1, 0.3, 0.7, 1.2, 0.2}, m, d)
	mx := NewMixtureNormal(logits, locs, scales)
	pi := mx.Probs().Data()
	x := mx.Sample(newRNG(51), nMC)
	if want := []int{nMC, d}; !slices.Equal(x.Shape(), want) {
		t.Fatalf("Sample shape %v, want %v", x.Shape(), want)
	}
	for k := range d {
		var mean, second float64
		for j := range m {
			mu, s := locs.Data()[j*d+k], scales.Data()[j*d+k]
			mean += pi[j] * mu
			second += pi[j] * (s*s + mu*mu)
		}
		var mu4 float64
		for j := range m {
			delta, s := locs.Data()[j*d+k]-mean, scales.Data()[j*d+k]
			mu4 += pi[j] * (delta*delta*delta*delta + 6*delta*delta*s*s + 3*s*s*s*s)
		}
		checkMoments(t, "MixtureNormal", column(x.Data(), k, d), mean, second-mean*mean, mu4)
	}
}

func TestMixtureGrad(t *testing.T) {
	const m, d = 3, 2
	rng := newRNG(52)
	logits := randTensor(rng, -1, 1, m)
	locs := randTensor(rng, -2, 2, m, d)
	scales := randTensor(rng, 0.5, 1.5, m, d)
	x := randTensor(rng, -2, 2, 4, d)
	checkGrad(t, "MixtureNormal.LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewMixtureNormal(ps[0], ps[1], ps[2]).LogProb(ps[3]))
	}, logits, locs, scales, x)
	checkGrad(t, "MixtureNormal(log σ).LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewMixtureNormalLogScale(ps[0], ps[1], ps[2]).LogProb(ps[3]))
	}, logits, locs, ad.Log(scales), x)

	// The score ∇ₓ log p, as HIS uses for a mixture target, differentiated
	// again.
	score := func(ps []*ad.Tensor) *ad.Tensor {
		xx := ps[3]
		if !xx.RequiresGrad() {
			xx = xx.Clone().RequireGrad()
		}
		lp := ad.Sum(NewMixtureNormal(ps[0], ps[1], ps[2]).LogProb(xx))
		return weightedSum(ad.GradGraph(lp, xx)[0])
	}
	checkGrad(t, "∇ₓ MixtureNormal.LogProb", score, logits, locs, scales, x)

	// A point far from every component: the log density is about −5e7,
	// and its gradient stays finite and goes to the nearest component.
	far := tensorOf([]float64{1e4, 1e4}, d).RequireGrad()
	mx := NewMixtureNormal(logits, locs, scales)
	lp := mx.LogProb(far)
	g := ad.Grad(lp, far)[0].Data()
	if math.IsInf(lp.Item(), 0) || math.IsNaN(lp.Item()) || slices.ContainsFunc(g, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }) {
		t.Errorf("far point: log p = %g, gradient %v; want finite", lp.Item(), g)
	}
}
