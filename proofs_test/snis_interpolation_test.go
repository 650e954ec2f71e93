package proofs_test

// Sec. 3.2 of Lawson et al. (2019): the SNIS model SNIS(π, U, K)
// interpolates between its proposal π (K = 1) and the target
// π·e^{−U}/Z (K → ∞). On a finite support p_SNIS is computed exactly from
// eimfamily.SNISQ.At, the density q(z, λ) of the sampler's draws,
// summed over every λ = (z_{1:K}, i) with z_i = z. The sum runs over the
// multisets of the K candidates (a candidate tuple's density depends on
// it only through its multiset and the value selected), each weighted by
// its number of orderings, so K up to 64 costs a few thousand terms:
//
//	p_SNIS(z) = Σ_c  K!/Π_j c_j!  ·  c_z · q(rep(c), first index of z in rep(c)),
//
// with c the counts of the m support points among the K candidates and
// rep(c) the sorted tuple. Checked:
//
//   - Σ_z p_SNIS(z) = 1 to 1e-12 for every K, and p_SNIS = π for K = 1;
//   - SNIS.LogProb, eimfamily's exact density (a sum over the K − 1
//     other candidates, different code), agrees to 1e-12;
//   - KL(p_SNIS ‖ π e^{−U}/Z) decreases strictly over K = 1, …, 16, 32,
//     64, 128;
//   - it goes to 0 as the delta method predicts: with w = e^{−U},
//     Z = E_π w, V = Var_π w and t = π w/Z the target,
//
//	p_SNIS(z) = t(z) (1 + a(z)/K + O(1/K²)),   a(z) = V/Z² + 1 − w(z)/Z,
//	K² KL(p_SNIS ‖ t) → ½ Σ_z t(z) a(z)²,
//
//     and the Richardson extrapolation of K² KL from K = 32, 64, 128 lands
//     on that limit ten times closer than K² KL at K = 128 does.

import (
	"math"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
)

// multisets calls fn with every vector of m nonnegative counts summing to
// k. fn must not keep the slice.
func multisets(m, k int, fn func(counts []int)) {
	c := make([]int, m)
	var rec func(j, left int)
	rec = func(j, left int) {
		if j == m-1 {
			c[j] = left
			fn(c)
			return
		}
		for v := left; v >= 0; v-- {
			c[j] = v
			rec(j+1, left-v)
		}
	}
	rec(0, k)
}

// logMultinomial returns log (Σc)!/Π c_j!, the number of orderings of a
// multiset with counts c.
func logMultinomial(c []int) float64 {
	n := 0
	s := 0.0
	for _, v := range c {
		n += v
		lg, _ := math.Lgamma(float64(v + 1))
		s -= lg
	}
	lg, _ := math.Lgamma(float64(n + 1))
	return s + lg
}

// multisetBatch holds every multiset of K candidates over the points
// 0, …, m−1 as one batch: Candidates [K, N, 1] (each column the sorted
// tuple rep(c)), the log number of orderings of each, the counts, and for
// each value z the first index of z in each tuple (−1 if absent).
type multisetBatch struct {
	K, N       int
	candidates *ad.Tensor
	logOrders  []float64
	counts     [][]int
	first      [][]int // [z][column]
}

func newMultisetBatch(m, k int) *multisetBatch {
	b := &multisetBatch{K: k}
	var cols [][]int
	multisets(m, k, func(c []int) {
		b.counts = append(b.counts, append([]int(nil), c...))
		b.logOrders = append(b.logOrders, logMultinomial(c))
		var tuple []int
		for z, v := range c {
			for range v {
				tuple = append(tuple, z)
			}
		}
		cols = append(cols, tuple)
	})
	b.N = len(cols)
	data := make([]float64, k*b.N)
	for col, tuple := range cols {
		for j, z := range tuple {
			data[j*b.N+col] = float64(z)
		}
	}
	b.candidates = ad.New(data, k, b.N, 1)
	b.first = make([][]int, m)
	for z := range m {
		b.first[z] = make([]int, b.N)
		for col, c := range b.counts {
			pos := 0
			for j := range z {
				pos += c[j]
			}
			if c[z] == 0 {
				pos = -1
			}
			b.first[z][col] = pos
		}
	}
	return b
}

// aux returns λ = (rep(c), first index of z) for every column; columns
// without z select index 0 (their terms must be skipped by the caller).
func (b *multisetBatch) aux(z int) eimfamily.SNISAux {
	idx := make([]int, b.N)
	for col, p := range b.first[z] {
		idx[col] = max(p, 0)
	}
	return eimfamily.SNISAux{Candidates: b.candidates, Index: idx}
}

// tableEnergy is U(z) given by a table over the points 0, …, m−1 (1-D),
// ignoring the context: Energy of z [..., 1] is [...].
type tableEnergy struct{ u []float64 }

func (e tableEnergy) Energy(_, z *ad.Tensor) *ad.Tensor {
	out := make([]float64, z.Len())
	for i, v := range z.Data() {
		out[i] = e.u[int(v)]
	}
	return ad.New(out, z.Shape()[:z.Rank()-1]...)
}

