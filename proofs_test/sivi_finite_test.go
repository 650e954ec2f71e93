package proofs_test

// SIVI, IWHVI and doubly semi-implicit VI (Lawson et al. 2019, Sec. 5.2,
// App. B; Sobolev & Vetrov 2019; Molchanov et al. 2019) on a finite model:
// λ, z and the prior's ζ each take three values, the mixing q(λ | x) and
// the prior's p(ζ) are eimfamily.Discrete, q(z | λ), τ(λ | z) and p(z | ζ)
// are tables, and every expectation is a sum over all draws
// (λ₀, z, λ_{1:K}, ζ_{1:L}). Checked to 1e-12:
//
//   - the avvi assembly of SIVI (Eq. 8 with r the SNIS family over λ and
//     s the selector of Sec. 5.2) equals Eq. 7 at every (λ₀, z, λ_{1:K}, i);
//   - E[exp(integrand)] = p(x) for SIVI_K, IWHVI_K and DSIVI_{K,L};
//   - SIVI_K is non-decreasing in K and never above the ELBO of the
//     marginal q(z | x) = Σ_λ q(z | λ) q(λ | x), which is below log p(x);
//   - IWHVI_K is non-decreasing in K and below the marginal ELBO, equal
//     to it for τ(λ | z) = q(λ | z, x), and equal to SIVI_K for τ = q(λ);
//   - DSIVI_{K,L} is non-decreasing in L and below SIVI_K with the exact
//     prior p(z) = Σ_ζ p(z | ζ) p(ζ).

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/sivi"
)

const siviM = 3 // values of λ, z and ζ

// siviTable is a conditional table t[a][b] = log P(b | a) over the values
// 0, …, siviM−1 stored as 1-D points: a sivi.Conditional (z given λ, or z
// given ζ) and a sivi.Tau (λ given z, with a = z).
type siviTable struct{ logP [siviM][siviM]float64 }

func newSIVITable(rng *rand.Rand) *siviTable {
	t := &siviTable{}
	for a := range siviM {
		var s float64
		var w [siviM]float64
		for b := range siviM {
			w[b] = 0.2 + rng.Float64()
			s += w[b]
		}
		for b := range siviM {
			t.logP[a][b] = math.Log(w[b] / s)
		}
	}
	return t
}

func (t *siviTable) Dim() int { return 1 }

// LogProb (as a Conditional) is log t[λ][z] for λ [..., n, 1], z [n, 1].
func (t *siviTable) LogProb(_, given, v *ad.Tensor) *ad.Tensor {
	n := v.Dim(0)
	out := make([]float64, given.Len())
	for e, g := range given.Data() {
		out[e] = t.logP[int(g)][int(v.Data()[e%n])]
	}
	return ad.New(out, given.Shape()[:given.Rank()-1]...)
}

func (t *siviTable) Sample(rng *rand.Rand, _, given *ad.Tensor) *ad.Tensor {
	out := make([]float64, given.Dim(0))
	for r, g := range given.Data() {
		u, c := rng.Float64(), 0.0
		out[r] = siviM - 1
		for b := range siviM {
			if c += math.Exp(t.logP[int(g)][b]); u < c {
				out[r] = float64(b)
				break
			}
		}
	}
	return ad.New(out, len(out), 1)
}

// tauTable is a table τ(λ | z) as a sivi.Tau (enumeration never samples).
type tauTable struct{ *siviTable }

func (t tauTable) Sample(*rand.Rand, *ad.Tensor, *ad.Tensor, int) *ad.Tensor {
	panic("tauTable: not sampled")
}

// LogProb is log τ(λ | z) for λ [..., n, 1], z [n, 1].
func (t tauTable) LogProb(_, z, lambda *ad.Tensor) *ad.Tensor {
	n := z.Dim(0)
	out := make([]float64, lambda.Len())
	for e, l := range lambda.Data() {
		out[e] = t.logP[int(z.Data()[e%n])][int(l)]
	}
	return ad.New(out, lambda.Shape()[:lambda.Rank()-1]...)
}

type siviFinite struct {
	x                *ad.Tensor
	mix, zetaMix     *eimfamily.Discrete
	cond, prior, tau *siviTable
	logLik           [siviM]float64 // log p(x | z)
	logPrior         [siviM]float64 // log p(z) = log Σ_ζ p(z | ζ) p(ζ)
	logPX            float64
}

