package proofs_test

// The bounds of auxiliary variable variational inference (Lawson et al.
// 2019, Sec. 5, Eq. 1, 4 and 8) on a finite model, every avviExpectation
// computed by enumeration through package avvi's integrands:
//
//	log p(x) ≥ ELBO of q(z | x) ≥ Eq. 4 ≥ Eq. 8 ≥ Eq. 8 augmented once more,
//
// with each gap equal, to 1e-12, to the KL divergence the paper names:
//
//	log p(x) − ELBO    = KL(q(z | x) ‖ p(z | x))                        (Eq. 1)
//	log p(x) − Eq. 4   = KL(q(z | x) ‖ p(z | x)) + E_q KL(q(λ | z, x) ‖ r(λ | z, x))   (Eq. 4)
//	Eq. 4 − Eq. 8      = E_q KL(s(γ | z, λ, x) ‖ r(γ | λ, z, x))            (Eq. 8)
//	Eq. 8 − Eq. 8'     = E_{q s} KL(t(δ | z, λ, γ, x) ‖ u(δ | z, λ, γ, x))
//
// where Eq. 8' augments s by δ ~ t and r(λ, γ | z, x) by u (Sec. 5.2's
// recursive augmentation, built with avvi.Extend and no other code), and
// E[exp(integrand)] = p(x) to 1e-12 for every bound, the two-sample bound
// of avvi.MultiSample included.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
)

// avviExactTol is the absolute tolerance of an identity between two
// enumerations: sums of at most a few hundred terms of size ≲ 10, so
// rounding stays near 1e-14.
const avviExactTol = 1e-12

// finX is the (fixed) data point of the finite model.
type finX struct{}

// finModel is a model with z ∈ {0..m−1} and auxiliary variables λ, γ, δ with
// a few values each, all distributions given by tables of log
// probabilities:
//
//	p(x, z), q(z, λ | x), s(γ | z, λ, x), t(δ | z, λ, γ, x),
//	r(λ, γ | z, x), r(λ | z, x) = Σ_γ r(λ, γ | z, x), u(δ | z, λ, γ, x).
type finModel struct {
	logPXZ []float64       // [z]
	logQ   [][]float64     // [z][λ], normalized over (z, λ)
	logS   [][][]float64   // [z][λ][γ], normalized over γ
	logT   [][][][]float64 // [z][λ][γ][δ], normalized over δ
	logRJ  [][][]float64   // [z][λ][γ], normalized over (λ, γ)
	logU   [][][][]float64 // [z][λ][γ][δ], normalized over δ
	logR   [][]float64     // [z][λ], the λ-marginal of logRJ
}

const (
	finM, finL, finG, finD = 4, 3, 2, 2
)

// newFinModel draws the tables from a fixed seed: log-probabilities from
// logits uniform on [−2, 2], and log p(x, z) uniform on [−3, −1].
func newFinModel() *finModel {
	rng := rand.New(rand.NewPCG(2019, 5))
	logits := func(n int) []float64 {
		l := make([]float64, n)
		for i := range l {
			l[i] = -2 + 4*rng.Float64()
		}
		return ad.LogSoftmax(ad.New(l, n), 0).Data()
	}
	f := &finModel{logPXZ: make([]float64, finM)}
	for z := range finM {
		f.logPXZ[z] = -3 + 2*rng.Float64()
	}
	q := logits(finM * finL)
	for z := range finM {
		f.logQ = append(f.logQ, q[z*finL:(z+1)*finL])
		var s [][]float64
		var t, u [][][]float64
		rj := logits(finL * finG)
		var rjz [][]float64
		r := make([]float64, finL)
		for l := range finL {
			s = append(s, logits(finG))
			rjz = append(rjz, rj[l*finG:(l+1)*finG])
			r[l] = avviLogSumExp(rj[l*finG : (l+1)*finG])
			var tl, ul [][]float64
			for range finG {
				tl = append(tl, logits(finD))
				ul = append(ul, logits(finD))
			}
			t, u = append(t, tl), append(u, ul)
		}
		f.logS, f.logT, f.logRJ, f.logU, f.logR = append(f.logS, s), append(f.logT, t), append(f.logRJ, rjz), append(f.logU, u), append(f.logR, r)
	}
	return f
}

func avviLogSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// avviKL returns KL(a ‖ b) for log probability vectors.
func avviKL(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += math.Exp(a[i]) * (a[i] - b[i])
	}
	return s
}

