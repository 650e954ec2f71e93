package proofs_test

// IWAE as auxiliary variable variational inference with the SNIS family
// (Lawson et al. 2019, Sec. 5.1, App. A), and the learned reverse model
// proposed at the end of Sec. 5.1, on a finite model: z takes m values,
// the proposal q̃ is an eimfamily.Discrete over them, and every
// avviExpectation over λ = (z_{1:K}, i) is computed by enumerating the m^K
// candidate tuples and K indices (K ≤ 4), through eimfamily.SNISQ.At and
// avvi.Integrand. Checked to 1e-12:
//
//   - q(z_{1:K}, i | x) sums to 1 and E[exp(integrand)] = p(x), for Eq. 6
//     and for learned reverse models;
//   - the assembled integrand equals the closed form of Eq. 5 at every λ,
//     and its avviExpectation is IWAE_K computed directly;
//   - log p(x) − IWAE_K = KL(q_SNIS(z | x) ‖ p(z | x)) + E_q KL(q(λ | z, x) ‖ r(λ | z, x)),
//     so IWAE_K ≤ ELBO of the SNIS family's marginal q_SNIS(z | x);
//   - IWAE_1 is the ELBO of q̃, and IWAE_K increases with K (exactly);
//   - the learned reverse model with r = q̃ is IWAE; its index-summed form
//     (iwae.Learned.BoundAt) has the same avviExpectation; and the best
//     factorized r, computed by enumeration, is tighter than IWAE.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/iwae"
)

// snisFinite is the finite model for IWAE: z ∈ {0, …, m−1}, stored as the
// 1-D points 0, 1, …, m−1 of a Discrete proposal q̃ with fixed logits, a
// table log p(x, z), and one data point x (the proposal's context, [1, 1];
// its value is not used).
type snisFinite struct {
	logPXZ []float64
	qt     *eimfamily.Discrete
	x      *ad.Tensor
}

const snisM = 4

func newSNISFinite() *snisFinite {
	rng := rand.New(rand.NewPCG(2016, 5))
	pts := make([]float64, snisM)
	logits := make([]float64, snisM)
	f := &snisFinite{logPXZ: make([]float64, snisM), x: ad.New([]float64{0.5}, 1, 1)}
	for z := range snisM {
		pts[z] = float64(z)
		logits[z] = -2.5 + 5*rng.Float64()
		f.logPXZ[z] = -7 + 6*rng.Float64()
	}
	f.qt = eimfamily.NewDiscrete(ad.New(pts, snisM, 1), ad.New(logits, snisM))
	return f
}

// LogJoint looks up log p(x, z) for z of shape [..., 1, 1], giving [..., 1].
func (f *snisFinite) LogJoint(_, z *ad.Tensor) *ad.Tensor {
	out := make([]float64, z.Len())
	for i, v := range z.Data() {
		out[i] = f.logPXZ[int(v)]
	}
	return ad.New(out, z.Shape()[:z.Rank()-1]...)
}

// replaySNIS is the SNIS family's Q "drawing" a given λ.
type replaySNIS struct {
	q      eimfamily.SNISQ
	lambda eimfamily.SNISAux
}

func (r replaySNIS) Sample(_ *rand.Rand, x *ad.Tensor) (*ad.Tensor, eimfamily.SNISAux, *ad.Tensor) {
	z, logq := r.q.At(x, r.lambda)
	return z, r.lambda, logq
}

// snisEnum is the result of enumerating λ = (z_{1:K}, i) for one reverse
// model.
type snisEnum struct {
	mass, bound, meanExp float64 // Σ q, E_q[w], E_q[exp w]
	logQZ                []float64
	// klAux is E_q KL(q(λ | z, x) ‖ r(λ | z, x)).
	klAux float64
	// maxDiff is the largest |w − want(λ)| over λ, for a closed form want.
	maxDiff float64
	// pairs[z][z'] = Σ_λ q(λ) [z_i = z] Σ_{j≠i} [z_j = z']: the statistic
	// whose row-normalization is the best factorized reverse model.
	pairs [snisM][snisM]float64
}