func newSIVIFinite() *siviFinite {
	rng := rand.New(rand.NewPCG(2018, 52))
	pts := ad.New([]float64{0, 1, 2}, siviM, 1)
	logits := func() *ad.Tensor {
		return ad.New([]float64{-1 + 2*rng.Float64(), -1 + 2*rng.Float64(), -1 + 2*rng.Float64()}, siviM)
	}
	f := &siviFinite{x: ad.New([]float64{0.5}, 1, 1)}
	f.mix = eimfamily.NewDiscrete(pts, logits())
	f.zetaMix = eimfamily.NewDiscrete(pts, logits())
	f.cond, f.prior, f.tau = newSIVITable(rng), newSIVITable(rng), newSIVITable(rng)
	pz := f.zetaMix.LogWeights()
	var px float64
	for z := range siviM {
		f.logLik[z] = -3 + 2*rng.Float64()
		var s float64
		for zeta := range siviM {
			s += math.Exp(pz[zeta] + f.prior.logP[zeta][z])
		}
		f.logPrior[z] = math.Log(s)
		px += math.Exp(f.logLik[z] + f.logPrior[z])
	}
	f.logPX = math.Log(px)
	return f
}

func (f *siviFinite) LogJoint(_, z *ad.Tensor) *ad.Tensor {
	zi := int(z.Item())
	return ad.New([]float64{f.logLik[zi] + f.logPrior[zi]}, 1)
}

func (f *siviFinite) LogLik(_, z *ad.Tensor) *ad.Tensor {
	return ad.New([]float64{f.logLik[int(z.Item())]}, 1)
}

func (f *siviFinite) family() sivi.Family { return sivi.Family{Mixing: f.mix, Conditional: f.cond} }

// marginalELBO returns Σ_z q(z)(log p(x, z) − log q(z)) and log q(z).
func (f *siviFinite) marginalELBO() (float64, [siviM]float64) {
	lq := f.mix.LogWeights()
	var logQZ [siviM]float64
	var elbo float64
	for z := range siviM {
		var s float64
		for l := range siviM {
			s += math.Exp(lq[l] + f.cond.logP[l][z])
		}
		logQZ[z] = math.Log(s)
		elbo += s * (f.logLik[z] + f.logPrior[z] - logQZ[z])
	}
	return elbo, logQZ
}

// tuples calls fn with every tuple of k values in 0..siviM−1.
func siviTuples(k int, fn func(t []int)) {
	t := make([]int, k)
	for c := range int(math.Pow(siviM, float64(k))) {
		for j := range k {
			t[j] = c % siviM
			c /= siviM
		}
		fn(t)
	}
}

func siviPoints(t []int) *ad.Tensor {
	if len(t) == 0 {
		return nil
	}
	v := make([]float64, len(t))
	for i, a := range t {
		v[i] = float64(a)
	}
	return ad.New(v, len(t), 1, 1)
}

// expectation returns E[w] and E[exp w] under λ₀ ~ q(λ), z ~ q(z | λ₀),
// λ_{1:K} ~ prop (logProp(λ, z)), with w = integrand(λ₀, z, λ_{1:K}).
func (f *siviFinite) expectation(k int, logProp func(l, z int) float64, integrand func(l0, z *ad.Tensor, ls *ad.Tensor) float64) (mean, meanExp float64) {
	lq := f.mix.LogWeights()
	var mass float64
	for l0 := range siviM {
		for z := range siviM {
			siviTuples(k, func(t []int) {
				lp := lq[l0] + f.cond.logP[l0][z]
				for _, l := range t {
					lp += logProp(l, z)
				}
				p := math.Exp(lp)
				w := integrand(ad.New([]float64{float64(l0)}, 1, 1), ad.New([]float64{float64(z)}, 1, 1), siviPoints(t))
				mass += p
				mean += p * w
				meanExp += p * math.Exp(w)
			})
		}
	}
	if math.Abs(mass-1) > 1e-12 {
		panic("siviFinite: probabilities do not sum to 1")
	}
	return mean, meanExp
}

const siviTol = 1e-12

