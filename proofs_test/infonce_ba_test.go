package proofs_test

// App. C of Lawson et al. (2019), as an ordering: for any critic f,
//
//	I_NCE,K ≤ BA(p_SNIS,K) ≤ I(X; Y),
//
// where BA(q) = E_{p(x, y)}[log q(y | x) − log p(y)] is the Barber–Agakov
// bound and p_SNIS,K(y | x) the exact density of SNIS(π = p(y),
// U = −f(x, ·), K). The first inequality is Jensen's on the Eq. (3) lower
// bound of log p_SNIS, whose integrand the InfoNCE term is
// (infonce_snis_test.go checks that identity draw by draw); the second
// holds because p_SNIS,K(· | x) is a normalized distribution:
// I − BA = E_x KL(p(y | x) ‖ p_SNIS,K(y | x)). On finite X and Y (three
// values each) everything is exact: I_NCE,K enumerates all 9^K sets of K
// pairs through estimators.InfoNCE, and p_SNIS,K(y | x) is the multiset
// sum over eimfamily.SNISQ.At (snis_interpolation_test.go). Checked for
// K = 1, …, 4 and two critics (the optimal f = log p(y | x)/p(y) and a
// perturbed one), to 1e-12:
//
//   - for each (x, y), E[ℓ | x, y] ≤ log p_SNIS,K(y | x) − log p(y)
//     (pointwise Jensen), so I_NCE,K ≤ BA(p_SNIS,K), strictly for K ≥ 2;
//   - BA(p_SNIS,K) ≤ I with I − BA = E_x KL(p(y | x) ‖ p_SNIS,K(y | x));
//   - K = 1: I_NCE = BA = 0 (p_SNIS,1 = p(y)); I_NCE,K ≤ log K.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/estimators"
)

const baM = 3 // values of X and of Y

// criticEnergy is U(y | x) = −f(x, y) for a table f[x][y]: y [..., n, 1]
// and the context x [n, 1] lined up with y's second-to-last axis.
type criticEnergy struct{ f [baM][baM]float64 }

func (e criticEnergy) Energy(ctx, y *ad.Tensor) *ad.Tensor {
	n := ctx.Dim(0)
	out := make([]float64, y.Len())
	for i, v := range y.Data() {
		out[i] = -e.f[int(ctx.Data()[i%n])][int(v)]
	}
	return ad.New(out, y.Shape()[:y.Rank()-1]...)
}

func (criticEnergy) Params() []*ad.Tensor { return nil }