// enumerate walks all λ for K candidates, computing the integrand with
// avvi.Integrand, the SNIS family (via At) and r, and comparing it with
// want(tuple, i), a closed form.
func (f *snisFinite) enumerate(k int, r avvi.R[*ad.Tensor, *ad.Tensor, eimfamily.SNISAux], want func(cand *ad.Tensor, lambda eimfamily.SNISAux) float64) snisEnum {
	q := iwae.IWAE{K: k}.Family(f, f.qt).AsQ()
	e := snisEnum{logQZ: make([]float64, snisM)}
	type rec struct {
		logq, logr float64
		z          int
	}
	var recs []rec
	tuple := make([]int, k)
	for t := range int(math.Pow(snisM, float64(k))) {
		c := t
		vals := make([]float64, k)
		for j := range k {
			tuple[j] = c % snisM
			vals[j] = float64(tuple[j])
			c /= snisM
		}
		cand := ad.New(vals, k, 1, 1)
		for i := range k {
			lambda := eimfamily.SNISAux{Candidates: cand, Index: []int{i}}
			z, logq := q.At(f.x, lambda)
			w := avvi.Integrand(nil, f, replaySNIS{q, lambda}, r, f.x).Item()
			lq := logq.Item()
			p := math.Exp(lq)
			e.mass += p
			e.bound += p * w
			e.meanExp += p * math.Exp(w)
			e.maxDiff = max(e.maxDiff, math.Abs(w-want(cand, lambda)))
			recs = append(recs, rec{lq, r.LogProb(f.x, z, lambda).Item(), tuple[i]})
			for j := range k {
				if j != i {
					e.pairs[tuple[i]][tuple[j]] += p
				}
			}
		}
	}
	qz := make([]float64, snisM)
	for _, c := range recs {
		qz[c.z] += math.Exp(c.logq)
	}
	for z := range snisM {
		e.logQZ[z] = math.Log(qz[z])
	}
	for _, c := range recs {
		// q(λ | z, x) = q(z, λ | x)/q(z | x)
		e.klAux += math.Exp(c.logq) * (c.logq - e.logQZ[c.z] - c.logr)
	}
	return e
}

// iwaeDirect returns IWAE_K by direct enumeration of the K-tuples, plain
// float64: Σ_{z_{1:K}} Π_k q̃(z_k) log (1/K) Σ_k p(x, z_k)/q̃(z_k).
func (f *snisFinite) iwaeDirect(k int) float64 {
	lq := f.qt.LogWeights()
	total := 0.0
	lw := make([]float64, k)
	for t := range int(math.Pow(snisM, float64(k))) {
		c, logProb := t, 0.0
		for j := range k {
			z := c % snisM
			c /= snisM
			logProb += lq[z]
			lw[j] = f.logPXZ[z] - lq[z]
		}
		total += math.Exp(logProb) * (avviLogSumExp(lw) - math.Log(float64(k)))
	}
	return total
}

// tableR is a conditional r(z' | z, x) given by a table of log
// probabilities [z][z'], for iwae.Reverse and iwae.Learned.
type tableR struct{ logR [snisM][snisM]float64 }

func (r *tableR) LogProb(_, z, zp *ad.Tensor) *ad.Tensor {
	lead := ad.Add(ad.Zeros(z.Shape()[:z.Rank()-1]...), ad.Zeros(zp.Shape()[:zp.Rank()-1]...)).Shape()
	full := append(append([]int(nil), lead...), 1)
	zb, zpb := ad.BroadcastTo(z, full...).Data(), ad.BroadcastTo(zp, full...).Data()
	out := make([]float64, len(zb))
	for i := range out {
		out[i] = r.logR[int(zb[i])][int(zpb[i])]
	}
	return ad.New(out, lead...)
}

func (*tableR) Params() []*ad.Tensor { return nil }

// tableRFromCounts returns the table of log of the rows of a, normalized.
func tableRFromCounts(a [snisM][snisM]float64) *tableR {
	r := &tableR{}
	for z := range snisM {
		s := 0.0
		for _, v := range a[z] {
			s += v
		}
		for zp := range snisM {
			r.logR[z][zp] = math.Log(a[z][zp] / s)
		}
	}
	return r
}

func TestIWAEFinite(t *testing.T) {
	f := newSNISFinite()
	logp := avviLogSumExp(f.logPXZ)
	lq := f.qt.LogWeights()
	elboQt := 0.0
	for z := range snisM {
		elboQt += math.Exp(lq[z]) * (f.logPXZ[z] - lq[z])
	}
	t.Logf("log p(x) = %.15f, ELBO of q̃ = %.15f", logp, elboQt)
	closedForm := func(cand *ad.Tensor, _ eimfamily.SNISAux) float64 {
		return iwae.IntegrandAt(f, f.qt, f.x, cand).Item()
	}
	prev := math.Inf(-1)
	for k := 1; k <= 4; k++ {
		q := iwae.IWAE{K: k}.Family(f, f.qt).AsQ()
		e := f.enumerate(k, q.Reverse(), closedForm)
		direct := f.iwaeDirect(k)
		klZ, elboSNIS := 0.0, 0.0
		for z := range snisM {
			klZ += math.Exp(e.logQZ[z]) * (e.logQZ[z] - (f.logPXZ[z] - logp))
			elboSNIS += math.Exp(e.logQZ[z]) * (f.logPXZ[z] - e.logQZ[z])
		}
		t.Logf("K=%d: IWAE = %.15f, ELBO(q_SNIS) = %.15f, gap %.6f = KL(q_SNIS‖post) %.6f + E KL(q(λ|z)‖r) %.6f; max |assembled − Eq. 5| = %.1e",
			k, e.bound, elboSNIS, logp-e.bound, klZ, e.klAux, e.maxDiff)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"Σ q(λ | x)", e.mass, 1},
			{"E[exp(integrand)]", e.meanExp, math.Exp(logp)},
			{"assembled − Eq. 5, max over λ", e.maxDiff, 0},
			{"E[integrand] against direct IWAE", e.bound, direct},
			{"log p(x) − IWAE", logp - e.bound, klZ + e.klAux},
		} {
			if math.Abs(c.got-c.want) > avviExactTol {
				t.Errorf("K=%d: %s = %.15g, want %.15g", k, c.name, c.got, c.want)
			}
		}
		if k == 1 && math.Abs(e.bound-elboQt) > avviExactTol {
			t.Errorf("IWAE_1 = %.15g, want the ELBO of q̃ %.15g", e.bound, elboQt)
		}
		if !(e.bound <= elboSNIS && elboSNIS < logp) {
			t.Errorf("K=%d: want IWAE ≤ ELBO(q_SNIS) < log p(x): %v, %v, %v", k, e.bound, elboSNIS, logp)
		}
		if !(e.bound > prev) {
			t.Errorf("IWAE_%d = %.15g does not exceed IWAE_%d = %.15g", k, e.bound, k-1, prev)
		}
		prev = e.bound
	}
}

