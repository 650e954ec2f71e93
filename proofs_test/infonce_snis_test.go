package proofs_test

// Two identities of Lawson et al. (2019) between the SNIS model of
// package eimfamily and contrastive objectives of package estimators,
// each checked sample by sample on shared draws:
//
// App. C (InfoNCE / CPC). With q(y | x) = SNIS(π, U, K), π = p(y) and
// U(y | x) = −f(x, y), the integrand of the Barber–Agakov bound
// I(X; Y) ≥ E[log q(y | x) − log p(y)], with the Eq. (3) integrand in place
// of log q, is the InfoNCE term:
//
//	log [ π(y_i) e^{f(x_i, y_i)} / ((1/K) Σ_j e^{f(x_i, y_j)}) ] − log p(y_i)
//	  = f(x_i, y_i) − log (1/K) Σ_j e^{f(x_i, y_j)},
//
// when the K − 1 candidates of the data point (x_i, y_i) are the other
// pairs' y_j, which are draws of p(y) independent of x_i. (The paper
// writes q(x | y) with π = p(x); the roles of x and y are symmetric.)
//
// Sec. 3.2 (ranking NCE). With π = p_N and U = log p_N − s, the Eq. (3)
// integrand at x₀ with candidates x_{1:K−1} is
//
//	log [ e^{s(x₀)} / ((1/K) Σ_k e^{s(x_k) − log p_N(x_k)}) ]
//	  = J_rank + log p_N(x₀) + log K,   J_rank = log [ e^{s̄(x₀)} / Σ_k e^{s̄(x_k)} ],
//
// s̄ = s − log p_N: the ranking NCE objective of Ma & Collins (2018) plus a
// term that does not depend on s.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/estimators"
)

// identityTol is the absolute tolerance of a sample-by-sample identity:
// both sides are a few log-sum-exps of terms of size ≲ 30 computed in a
// different order, so they differ by rounding of order 1e-14.
const identityTol = 1e-12

// replay is a proposal that scores with an underlying proposal but, instead
// of drawing, returns candidates given by the test, so that an
// eimfamily model and an estimators objective see the same draws.
type replay struct {
	eimfamily.Proposal
	draws *ad.Tensor
}

func (r *replay) Sample(_ *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	if r.draws.Dim(0) != k {
		panic(fmt.Sprintf("replay: asked for %d draws, holds %v", k, r.draws.Shape()))
	}
	return r.draws
}

// recorder draws from an underlying proposal and keeps the last draws.
type recorder struct {
	eimfamily.Proposal
	last *ad.Tensor
}

func (r *recorder) Sample(rng *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	r.last = r.Proposal.Sample(rng, ctx, k)
	return r.last
}

// quadCritic is f_θ(x, y) = θ₀xy + θ₁y² + θ₂x² + θ₃ on scalars x, y, with
// learnable θ [4]. For standard normal (x, y) with correlation ρ the
// optimal critic log p(y | x) − log p(y) has this form (optimalTheta).
type quadCritic struct{ theta *ad.Tensor }

func optimalTheta(rho float64) []float64 {
	v := 1 - rho*rho
	return []float64{rho / v, 0.5 - 1/(2*v), -rho * rho / (2 * v), -0.5 * math.Log(v)}
}

// f returns f_θ(x, y) for tensors x and y that broadcast.
func (c quadCritic) f(x, y *ad.Tensor) *ad.Tensor {
	th := func(i int) *ad.Tensor { return ad.Slice(c.theta, 0, i, i+1) }
	out := ad.Mul(th(0), ad.Mul(x, y))
	out = ad.Add(out, ad.Mul(th(1), ad.Square(y)))
	out = ad.Add(out, ad.Mul(th(2), ad.Square(x)))
	return ad.Add(out, th(3))
}

// Energy is U(y | x) = −f_θ(x, y) for y [..., n, 1] and the context x
// [n, 1] lined up with y's second-to-last axis, as [..., n].
func (c quadCritic) Energy(ctx, y *ad.Tensor) *ad.Tensor {
	return ad.Sum(ad.Neg(c.f(ctx, y)), -1)
}

func (c quadCritic) Params() []*ad.Tensor { return []*ad.Tensor{c.theta} }