func (f *finModel) LogJoint(_ finX, z int) *ad.Tensor { return ad.Scalar(f.logPXZ[z]) }

// logQZ returns log q(z | x) = log Σ_λ q(z, λ | x).
func (f *finModel) logQZ(z int) float64 { return avviLogSumExp(f.logQ[z]) }

// The variational pieces "draw" a given value and report its table log
// density, so that enumeration can go through avvi's integrands.
type (
	finMarginal struct {
		f *finModel
		z int
	}
	finQ struct {
		f    *finModel
		z, l int
	}
	finS struct {
		f *finModel
		g int
	}
	finT struct {
		f *finModel
		d int
	}
	finR  struct{ f *finModel }
	finRJ struct{ f *finModel }
	finR3 struct{ f *finModel }
)

func (q finMarginal) Sample(*rand.Rand, finX) (int, avvi.None, *ad.Tensor) {
	return q.z, avvi.None{}, ad.Scalar(q.f.logQZ(q.z))
}

func (q finQ) Sample(*rand.Rand, finX) (int, int, *ad.Tensor) {
	return q.z, q.l, ad.Scalar(q.f.logQ[q.z][q.l])
}

func (s finS) Sample(_ *rand.Rand, _ finX, z, l int) (int, *ad.Tensor) {
	return s.g, ad.Scalar(s.f.logS[z][l][s.g])
}

func (t finT) Sample(_ *rand.Rand, _ finX, z int, a avvi.Aux[int, int]) (int, *ad.Tensor) {
	return t.d, ad.Scalar(t.f.logT[z][a.Lambda][a.Gamma][t.d])
}

func (r finR) LogProb(_ finX, z, l int) *ad.Tensor { return ad.Scalar(r.f.logR[z][l]) }

func (r finRJ) LogProb(_ finX, z int, a avvi.Aux[int, int]) *ad.Tensor {
	return ad.Scalar(r.f.logRJ[z][a.Lambda][a.Gamma])
}

// finR3 is r(λ, γ, δ | z, x) = r(λ, γ | z, x) u(δ | z, λ, γ, x).
func (r finR3) LogProb(_ finX, z int, a avvi.Aux[avvi.Aux[int, int], int]) *ad.Tensor {
	l, g := a.Lambda.Lambda, a.Lambda.Gamma
	return ad.Scalar(r.f.logRJ[z][l][g] + r.f.logU[z][l][g][a.Gamma])
}

// avviExpectation accumulates E[w] and E[exp w] under enumerated weights.
type avviExpectation struct{ mean, meanExp, mass float64 }

func (e *avviExpectation) add(logProb float64, w *ad.Tensor) {
	p := math.Exp(logProb)
	e.mass += p
	e.mean += p * w.Item()
	e.meanExp += p * math.Exp(w.Item())
}