func TestSIVIFiniteOrderingsAndUnbiasedness(t *testing.T) {
	f := newSIVIFinite()
	q := f.family()
	elbo, _ := f.marginalELBO()
	if !(elbo <= f.logPX+siviTol) {
		t.Fatalf("marginal ELBO %v above log p(x) %v", elbo, f.logPX)
	}
	lq := f.mix.LogWeights()
	prev := math.Inf(-1)
	for k := range 5 {
		b, e := f.expectation(k, func(l, _ int) float64 { return lq[l] }, func(l0, z, ls *ad.Tensor) float64 {
			return sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item()
		})
		t.Logf("K = %d: SIVI_K = %.12f (marginal ELBO %.12f, log p(x) %.12f)", k, b, elbo, f.logPX)
		if math.Abs(e-math.Exp(f.logPX)) > siviTol {
			t.Errorf("K = %d: E exp(integrand) = %v, p(x) = %v", k, e, math.Exp(f.logPX))
		}
		if !(b >= prev-siviTol) || !(b <= elbo+siviTol) {
			t.Errorf("K = %d: SIVI_K = %v, SIVI_{K−1} = %v, marginal ELBO = %v", k, b, prev, elbo)
		}
		prev = b
	}
	if elbo-prev < 1e-4 {
		t.Errorf("SIVI_4 = %v is not below the marginal ELBO %v: the model does not test the ordering", prev, elbo)
	}
}

// replayQ is the family's Q "drawing" a given (z, λ₀).
type replayQ struct {
	q         sivi.Family
	z, lambda *ad.Tensor
}

func (r replayQ) Sample(_ *rand.Rand, x *ad.Tensor) (*ad.Tensor, *ad.Tensor, *ad.Tensor) {
	return r.z, r.lambda, ad.Add(r.q.Mixing.LogProb(x, r.lambda), r.q.Conditional.LogProb(x, r.lambda, r.z))
}

// replayS is the selector s "drawing" a given γ, with its log density
// −log(K+1) + Σ_{j≠i} log q(λ_j | x).
type replayS struct {
	gamma sivi.Aux
	logs  float64
}

func (r replayS) Sample(*rand.Rand, *ad.Tensor, *ad.Tensor, *ad.Tensor) (sivi.Aux, *ad.Tensor) {
	return r.gamma, ad.New([]float64{r.logs}, 1)
}

// TestSIVIFiniteAssembly checks App. B at every point of the augmented
// space: the Eq. 8 integrand with r = SNIS over λ (proposal q(λ | x),
// U = −log q(z | λ, x)) and the selector s equals Eq. 7, and its
// expectation under q·s is SIVI_K.
func TestSIVIFiniteAssembly(t *testing.T) {
	f := newSIVIFinite()
	q := f.family()
	lq := f.mix.LogWeights()
	for k := range 4 {
		r := sivi.Reverse{Family: q, K: k + 1} // k draws besides λ₁: k + 1 candidates
		var maxDiff, bound, mass float64
		for l0 := range siviM {
			for z := range siviM {
				lam0 := ad.New([]float64{float64(l0)}, 1, 1)
				zt := ad.New([]float64{float64(z)}, 1, 1)
				siviTuples(k, func(others []int) {
					want := sivi.IntegrandAt(f, q, f.x, zt, lam0, siviPoints(others)).Item()
					for i := range k + 1 {
						cand := make([]int, 0, k+1)
						cand = append(cand, others[:i]...)
						cand = append(cand, l0)
						cand = append(cand, others[i:]...)
						logs := -math.Log(float64(k + 1))
						for _, l := range others {
							logs += lq[l]
						}
						gamma := sivi.Aux{Candidates: siviPoints(cand), Index: []int{i}}
						w := avvi.AugmentedIntegrand[*ad.Tensor, *ad.Tensor, *ad.Tensor, sivi.Aux](nil, f, replayQ{q, zt, lam0}, replayS{gamma, logs}, r, f.x).Item()
						maxDiff = max(maxDiff, math.Abs(w-want))
						p := math.Exp(lq[l0] + f.cond.logP[l0][z] + logs)
						mass += p
						bound += p * w
					}
				})
			}
		}
		want, _ := f.expectation(k, func(l, _ int) float64 { return lq[l] }, func(l0, z, ls *ad.Tensor) float64 {
			return sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item()
		})
		if !(maxDiff <= siviTol) || math.Abs(mass-1) > siviTol || math.Abs(bound-want) > siviTol {
			t.Errorf("K = %d: max |assembled − Eq. 7| = %g, Σ q·s = %v, E assembled = %v, SIVI_K = %v", k, maxDiff, mass, bound, want)
		}
	}
}

