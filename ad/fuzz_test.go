package ad_test

import (
	"math"
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// FuzzLogSumExp checks LogSumExp and LogMeanExp, and their first and
// second derivatives, for NaN and for the invariants
//
//	max x ≤ lse(x) ≤ max x + log n,   lme(x) = lse(x) − log n,
//	∇lse = softmax(x) ∈ [0, 1]ⁿ, summing to 1, exactly 0 at −Inf entries,
//	∇²lse·v = p ⊙ (v − p·v) with p = softmax(x),
//
// on up to four values. The first byte of pat picks n = 1 + pat[0] mod 4;
// the next bytes replace value i by −Inf, +1e300 or −1e300 (pat[i+1] mod 4
// = 1, 2, 3), so the fuzzer reaches the edge cases quickly.
//
// An all −Inf input gives −Inf and a zero gradient. NaN inputs are out of
// scope and skipped. An input with a +Inf entry has value +Inf (the sum
// diverges); only the value is checked there, as gradients at +Inf are not
// defined.
func FuzzLogSumExp(f *testing.F) {
	inf := math.Inf(1)
	f.Add(0.5, -1.0, 2.0, 0.0, []byte{3})
	f.Add(1e300, 1e300, -1e300, 0.0, []byte{3})
	f.Add(-1e300, -1e300, 0.0, 0.0, []byte{1})
	f.Add(-inf, -inf, -inf, -inf, []byte{3})
	f.Add(-inf, 0.25, -inf, -inf, []byte{3})
	f.Add(0.0, 0.0, 0.0, 0.0, []byte{3, 1, 1, 1, 1})
	f.Add(0.0, 0.0, 0.0, 0.0, []byte{3, 2, 2, 1, 3})
	f.Add(1.0, 0.0, 0.0, 0.0, []byte{2, 3, 2})
	f.Add(inf, 0.0, -inf, 1.0, []byte{3})
	f.Add(math.MaxFloat64, math.MaxFloat64, -math.MaxFloat64, 0.0, []byte{3})
	f.Add(5.0, 0.0, 0.0, 0.0, []byte{0})
	f.Add(5e-324, -5e-324, 0.0, 0.0, []byte{3})
	f.Add(700.0, -700.0, 1e-300, 1e300, []byte{3})
	f.Fuzz(func(t *testing.T, a, b, c, d float64, pat []byte) {
		vals := []float64{a, b, c, d}
		n := len(vals)
		if len(pat) > 0 {
			n = 1 + int(pat[0])%4
			for i, p := range pat[1:min(len(pat), 5)] {
				switch p % 4 {
				case 1:
					vals[i] = math.Inf(-1)
				case 2:
					vals[i] = 1e300
				case 3:
					vals[i] = -1e300
				}
			}
		}
		vals = vals[:n]
		if slices.ContainsFunc(vals, math.IsNaN) {
			t.Skip("NaN input")
		}
		checkLogSumExp(t, vals)
	})
}

func checkLogSumExp(t *testing.T, vals []float64) {
	n := len(vals)
	logn := math.Log(float64(n))
	m := slices.Max(vals)
	x := ad.New(slices.Clone(vals), n).RequireGrad()
	lse := ad.LogSumExp(x, 0).Item()
	lme := ad.LogMeanExp(x, 0).Item()
	if math.IsNaN(lse) || math.IsNaN(lme) {
		t.Fatalf("x = %v: lse %v, lme %v", vals, lse, lme)
	}
	if lme != lse-logn {
		t.Errorf("x = %v: lme %v ≠ lse − log n = %v", vals, lme, lse-logn)
	}
	// The same values laid out along either axis of a 2-D tensor, twice,
	// give bitwise the same results.
	rows := ad.New(append(slices.Clone(vals), vals...), 2, n)
	cols := ad.Transpose(rows)
	for _, r := range []*ad.Tensor{ad.LogSumExp(rows, 1), ad.LogSumExp(cols, 0)} {
		if got := r.Data(); !(same(got[0], lse) && same(got[1], lse)) {
			t.Errorf("x = %v: LogSumExp along an axis of a 2-D tensor = %v, want %v twice", vals, got, lse)
		}
	}
	if math.IsInf(m, 1) {
		if lse != m || lme != m {
			t.Errorf("x = %v has +Inf: lse %v, lme %v, want +Inf", vals, lse, lme)
		}
		return
	}
	if math.IsInf(m, -1) {
		if lse != m || lme != m {
			t.Errorf("x = %v is all −Inf: lse %v, lme %v, want −Inf", vals, lse, lme)
		}
	} else {
		// m ≤ lse exactly: the max term is exp(0) = 1, so log s ≥ 0. The
		// upper bounds allow a few ulps for the rounding of m + log n.
		slack := 4 * eps * (math.Abs(m) + logn)
		if lse < m || lse > m+logn+slack {
			t.Errorf("x = %v: lse %v outside [max, max + log n] = [%v, %v]", vals, lse, m, m+logn)
		}
		if lme > m+slack || lme < m-logn-slack {
			t.Errorf("x = %v: lme %v outside [max − log n, max] = [%v, %v]", vals, lme, m-logn, m)
		}
	}

	// First order: the gradient of both is softmax(x).
	p := ad.Grad(ad.LogSumExp(x, 0), x)[0].Data()
	pm := ad.Grad(ad.LogMeanExp(x, 0), x)[0].Data()
	sum := 0.0
	for i, v := range p {
		if math.IsNaN(v) || v < 0 || v > 1 {
			t.Errorf("x = %v: ∇lse[%d] = %v, want in [0, 1]", vals, i, v)
		}
		if math.IsInf(vals[i], -1) && v != 0 {
			t.Errorf("x = %v: ∇lse[%d] = %v at −Inf, want 0", vals, i, v)
		}
		if pm[i] != v {
			t.Errorf("x = %v: ∇lme[%d] = %v ≠ ∇lse[%d] = %v", vals, i, pm[i], i, v)
		}
		sum += v
	}
	wantSum := 1.0
	if math.IsInf(m, -1) {
		wantSum = 0
	}
	if math.Abs(sum-wantSum) > 4*float64(n)*eps {
		t.Errorf("x = %v: ∇lse = %v sums to %v, want %v", vals, p, sum, wantSum)
	}
	// The softmax agrees, and sums to 1 too.
	sm := ad.Softmax(x, 0).Data()
	for i := range sm {
		if math.IsNaN(sm[i]) || math.Abs(sm[i]-p[i]) > 4*eps {
			t.Errorf("x = %v: Softmax[%d] = %v, ∇lse %v", vals, i, sm[i], p[i])
		}
	}
	if ad.LogSoftmax(x, 0).HasNaN() {
		t.Errorf("x = %v: LogSoftmax has NaN: %v", vals, ad.LogSoftmax(x, 0))
	}

	// Second order: the Hessian–vector product through GradGraph.
	v := []float64{0.7, -1.3, 0.4, 2.1}[:n]
	pv, vabs := 0.0, 0.0
	for i := range v {
		pv += p[i] * v[i]
		vabs += math.Abs(v[i])
	}
	for _, lmeToo := range []bool{false, true} {
		var y *ad.Tensor
		if lmeToo {
			y = ad.LogMeanExp(x, 0)
		} else {
			y = ad.LogSumExp(x, 0)
		}
		g := ad.GradGraph(y, x)[0]
		hv := ad.Grad(ad.Sum(ad.Mul(g, ad.New(slices.Clone(v), n))), x)[0].Data()
		for i := range hv {
			want := p[i] * (v[i] - pv)
			if math.IsNaN(hv[i]) || math.Abs(hv[i]-want) > 16*eps*vabs {
				t.Errorf("x = %v (lme %v): ∇²·v [%d] = %v, want %v", vals, lmeToo, i, hv[i], want)
			}
			if math.IsInf(vals[i], -1) && hv[i] != 0 {
				t.Errorf("x = %v (lme %v): ∇²·v [%d] = %v at −Inf, want 0", vals, lmeToo, i, hv[i])
			}
		}
	}
}

// same reports bitwise-equal floats, NaN equal to NaN.
func same(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
