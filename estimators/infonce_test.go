package estimators

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// TestInfoNCEValues checks InfoNCE against its formula written out, on a
// batch of random score matrices, and the bound ℓ_i ≤ log K, with equality
// when every negative pair scores −Inf.
func TestInfoNCEValues(t *testing.T) {
	rng := seededRNG(10)
	const B, K = 3, 5
	sd := make([]float64, B*K*K)
	for i := range sd {
		sd[i] = 4 * rng.NormFloat64()
	}
	scores := ad.New(sd, B, K, K).RequireGrad()
	terms := InfoNCE(scores)
	if terms.Rank() != 2 || terms.Dim(0) != B || terms.Dim(1) != K {
		t.Fatalf("shape %v, want [%d %d]", terms.Shape(), B, K)
	}
	for b := range B {
		for i := range K {
			row := make([]float64, K)
			for j := range K {
				row[j] = sd[(b*K+i)*K+j]
			}
			want := row[i] - (logSumExpFloats(row) - math.Log(K))
			got := terms.At(b, i)
			if !scalar.EqualWithinAbs(got, want, 1e-13) {
				t.Errorf("term (%d, %d) = %v, want %v", b, i, got, want)
			}
			if got > math.Log(K)+1e-15 {
				t.Errorf("term (%d, %d) = %v above log K = %v", b, i, got, math.Log(K))
			}
		}
	}
	if g := ad.Grad(ad.Sum(terms), scores)[0]; g.HasNaN() {
		t.Error("NaN gradient")
	}
	neg := math.Inf(-1)
	perfect := InfoNCE(ad.New([]float64{1, neg, neg, neg, 2, neg, neg, neg, -3}, 3, 3))
	for i := range 3 {
		if !scalar.EqualWithinAbs(perfect.At(i), math.Log(3), 1e-15) {
			t.Errorf("perfect critic: term %d = %v, want log 3", i, perfect.At(i))
		}
	}
	mustPanic(t, "non-square", func() { InfoNCE(ad.Zeros(2, 3)) })
	mustPanic(t, "vector", func() { InfoNCE(ad.Zeros(3)) })
}

// gaussMI is the fixture of the Gaussian InfoNCE test: (x, y) standard
// normal with correlation ρ, I(X; Y) = −½ log(1 − ρ²), and the optimal
// critic f(x, y) = log p(y | x) − log p(y)
// = −½ log(1 − ρ²) − (y − ρx)²/(2(1 − ρ²)) + y²/2.
type gaussMI float64

func (rho gaussMI) mi() float64 { r := float64(rho); return -0.5 * math.Log(1-r*r) }

func (rho gaussMI) critic(x, y float64) float64 {
	r := float64(rho)
	v := 1 - r*r
	d := y - r*x
	return -0.5*math.Log(v) - d*d/(2*v) + y*y/2
}

