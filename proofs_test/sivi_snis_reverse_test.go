package proofs_test

// Sec. 5.2 of Lawson et al. (2019): SIVI's multi-sample bound, Eq. 7, is
// Eq. 8 with r(λ, γ | z, x) the SNIS family over λ (proposal q(λ | x),
// U(λ | z, x) = −log q(z | λ, x), K candidates) and s the selector; so it
// lies below Eq. 4 with r(λ | z, x) = p_SNIS(λ | z, x), that family's own
// marginal density, by E KL(s(γ | z, λ, x) ‖ r(γ | λ, z, x)). On the finite
// model of sivi_finite_test.go (λ and z take three values) p_SNIS is
// computed exactly, by summing sivi.Reverse.LogProb, the joint density
// r(λ, γ | z, x), over every γ = (λ_{1:K}, i) with λ_i = λ. Checked to
// 1e-12 for K = 1, …, 4 (K counted as in Eq. 7, the generating λ
// included):
//
//   - p_SNIS(· | z, x) sums to 1 for every z, and is q(λ | x) for K = 1;
//   - E[exp] of the Eq. 4 integrand with r = p_SNIS is p(x);
//   - Eq. 7 ≤ Eq. 4 (r = p_SNIS) ≤ ELBO of q(z | x) < log p(x), with
//     Eq. 4 − Eq. 7 = E_{q s} KL(s(γ | z, λ, x) ‖ r(γ | λ, z, x)) and
//     ELBO − Eq. 4 = E_q KL(q(λ | z, x) ‖ p_SNIS(λ | z, x)), both KL terms
//     from their definitions; equality at K = 1, strict inequality for
//     K ≥ 2 (so the check has power).

import (
	"math"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/sivi"
)

// siviRTable is r(λ | z, x) as a table [z][λ] of log probabilities, an
// avvi.R for λ [1, 1] and z [1, 1].
type siviRTable [siviM][siviM]float64

func (r *siviRTable) LogProb(_, z, lambda *ad.Tensor) *ad.Tensor {
	return ad.New([]float64{r[int(z.Item())][int(lambda.Item())]}, 1)
}

// insertAt returns others with v inserted at position i.
func insertAt(others []int, i, v int) []int {
	out := make([]int, 0, len(others)+1)
	out = append(out, others[:i]...)
	out = append(out, v)
	return append(out, others[i:]...)
}

func TestSIVIBelowEq4WithSNISReverse(t *testing.T) {
	f := newSIVIFinite()
	q := f.family()
	elbo, logQZ := f.marginalELBO()
	lq := f.mix.LogWeights()
	for k := 1; k <= 4; k++ {
		rev := sivi.Reverse{Family: q, K: k}
		logRJ := func(z, l int, cand []int, i int) float64 {
			gamma := sivi.Aux{Candidates: siviPoints(cand), Index: []int{i}}
			return rev.LogProb(f.x, ad.New([]float64{float64(z)}, 1, 1), avvi.Aux[*ad.Tensor, sivi.Aux]{Lambda: ad.New([]float64{float64(l)}, 1, 1), Gamma: gamma}).Item()
		}
		// p_SNIS(λ | z, x) = Σ_{γ : λ_i = λ} r(λ, γ | z, x).
		var pSNIS [siviM][siviM]float64
		for z := range siviM {
			siviTuples(k, func(cand []int) {
				for i, l := range cand {
					pSNIS[z][l] += math.Exp(logRJ(z, l, cand, i))
				}
			})
		}
		r := &siviRTable{}
		for z := range siviM {
			mass := 0.0
			for l := range siviM {
				mass += pSNIS[z][l]
				r[z][l] = math.Log(pSNIS[z][l])
				if k == 1 && math.Abs(r[z][l]-lq[l]) > siviTol {
					t.Errorf("K = 1: log p_SNIS(λ = %d | z = %d) = %v, want log q(λ) = %v", l, z, r[z][l], lq[l])
				}
			}
			if math.Abs(mass-1) > siviTol {
				t.Errorf("K = %d: Σ_λ p_SNIS(λ | z = %d) = %.15g", k, z, mass)
			}
		}
		// Eq. 4 with r = p_SNIS, through avvi.Integrand, and its gap to the
		// ELBO; Eq. 4 − Eq. 7 from its KL definition.
		var eq4, eq4Exp, klLambda, klGamma float64
		for l0 := range siviM {
			for z := range siviM {
				lam0 := ad.New([]float64{float64(l0)}, 1, 1)
				zt := ad.New([]float64{float64(z)}, 1, 1)
				p := math.Exp(lq[l0] + f.cond.logP[l0][z])
				w := avvi.Integrand(nil, f, replayQ{q, zt, lam0}, r, f.x).Item()
				eq4 += p * w
				eq4Exp += p * math.Exp(w)
				qPost := lq[l0] + f.cond.logP[l0][z] - logQZ[z] // log q(λ | z, x)
				klLambda += p * (qPost - r[z][l0])
				siviTuples(k-1, func(others []int) {
					logs := -math.Log(float64(k))
					for _, l := range others {
						logs += lq[l]
					}
					for i := range k {
						cand := insertAt(others, i, l0)
						logRGamma := logRJ(z, l0, cand, i) - r[z][l0] // log r(γ | λ, z, x)
						klGamma += p * math.Exp(logs) * (logs - logRGamma)
					}
				})
			}
		}
		eq7, _ := f.expectation(k-1, func(l, _ int) float64 { return lq[l] }, func(l0, z, ls *ad.Tensor) float64 {
			return sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item()
		})
		t.Logf("K = %d: Eq. 7 (SIVI) = %.12f ≤ Eq. 4 (r = p_SNIS) = %.12f ≤ ELBO = %.12f < log p(x) = %.12f; E KL(s‖r(γ|λ,z)) = %.3e, E KL(q(λ|z)‖p_SNIS) = %.3e",
			k, eq7, eq4, elbo, f.logPX, klGamma, klLambda)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"E exp(Eq. 4 integrand)", eq4Exp, math.Exp(f.logPX)},
			{"Eq. 4 − Eq. 7", eq4 - eq7, klGamma},
			{"ELBO − Eq. 4", elbo - eq4, klLambda},
		} {
			if math.Abs(c.got-c.want) > siviTol {
				t.Errorf("K = %d: %s = %.15g, want %.15g", k, c.name, c.got, c.want)
			}
		}
		if !(eq7 <= eq4+siviTol && eq4 <= elbo+siviTol && elbo < f.logPX) {
			t.Errorf("K = %d: want Eq. 7 ≤ Eq. 4 ≤ ELBO < log p(x): %v, %v, %v, %v", k, eq7, eq4, elbo, f.logPX)
		}
		if k == 1 && math.Abs(eq4-eq7) > siviTol {
			t.Errorf("K = 1: Eq. 4 = %v, want Eq. 7 = %v (r = q(λ | x))", eq4, eq7)
		}
		if k > 1 && !(klGamma > 1e-6) {
			t.Errorf("K = %d: Eq. 4 − Eq. 7 = %v: the inequality is not exercised", k, klGamma)
		}
	}
}