func TestInfoNCEBelowBarberAgakovSNIS(t *testing.T) {
	rng := rand.New(rand.NewPCG(2018, 3))
	var pxy [baM][baM]float64
	total := 0.0
	for x := range baM {
		for y := range baM {
			pxy[x][y] = math.Exp(1.5 * rng.NormFloat64())
			total += pxy[x][y]
		}
	}
	var px, py [baM]float64
	for x := range baM {
		for y := range baM {
			pxy[x][y] /= total
			px[x] += pxy[x][y]
			py[y] += pxy[x][y]
		}
	}
	mi := 0.0
	for x := range baM {
		for y := range baM {
			mi += pxy[x][y] * math.Log(pxy[x][y]/(px[x]*py[y]))
		}
	}
	logPY := make([]float64, baM)
	for y := range baM {
		logPY[y] = math.Log(py[y])
	}
	pi := eimfamily.NewDiscrete(ad.New([]float64{0, 1, 2}, baM, 1), ad.New(append([]float64(nil), logPY...), baM))

	var optimal, perturbed criticEnergy
	for x := range baM {
		for y := range baM {
			optimal.f[x][y] = math.Log(pxy[x][y] / (px[x] * py[y]))
			perturbed.f[x][y] = optimal.f[x][y] + 2*(rng.Float64()-0.5)
		}
	}
	for _, c := range []struct {
		name   string
		critic criticEnergy
	}{{"optimal", optimal}, {"perturbed", perturbed}} {
		for k := 1; k <= 4; k++ {
			// p_SNIS,K(y | x) and BA.
			var logQ [baM][baM]float64
			ba, klSum := 0.0, 0.0
			for x := range baM {
				p := snisExact(pi, c.critic, k, float64(x))
				for y := range baM {
					logQ[x][y] = math.Log(p[y])
					ba += pxy[x][y] * (logQ[x][y] - logPY[y])
					klSum += pxy[x][y] * (math.Log(pxy[x][y]/px[x]) - logQ[x][y])
				}
			}
			// I_NCE,K over every set of K pairs, and E[ℓ₁ | x₁, y₁].
			nce, cond := infoNCEExact(pxy, c.critic.f, k)
			t.Logf("%s critic, K = %d: I_NCE = %.12f ≤ BA(p_SNIS) = %.12f ≤ I = %.12f (log K = %.4f)", c.name, k, nce, ba, mi, math.Log(float64(k)))
			if math.Abs(mi-ba-klSum) > avviExactTol {
				t.Errorf("%s, K = %d: I − BA = %.15g, E_x KL(p(y|x) ‖ p_SNIS) = %.15g", c.name, k, mi-ba, klSum)
			}
			if !(nce <= ba+avviExactTol && ba <= mi+avviExactTol && nce <= math.Log(float64(k))+avviExactTol) {
				t.Errorf("%s, K = %d: want I_NCE ≤ BA ≤ I and I_NCE ≤ log K: %v, %v, %v", c.name, k, nce, ba, mi)
			}
			for x := range baM {
				for y := range baM {
					if cond[x][y] > logQ[x][y]-logPY[y]+avviExactTol {
						t.Errorf("%s, K = %d, (x, y) = (%d, %d): E[ℓ | x, y] = %.15g above log p_SNIS − log p(y) = %.15g", c.name, k, x, y, cond[x][y], logQ[x][y]-logPY[y])
					}
				}
			}
			switch {
			case k == 1 && (math.Abs(nce) > avviExactTol || math.Abs(ba) > avviExactTol):
				t.Errorf("%s, K = 1: I_NCE = %v, BA = %v, want both 0", c.name, nce, ba)
			case k > 1 && !(ba-nce > 1e-6 && mi-ba > 1e-6):
				t.Errorf("%s, K = %d: the inequalities are not strict: %v, %v, %v", c.name, k, nce, ba, mi)
			}
		}
	}
}

// infoNCEExact returns I_NCE,K = E[(1/K) Σ_i ℓ_i] over K pairs drawn iid
// from pxy, and E[ℓ₁ | x₁, y₁], by enumerating all (baM²)^K sets of pairs
// and scoring them with estimators.InfoNCE in one batch.
func infoNCEExact(pxy [baM][baM]float64, f [baM][baM]float64, k int) (float64, [baM][baM]float64) {
	n := int(math.Pow(baM*baM, float64(k)))
	scores := make([]float64, 0, n*k*k)
	logP := make([]float64, n)
	xs, ys := make([]int, k), make([]int, k)
	first := make([]int, n)
	for s := range n {
		c := s
		for j := range k {
			pair := c % (baM * baM)
			c /= baM * baM
			xs[j], ys[j] = pair/baM, pair%baM
			logP[s] += math.Log(pxy[xs[j]][ys[j]])
		}
		first[s] = xs[0]*baM + ys[0]
		for i := range k {
			for j := range k {
				scores = append(scores, f[xs[i]][ys[j]])
			}
		}
	}
	terms := estimators.InfoNCE(ad.New(scores, n, k, k)).Data()
	mean := 0.0
	var cond [baM][baM]float64
	for s := range n {
		p := math.Exp(logP[s])
		row := 0.0
		for i := range k {
			row += terms[s*k+i]
		}
		mean += p * row / float64(k)
		cond[first[s]/baM][first[s]%baM] += p * terms[s*k]
	}
	for x := range baM {
		for y := range baM {
			cond[x][y] /= pxy[x][y] // E[ℓ₁ | x₁, y₁] = E[ℓ₁ 1{x₁, y₁}]/p(x₁, y₁)
		}
	}
	return mean, cond
}