// TestInfoNCEGaussian checks InfoNCE with the optimal critic on correlated
// Gaussians, ρ = 0.8 (I = 0.5108 nats), for K ∈ {2, 8, 32, 128, 512}. Each
// of B rounds draws 512 pairs and evaluates every K on them (512/K blocks
// of K pairs), so the estimates for different K are paired and their
// differences have small standard errors. The gap I − I_NCE is also
// estimated directly, as the mean over the pairs of f(x_i, y_i) − ℓ_i
// (E f(x, y) = I exactly for the optimal critic), which removes the noise
// of the pointwise mutual information. Asserted, each with its standard
// error over rounds:
//
//   - I_NCE is below log K and below I: the estimate is below
//     min(I, log K) + 5 s.e., and the direct gap is above 5 s.e.;
//   - I_NCE increases with K: every paired difference is above 5 s.e.
//     (so it approaches I: the gap falls from 0.29 nats at K = 2 to 0.0015
//     at K = 512).
//
// For reference the log shows K·gap against its large-K limit
// E_x[χ²(p(y | x) ‖ p(y))]/2 = (1/(1 − ρ²) − 1)/2 = 0.889 (delta method),
// which it approaches slowly (the density ratios are heavy-tailed).
func TestInfoNCEGaussian(t *testing.T) {
	rho := gaussMI(0.8)
	I := rho.mi()
	Ks := []int{2, 8, 32, 128, 512}
	const M, B = 512, 150
	rng := seededRNG(11)
	est := make([][]float64, len(Ks)) // [k][round]
	gaps := make([][]float64, len(Ks))
	for k := range est {
		est[k] = make([]float64, B)
		gaps[k] = make([]float64, B)
	}
	x, y := make([]float64, M), make([]float64, M)
	s := math.Sqrt(1 - 0.8*0.8)
	for b := range B {
		pos := 0.0
		for i := range M {
			x[i] = rng.NormFloat64()
			y[i] = 0.8*x[i] + s*rng.NormFloat64()
			pos += rho.critic(x[i], y[i])
		}
		for k, K := range Ks {
			blocks := M / K
			sc := make([]float64, 0, M*K)
			for blk := range blocks {
				for i := range K {
					for j := range K {
						sc = append(sc, rho.critic(x[blk*K+i], y[blk*K+j]))
					}
				}
			}
			est[k][b] = ad.Mean(InfoNCE(ad.New(sc, blocks, K, K))).Item()
			gaps[k][b] = pos/M - est[k][b]
		}
	}
	table := "\n   K   I_NCE ± s.e.      log K    I − I_NCE (direct) ± s.e.   K·gap   increase from previous K"
	for k, K := range Ks {
		m, se := mctest.MeanSE(est[k])
		g, gse := mctest.MeanSE(gaps[k])
		if bound := math.Min(I, math.Log(float64(K))); m > bound+mcSigmas*se {
			t.Errorf("K = %d: I_NCE = %.4f ± %.4f above min(I, log K) = %.4f", K, m, se, bound)
		}
		if g < mcSigmas*gse {
			t.Errorf("K = %d: gap I − I_NCE = %.5f ± %.5f not clearly positive", K, g, gse)
		}
		table += fmt.Sprintf("\n%4d   %.4f ± %.4f   %.4f   %.5f ± %.5f           %.3f", K, m, se, math.Log(float64(K)), g, gse, float64(K)*g)
		if k > 0 {
			d := make([]float64, B)
			for r := range B {
				d[r] = est[k][r] - est[k-1][r]
			}
			dm, dse := mctest.MeanSE(d)
			table += fmt.Sprintf("   %+.4f ± %.4f", dm, dse)
			if dm < mcSigmas*dse {
				t.Errorf("I_NCE does not increase from K = %d to %d: %+.4f ± %.4f", Ks[k-1], K, dm, dse)
			}
		}
	}
	t.Logf("InfoNCE, optimal critic, ρ = 0.8, I = %.4f, %d rounds of %d pairs (large-K K·gap: %.3f):%s", I, B, M, (1/(1-0.8*0.8)-1)/2, table)
}

// TestRankingNCEValues checks RankingNCE against its formula written out:
// J = s̄₀ − log Σ_k exp s̄_k ≤ 0 with s̄ = s − log p_N, for a batch of n
// points, and the caller errors. (proofs_test checks the identity with
// the SNIS bound of package eimfamily.)
func TestRankingNCEValues(t *testing.T) {
	rng := seededRNG(12)
	const K, n = 4, 3
	s, lp := make([]float64, K*n), make([]float64, K*n)
	for i := range s {
		s[i], lp[i] = 2*rng.NormFloat64(), -1-rng.Float64()
	}
	J := RankingNCE(ad.New(s, K, n), ad.New(lp, K, n))
	for i := range n {
		sbar := make([]float64, K)
		for k := range K {
			sbar[k] = s[k*n+i] - lp[k*n+i]
		}
		want := sbar[0] - logSumExpFloats(sbar)
		if got := J.At(i); !scalar.EqualWithinAbs(got, want, 1e-14) || got > 0 {
			t.Errorf("point %d: J = %v, want %v (≤ 0)", i, got, want)
		}
	}
	mustPanic(t, "shape mismatch", func() { RankingNCE(ad.Zeros(3, 2), ad.Zeros(2, 2)) })
	mustPanic(t, "rank 1", func() { RankingNCE(ad.Zeros(3), ad.Zeros(3)) })
}