func (tableEnergy) Params() []*ad.Tensor { return nil }

// snisExact returns p_SNIS(z) for z = 0, …, m−1 for the SNIS model with K
// candidates from the proposal pi and the energy e, by the multiset sum
// over eimfamily.SNISQ.At, at the 1-D context c (which the Discrete
// proposal ignores; the energy may use it).
func snisExact(pi *eimfamily.Discrete, e eimfamily.Energy, k int, c float64) []float64 {
	m := pi.Len()
	b := newMultisetBatch(m, k)
	q := (&eimfamily.SNIS{Proposal: pi, Energy: e, K: k}).AsQ()
	ctx := ad.Full(c, b.N, 1)
	p := make([]float64, m)
	for z := range m {
		_, logq := q.At(ctx, b.aux(z))
		for col, lq := range logq.Data() {
			if c := b.counts[col][z]; c > 0 {
				p[z] += math.Exp(b.logOrders[col] + math.Log(float64(c)) + lq)
			}
		}
	}
	return p
}

// klProb returns KL(p ‖ q) for probability vectors.
func klProb(p, q []float64) float64 {
	s := 0.0
	for i := range p {
		if p[i] > 0 {
			s += p[i] * math.Log(p[i]/q[i])
		}
	}
	return s
}

func TestSNISInterpolatesProposalAndTarget(t *testing.T) {
	const m = 3
	pts := ad.New([]float64{0, 1, 2}, m, 1)
	pi := eimfamily.NewDiscrete(pts, ad.New([]float64{0.3, -0.6, 1.1}, m))
	e := tableEnergy{[]float64{0.9, -1.3, 0.4}}
	piP := make([]float64, m)
	for z, l := range pi.LogWeights() {
		piP[z] = math.Exp(l)
	}
	// The target t = π w / Z and the delta-method constant ½ Σ t a².
	w := make([]float64, m)
	Z, W2 := 0.0, 0.0
	for z := range m {
		w[z] = math.Exp(-e.u[z])
		Z += piP[z] * w[z]
		W2 += piP[z] * w[z] * w[z]
	}
	V := W2 - Z*Z
	target := make([]float64, m)
	c := 0.0
	for z := range m {
		target[z] = piP[z] * w[z] / Z
		a := V/(Z*Z) + 1 - w[z]/Z
		c += 0.5 * target[z] * a * a
	}

	prevKL := math.Inf(1)
	var scaled []float64 // K² KL at K = 32, 64, 128
	for _, k := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 32, 64, 128} {
		p := snisExact(pi, e, k, 0)
		mass := 0.0
		for _, v := range p {
			mass += v
		}
		if math.Abs(mass-1) > 1e-12 {
			t.Errorf("K = %d: Σ p_SNIS = %.15g, want 1", k, mass)
		}
		if k == 1 {
			for z := range m {
				if math.Abs(p[z]-piP[z]) > 1e-15 {
					t.Errorf("K = 1: p_SNIS(%d) = %.17g, want π = %.17g", z, p[z], piP[z])
				}
			}
		}
		// SNIS.LogProb, the exact density by eimfamily's own enumeration
		// (of the K − 1 other candidates), agrees.
		lp, err := (&eimfamily.SNIS{Proposal: pi, Energy: e, K: k}).LogProb(nil, pts)
		if err != nil {
			t.Fatalf("K = %d: SNIS.LogProb: %v", k, err)
		}
		for z := range m {
			if d := math.Abs(math.Exp(lp.Data()[z]) - p[z]); d > 1e-12 {
				t.Errorf("K = %d: p_SNIS(%d) = %.15g by SNISQ.At, %.15g by SNIS.LogProb", k, z, p[z], math.Exp(lp.Data()[z]))
			}
		}
		kl := klProb(p, target)
		if !(kl < prevKL) {
			t.Errorf("K = %d: KL(p_SNIS ‖ target) = %.6g does not decrease (previous K: %.6g)", k, kl, prevKL)
		}
		prevKL = kl
		if k&(k-1) == 0 {
			t.Logf("K = %3d: KL(p_SNIS ‖ π e^{−U}/Z) = %.6e, K² KL = %.6f (limit ½ Σ t a² = %.6f), KL(p_SNIS ‖ π) = %.6f",
				k, kl, float64(k*k)*kl, c, klProb(p, piP))
		}
		if k >= 32 {
			scaled = append(scaled, float64(k*k)*kl)
		}
	}
	// K² KL = c + α/K + β/K² + O(1/K³): Richardson extrapolation from
	// K = 32, 64, 128 removes the α and β terms, and must land on c much
	// closer (10×) than K² KL at K = 128 itself.
	r1, r2 := 2*scaled[1]-scaled[0], 2*scaled[2]-scaled[1]
	limit := (4*r2 - r1) / 3
	if raw := math.Abs(scaled[2] - c); !(math.Abs(limit-c) <= raw/10) {
		t.Errorf("extrapolated K² KL = %.6f, delta-method limit %.6f: no closer than K = 128 (%.6f)", limit, c, scaled[2])
	}
	t.Logf("Richardson-extrapolated K² KL = %.7f, delta-method limit %.7f", limit, c)
}