func TestIWHVIFinite(t *testing.T) {
	f := newSIVIFinite()
	q := f.family()
	elbo, logQZ := f.marginalELBO()
	lq := f.mix.LogWeights()
	// The exact posterior q(λ | z, x) = q(z | λ) q(λ)/q(z) as a table.
	post := &siviTable{}
	for z := range siviM {
		for l := range siviM {
			post.logP[z][l] = f.cond.logP[l][z] + lq[l] - logQZ[z]
		}
	}
	taus := map[string]sivi.Tau{"learned": tauTable{f.tau}, "posterior": tauTable{post}, "mixing": sivi.MixingTau{Mixing: f.mix}}
	for name, tau := range taus {
		prev := math.Inf(-1)
		for k := range 4 {
			logProp := func(l, z int) float64 {
				return tau.LogProb(f.x, ad.New([]float64{float64(z)}, 1, 1), ad.New([]float64{float64(l)}, 1, 1)).Item()
			}
			b, e := f.expectation(k, logProp, func(l0, z, ls *ad.Tensor) float64 {
				return sivi.IWHVIAt(f, q, tau, f.x, z, l0, ls).Item()
			})
			if math.Abs(e-math.Exp(f.logPX)) > siviTol {
				t.Errorf("%s, K = %d: E exp(integrand) = %v, p(x) = %v", name, k, e, math.Exp(f.logPX))
			}
			if !(b >= prev-siviTol) || !(b <= elbo+siviTol) {
				t.Errorf("%s, K = %d: IWHVI_K = %v, IWHVI_{K−1} = %v, marginal ELBO = %v", name, k, b, prev, elbo)
			}
			switch name {
			case "posterior":
				if math.Abs(b-elbo) > siviTol {
					t.Errorf("K = %d: IWHVI with τ = q(λ | z) is %v, marginal ELBO %v", k, b, elbo)
				}
			case "mixing":
				s, _ := f.expectation(k, func(l, _ int) float64 { return lq[l] }, func(l0, z, ls *ad.Tensor) float64 {
					return sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item()
				})
				if math.Abs(b-s) > siviTol {
					t.Errorf("K = %d: IWHVI with τ = q(λ) is %v, SIVI_K %v", k, b, s)
				}
			}
			prev = b
		}
	}
}

func TestDSIVIFinite(t *testing.T) {
	f := newSIVIFinite()
	q := f.family()
	prior := sivi.Prior{Mixing: f.zetaMix, Conditional: f.prior}
	lq, lz := f.mix.LogWeights(), f.zetaMix.LogWeights()
	for k := range 3 {
		siviK, _ := f.expectation(k, func(l, _ int) float64 { return lq[l] }, func(l0, z, ls *ad.Tensor) float64 {
			return sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item()
		})
		prev := math.Inf(-1)
		for l := 1; l <= 3; l++ {
			// E_ζ of w and log E_ζ exp w, enumerating ζ_{1:L} ~ p(ζ) inside
			// the expectation over (λ₀, z, λ_{1:K}).
			overZeta := func(l0, z, ls *ad.Tensor) (mean, logMeanExp float64) {
				var meanExp float64
				siviTuples(l, func(zt []int) {
					lp := 0.0
					for _, v := range zt {
						lp += lz[v]
					}
					w := sivi.DSIVIAt(f, prior, q, f.x, z, l0, ls, siviPoints(zt)).Item()
					mean += math.Exp(lp) * w
					meanExp += math.Exp(lp + w)
				})
				return mean, math.Log(meanExp)
			}
			mixing := func(a, _ int) float64 { return lq[a] }
			b, _ := f.expectation(k, mixing, func(l0, z, ls *ad.Tensor) float64 {
				m, _ := overZeta(l0, z, ls)
				return m
			})
			_, e := f.expectation(k, mixing, func(l0, z, ls *ad.Tensor) float64 {
				_, lme := overZeta(l0, z, ls)
				return lme
			})
			if math.Abs(e-math.Exp(f.logPX)) > siviTol {
				t.Errorf("K = %d, L = %d: E exp(integrand) = %v, p(x) = %v", k, l, e, math.Exp(f.logPX))
			}
			if !(b >= prev-siviTol) || !(b <= siviK+siviTol) {
				t.Errorf("K = %d, L = %d: DSIVI = %v, with L−1: %v, SIVI_K (exact prior) = %v", k, l, b, prev, siviK)
			}
			t.Logf("K = %d, L = %d: DSIVI = %.12f, SIVI_K = %.12f", k, l, b, siviK)
			prev = b
		}
		if siviK-prev < 1e-6 {
			t.Errorf("K = %d: DSIVI_L=3 = %v not below SIVI_K = %v: the prior bound is not exercised", k, prev, siviK)
		}
	}
}