// TestInfoNCEIsSNISBarberAgakov checks App. C sample by sample: for rounds
// of K pairs (x_i, y_i) from a correlated Gaussian, each InfoNCE term
// (estimators.InfoNCE on the score matrix f(x_i, y_j)) equals the
// Barber–Agakov integrand built from eimfamily.SNIS conditioned on x_i,
// with π = p(y) = N(0, 1), U = −f and the other pairs' y_j as its K − 1
// candidates, to 1e-12, and so do the gradients in the critic's
// parameters: training InfoNCE is training the SNIS model inside the
// Barber–Agakov bound. It runs for the optimal critic and a perturbed one
// (the identity holds for every f).
func TestInfoNCEIsSNISBarberAgakov(t *testing.T) {
	const rho, K, rounds = 0.8, 8, 10
	rng := rand.New(rand.NewPCG(21, 22))
	py := eimfamily.NewStdNormal(1, 1) // p(y), the proposal π
	perturbed := optimalTheta(rho)
	for i := range perturbed {
		perturbed[i] += 0.3 * float64(i%2*2-1)
	}
	for _, c := range []struct {
		name   string
		theta0 []float64
	}{{"optimal", optimalTheta(rho)}, {"perturbed", perturbed}} {
		name, theta0 := c.name, c.theta0
		worst := 0.0
		for range rounds {
			x, y := make([]float64, K), make([]float64, K)
			for i := range K {
				x[i] = rng.NormFloat64()
				y[i] = rho*x[i] + math.Sqrt(1-rho*rho)*rng.NormFloat64()
			}
			critic := quadCritic{ad.New(append([]float64(nil), theta0...), 4).RequireGrad()}

			// InfoNCE on the K×K scores f(x_i, y_j).
			X, Y := ad.New(append([]float64(nil), x...), K, 1), ad.New(append([]float64(nil), y...), 1, K)
			nce := estimators.InfoNCE(critic.f(X, Y)) // [K]

			// SNIS q(y | x_i) with candidates y_{j≠i}: draws [K−1, K, 1].
			cand := make([]float64, 0, (K-1)*K)
			for r := range K - 1 {
				for i := range K {
					j := r
					if r >= i {
						j = r + 1
					}
					cand = append(cand, y[j])
				}
			}
			snis := &eimfamily.SNIS{Proposal: &replay{py, ad.New(cand, K-1, K, 1)}, Energy: critic, K: K}
			yData := ad.New(append([]float64(nil), y...), K, 1)
			ctx := ad.New(append([]float64(nil), x...), K, 1)
			eq3 := ad.Reshape(snis.Integrands(rng, ctx, yData, 1), K)
			ba := ad.Sub(eq3, py.LogProb(nil, yData)) // Barber–Agakov integrand

			for i := range K {
				if d := math.Abs(nce.At(i) - ba.At(i)); d > identityTol {
					t.Errorf("%s critic, pair %d: InfoNCE term %.15g, Barber–Agakov with SNIS %.15g", name, i, nce.At(i), ba.At(i))
				} else {
					worst = max(worst, d)
				}
			}
			gNCE := ad.Grad(ad.Sum(nce), critic.theta)[0].Data()
			gBA := ad.Grad(ad.Sum(ba), critic.theta)[0].Data()
			for c := range gNCE {
				if !scalar.EqualWithinAbsOrRel(gNCE[c], gBA[c], identityTol, identityTol) {
					t.Errorf("%s critic: ∂/∂θ%d: InfoNCE %.15g, Barber–Agakov with SNIS %.15g", name, c, gNCE[c], gBA[c])
				}
			}
		}
		t.Logf("%s critic: %d rounds of K = %d pairs, largest difference %.1e", name, rounds, K, worst)
	}
}

// scoreFunc is a score s(x) on points x [..., d], as [...]; sEnergy is the
// energy U = log p_N − s of the ranking NCE identity.
type scoreFunc func(x *ad.Tensor) *ad.Tensor

type sEnergy struct {
	noise eimfamily.Proposal
	s     scoreFunc
}

func (e sEnergy) Energy(ctx, x *ad.Tensor) *ad.Tensor {
	return ad.Sub(e.noise.LogProb(ctx, x), e.s(x))
}