func TestAVVIOrderingsFinite(t *testing.T) {
	f := newFinModel()
	var x finX
	logp := avviLogSumExp(f.logPXZ)
	var elbo, eq4, eq8, eq8r avviExpectation
	var klZ, klL, klG, klD float64 // the gaps' KL terms
	for z := range finM {
		logQZ := f.logQZ(z)
		elbo.add(logQZ, avvi.ELBO(nil, f, finMarginal{f, z}, x))
		klZ += math.Exp(logQZ) * (logQZ - (f.logPXZ[z] - logp))
		qL := make([]float64, finL) // log q(λ | z, x)
		for l := range finL {
			qL[l] = f.logQ[z][l] - logQZ
		}
		klL += math.Exp(logQZ) * avviKL(qL, f.logR[z])
		for l := range finL {
			q := finQ{f, z, l}
			eq4.add(f.logQ[z][l], avvi.Integrand(nil, f, q, finR{f}, x))
			rG := make([]float64, finG) // log r(γ | λ, z, x)
			for g := range finG {
				rG[g] = f.logRJ[z][l][g] - f.logR[z][l]
			}
			klG += math.Exp(f.logQ[z][l]) * avviKL(f.logS[z][l], rG)
			for g := range finG {
				lqs := f.logQ[z][l] + f.logS[z][l][g]
				eq8.add(lqs, avvi.AugmentedIntegrand(nil, f, q, finS{f, g}, finRJ{f}, x))
				klD += math.Exp(lqs) * avviKL(f.logT[z][l][g], f.logU[z][l][g])
				for d := range finD {
					w := avvi.AugmentedIntegrand(nil, f, avvi.Extend(q, finS{f, g}), finT{f, d}, finR3{f}, x)
					eq8r.add(lqs+f.logT[z][l][g][d], w)
				}
			}
		}
	}

	t.Logf("log p(x) = %.15f", logp)
	t.Logf("ELBO     = %.15f   gap %.6f = KL(q(z)‖p(z|x)) %.6f", elbo.mean, logp-elbo.mean, klZ)
	t.Logf("Eq. 4    = %.15f   gap %.6f = %.6f + E KL(q(λ|z)‖r(λ|z)) %.6f", eq4.mean, logp-eq4.mean, klZ, klL)
	t.Logf("Eq. 8    = %.15f   below Eq. 4 by %.6f = E KL(s‖r(γ|λ,z)) %.6f", eq8.mean, eq4.mean-eq8.mean, klG)
	t.Logf("Eq. 8'   = %.15f   below Eq. 8 by %.6f = E KL(t‖u) %.6f", eq8r.mean, eq8.mean-eq8r.mean, klD)

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"ELBO gap", logp - elbo.mean, klZ},
		{"Eq. 4 gap", logp - eq4.mean, klZ + klL},
		{"Eq. 4 − Eq. 8", eq4.mean - eq8.mean, klG},
		{"Eq. 8 − Eq. 8'", eq8.mean - eq8r.mean, klD},
	} {
		t.Logf("%s: residual %.1e", c.name, c.got-c.want)
		if math.Abs(c.got-c.want) > avviExactTol {
			t.Errorf("%s = %.15g, want %.15g (diff %.3g)", c.name, c.got, c.want, c.got-c.want)
		}
	}
	for _, c := range []struct {
		name string
		e    avviExpectation
	}{{"ELBO", elbo}, {"Eq. 4", eq4}, {"Eq. 8", eq8}, {"Eq. 8'", eq8r}} {
		if math.Abs(c.e.mass-1) > avviExactTol {
			t.Errorf("%s: enumerated probabilities sum to %.15g", c.name, c.e.mass)
		}
		t.Logf("%s: E[exp(integrand)] − p(x) = %.1e", c.name, c.e.meanExp-math.Exp(logp))
		if math.Abs(c.e.meanExp-math.Exp(logp)) > avviExactTol {
			t.Errorf("%s: E[exp(integrand)] = %.15g, want p(x) = %.15g", c.name, c.e.meanExp, math.Exp(logp))
		}
	}
	// The orderings, strictly: the tables are generic, so every KL term
	// is positive.
	chain := []float64{logp, elbo.mean, eq4.mean, eq8.mean, eq8r.mean}
	for i := 1; i < len(chain); i++ {
		if !(chain[i] < chain[i-1]) {
			t.Errorf("ordering fails at step %d: %v", i, chain)
		}
	}
}

// TestAVVIMultiSampleFinite checks avvi.MultiSample on the finite model:
// the two-sample bound built from two independent Eq. 4 integrands has
// E[exp] = p(x) and lies between Eq. 4 and log p(x), by enumeration of
// all pairs of draws.
func TestAVVIMultiSampleFinite(t *testing.T) {
	f := newFinModel()
	var x finX
	logp := avviLogSumExp(f.logPXZ)
	var eq4, two avviExpectation
	for z1 := range finM {
		for l1 := range finL {
			w1 := avvi.Integrand(nil, f, finQ{f, z1, l1}, finR{f}, x)
			eq4.add(f.logQ[z1][l1], w1)
			for z2 := range finM {
				for l2 := range finL {
					w2 := avvi.Integrand(nil, f, finQ{f, z2, l2}, finR{f}, x)
					ms := avvi.MultiSample(ad.Stack(0, w1, w2), 2)
					two.add(f.logQ[z1][l1]+f.logQ[z2][l2], ad.Reshape(ms))
				}
			}
		}
	}
	t.Logf("Eq. 4 = %.15f, two-sample Eq. 4 = %.15f, log p(x) = %.15f", eq4.mean, two.mean, logp)
	if math.Abs(two.meanExp-math.Exp(logp)) > avviExactTol {
		t.Errorf("E[exp(two-sample integrand)] = %.15g, want p(x) = %.15g", two.meanExp, math.Exp(logp))
	}
	if !(eq4.mean < two.mean && two.mean < logp) {
		t.Errorf("want Eq. 4 < two-sample < log p(x): %v, %v, %v", eq4.mean, two.mean, logp)
	}
}