// TestInfoNCEExtreme checks InfoNCE where the scores are huge: for K = 2,
// positives at 1e300 and negatives at −1e300 the terms are
// log 2 − log(1 + e^{−2e300}), which is log 2 in float64; equal scores of
// any size give 0 exactly; adding a constant c(x_i) per row (the critic's
// invariance) changes nothing, for c up to 1e300; and a row whose scores
// are all −Inf gives 0 (the SNIS convention of a uniform choice when every
// weight is zero, the limit of equal scores) with a zero gradient, never
// NaN. The other infinite rows get their limits: a positive at +Inf alone
// in its row gives log K, shared with j other +Inf scores log K − log(j+1),
// a positive at −Inf or below a +Inf negative −Inf.
func TestInfoNCEExtreme(t *testing.T) {
	check := func(name string, sc []float64, K int, want []float64) {
		t.Helper()
		scores := ad.New(sc, len(sc)/(K*K), K, K).RequireGrad()
		got := InfoNCE(scores)
		g := ad.Grad(ad.Sum(got), scores)[0]
		for i, w := range want {
			if v := got.Data()[i]; v != w && !(math.Abs(v-w) <= 4e-16*math.Abs(w)) {
				t.Errorf("%s: term %d = %v, want %v", name, i, v, w)
			}
		}
		if g.HasNaN() {
			t.Errorf("%s: gradient %v has NaN", name, g.Data())
		}
	}
	l2 := math.Log(2)
	check("±1e300", []float64{1e300, -1e300, -1e300, 1e300}, 2, []float64{l2, l2})
	check("equal 1e300", []float64{1e300, 1e300, 1e300, 1e300}, 2, []float64{0, 0})
	check("equal −1e300", []float64{-1e300, -1e300, -1e300, -1e300}, 2, []float64{0, 0})
	neg, inf := math.Inf(-1), math.Inf(1)
	check("all −Inf", []float64{neg, neg, neg, neg}, 2, []float64{0, 0})
	check("+Inf rows", []float64{
		inf, 0, 1, // alone at +Inf: log 3
		inf, inf, 1, // positive shares +Inf with another: log 3 − log 2
		inf, 2, inf, // positive at +Inf with one other: log 3 − log 2
	}, 3, []float64{math.Log(3), math.Log(3) - l2, math.Log(3) - l2})
	check("−Inf positives", []float64{
		neg, 0, 1, // positive −Inf, others finite: −Inf
		0, 1, inf, // positive finite, a negative +Inf: −Inf
		neg, neg, neg, // all −Inf: 0
	}, 3, []float64{neg, neg, 0})

	// Per-row constants of any size change nothing (exactly representable
	// shifts of integer scores).
	rng := seededRNG(31)
	const K = 4
	base := make([]float64, K*K)
	for i := range base {
		base[i] = float64(rng.IntN(9) - 4)
	}
	ref := InfoNCE(ad.New(base, K, K)).Data()
	for _, c := range []float64{1 << 52, 1e300} {
		top := c * K // the largest shift, whose ulp is the largest
		unit := max(1, math.Nextafter(top, math.Inf(1))-top)
		scaled, shifted := make([]float64, K*K), make([]float64, K*K)
		for i, v := range base {
			scaled[i] = v * unit
			shifted[i] = c*float64(1+i/K) + scaled[i]
			if shifted[i]-c*float64(1+i/K) != scaled[i] {
				t.Fatalf("c = %g: shift not exact", c)
			}
		}
		want := ref
		if unit != 1 {
			want = InfoNCE(ad.New(scaled, K, K)).Data()
		}
		got := InfoNCE(ad.New(shifted, K, K)).Data()
		for i := range K {
			if math.Abs(got[i]-want[i]) > 1e-14*(1+math.Abs(want[i])) {
				t.Errorf("row shift %g: term %d = %v, want %v", c, i, got[i], want[i])
			}
		}
	}
}