func (e sEnergy) Params() []*ad.Tensor { return nil }

// TestRankingNCEIsSNIS checks the ranking NCE identity of Sec. 3.2 sample
// by sample: the Eq. (3) integrand of eimfamily.SNIS with π = p_N and
// U = log p_N − s, minus estimators.RankingNCE on the same data points and
// the candidates SNIS drew (recorded), equals log p_N(x₀) + log K to 1e-12,
// for two different scores s (so the constant does not depend on s), with
// a Normal noise distribution and with a finite (Discrete) one, and for
// S = 3 independent candidate sets.
func TestRankingNCEIsSNIS(t *testing.T) {
	const K, S = 6, 3
	pts := []float64{-1.5, 0.2, -0.5, 1.0, 0.0, -1.0, 0.7, 0.3, 1.2, -0.4, 2.0, 1.5}
	discrete := eimfamily.NewDiscrete(ad.New(append([]float64(nil), pts...), 6, 2), ad.New([]float64{0.3, -0.2, 0.5, 0.0, -0.7, 0.1}, 6))
	normal := &eimfamily.Normal{Loc: ad.New([]float64{0.2, -0.1}, 2), LogScale: ad.New([]float64{0.1, -0.2}, 2)}
	scores := map[string]scoreFunc{
		"s₁ = −|x − (0.5, 0)|²": func(x *ad.Tensor) *ad.Tensor {
			return ad.Neg(ad.Sum(ad.Square(ad.Sub(x, ad.New([]float64{0.5, 0}, 2))), -1))
		},
		"s₂ = tanh(x₁ − 2x₂) + 3": func(x *ad.Tensor) *ad.Tensor {
			w := ad.New([]float64{1, -2}, 2)
			return ad.AddScalar(ad.Tanh(ad.Sum(ad.Mul(x, w), -1)), 3)
		},
	}
	for _, c := range []struct {
		name  string
		noise eimfamily.Proposal
		data  *ad.Tensor // [n, 2]
	}{
		{"Normal p_N", normal, ad.New([]float64{0.3, -0.7, 1.1, 0.4, -0.2, 0.0, 2.5, -1.3}, 4, 2)},
		{"Discrete p_N", discrete, ad.New(append([]float64(nil), pts...), 6, 2)},
	} {
		n := c.data.Dim(0)
		consts := map[string][]float64{}
		for sname, s := range scores {
			rec := &recorder{Proposal: c.noise}
			snis := &eimfamily.SNIS{Proposal: rec, Energy: sEnergy{c.noise, s}, K: K}
			eq3 := snis.Integrands(rand.New(rand.NewPCG(23, 24)), nil, c.data, S) // [S, n]
			logPN := c.noise.LogProb(nil, c.data).Data()
			for r := range S {
				// Ranking NCE inputs [K, n]: row 0 the data, rows 1..K−1 the
				// candidates of sample r (shared by the batch).
				cand := ad.Slice(rec.last, 0, r*(K-1), (r+1)*(K-1)) // [K−1, 2]
				all := ad.Concat(0, ad.Unsqueeze(c.data, 0), ad.BroadcastTo(ad.Unsqueeze(cand, 1), K-1, n, 2))
				J := estimators.RankingNCE(s(all), c.noise.LogProb(nil, all))
				for i := range n {
					got := eq3.At(r, i) - J.At(i)
					want := logPN[i] + math.Log(K)
					if math.Abs(got-want) > identityTol {
						t.Errorf("%s, %s, sample %d, point %d: Eq. 3 − J_rank = %.15g, want log p_N(x₀) + log K = %.15g", c.name, sname, r, i, got, want)
					}
					consts[sname] = append(consts[sname], got)
				}
			}
		}
		a, b := consts["s₁ = −|x − (0.5, 0)|²"], consts["s₂ = tanh(x₁ − 2x₂) + 3"]
		worst := 0.0
		for i := range a {
			worst = max(worst, math.Abs(a[i]-b[i]))
		}
		if worst > identityTol {
			t.Errorf("%s: the constant depends on s: largest difference %.3g", c.name, worst)
		}
		t.Logf("%s: Eq. 3 − J_rank = log p_N(x₀) + log K for both scores; largest difference between them %.1e", c.name, worst)
	}
}