// TestIWAELearnedReverseFinite checks the learned reverse model of
// Sec. 5.1 by enumeration at K = 3: for an arbitrary table r(z' | z, x) it
// is a valid bound (E[exp] = p(x)) with the KL decomposition; with r = q̃
// it is IWAE; its index-summed form has the same avviExpectation; and the
// best factorized r (the normalized pair statistic of the IWAE family) is
// tighter than both IWAE and the arbitrary table.
func TestIWAELearnedReverseFinite(t *testing.T) {
	const k = 3
	f := newSNISFinite()
	logp := avviLogSumExp(f.logPXZ)
	iw := f.iwaeDirect(k)

	rng := rand.New(rand.NewPCG(7, 7))
	var raw [snisM][snisM]float64
	for z := range snisM {
		for zp := range snisM {
			raw[z][zp] = 0.2 + rng.Float64()
		}
	}
	q := iwae.IWAE{K: k}.Family(f, f.qt).AsQ()
	best := tableRFromCounts(f.enumerate(k, q.Reverse(), func(*ad.Tensor, eimfamily.SNISAux) float64 { return 0 }).pairs)

	for _, c := range []struct {
		name string
		r    iwae.Conditional
	}{
		{"r = q̃", iwae.Independent{Proposal: f.qt}},
		{"arbitrary table", tableRFromCounts(raw)},
		{"best factorized", best},
	} {
		b := iwae.Learned{K: k, R: c.r}
		e := f.enumerate(k, b.Reverse(), func(_ *ad.Tensor, lambda eimfamily.SNISAux) float64 {
			return b.IntegrandAt(f, f.qt, f.x, lambda).Item()
		})
		klZ := 0.0
		for z := range snisM {
			klZ += math.Exp(e.logQZ[z]) * (e.logQZ[z] - (f.logPXZ[z] - logp))
		}
		summed := 0.0 // E over z_{1:K} ~ Π q̃ of BoundAt
		lq := f.qt.LogWeights()
		for tIdx := range int(math.Pow(snisM, k)) {
			c, logProb := tIdx, 0.0
			vals := make([]float64, k)
			for j := range k {
				vals[j] = float64(c % snisM)
				logProb += lq[c%snisM]
				c /= snisM
			}
			summed += math.Exp(logProb) * b.BoundAt(f, f.qt, f.x, ad.New(vals, k, 1, 1)).Item()
		}
		t.Logf("%s: bound = %.15f (IWAE_%d = %.15f, gain %+.6f), E KL(q(λ|z)‖r) = %.6f, max |assembled − closed form| = %.1e",
			c.name, e.bound, k, iw, e.bound-iw, e.klAux, e.maxDiff)
		for _, chk := range []struct {
			name      string
			got, want float64
		}{
			{"E[exp(integrand)]", e.meanExp, math.Exp(logp)},
			{"assembled − closed form, max over λ", e.maxDiff, 0},
			{"log p(x) − bound", logp - e.bound, klZ + e.klAux},
			{"index-summed avviExpectation", summed, e.bound},
		} {
			if math.Abs(chk.got-chk.want) > avviExactTol {
				t.Errorf("%s: %s = %.15g, want %.15g", c.name, chk.name, chk.got, chk.want)
			}
		}
		switch c.name {
		case "r = q̃":
			if math.Abs(e.bound-iw) > avviExactTol {
				t.Errorf("r = q̃: bound %.15g, want IWAE_%d = %.15g", e.bound, k, iw)
			}
		case "best factorized":
			if !(e.bound > iw) {
				t.Errorf("best factorized r: bound %.15g does not exceed IWAE_%d = %.15g", e.bound, k, iw)
			}
		}
	}
}
