package ad

import (
	"math"
	"math/big"
	"testing"
)

// Accuracy of one entry of BernoulliLogLik, c·l − log1p(e^(−|l|)), and of
// its l-gradient c ± σ(−|l|), against trBernoulli and trBernGrad at
// trPrec bits, in ulps of the exact value (for the gradient at gray-level
// x, where x − σ(l) itself cancels, in units of 2⁻⁵²·(|c| + σ(−|l|))).
// Measured (both paths, the same algorithm): term 1.24, gradient 1.98.
// For x in [0, 1] the two parts of the term have the same sign (c·l ≤ 0),
// so nothing cancels there.
const (
	trMaxBernTerm = 2.0
	trMaxBernGrad = 2.5
)

// bernPoints returns (x, l) pairs: x in {0, 1} and gray levels, l over
// the ranges where e^(−|l|) matters, up to saturation and beyond.
func bernPoints() (xs, ls []float64) {
	r := trRand(20)
	var lv []float64
	lv = append(lv, trUniform(r, 1500, -40, 40)...)
	lv = append(lv, trUniform(r, 500, -3, 3)...)
	lv = append(lv, trMagnitudes(r, 800, -320, 3, true)...)
	lv = append(lv, trUniform(r, 200, -760, -700)...)
	lv = append(lv, trUniform(r, 200, 700, 760)...)
	lv = append(lv, 0, negZero, 0.88137358701954305, -0.88137358701954305, 1e300, -1e300, math.MaxFloat64, -math.MaxFloat64)
	for i, l := range lv {
		for _, x := range []float64{0, 1, r.Float64()} {
			xs = append(xs, x)
			ls = append(ls, l)
		}
		_ = i
	}
	return xs, ls
}

// TestBernoulliLogLikVsBig checks every entry of the log-likelihood and of
// its l-gradient against the reference (each entry its own row, so the
// sum is the entry), and ∂/∂x = l exactly.
func TestBernoulliLogLikVsBig(t *testing.T) {
	xs, ls := bernPoints()
	n := len(xs)
	refT := make([]*big.Float, n)
	refG := make([]*big.Float, n)
	for i := range xs {
		refT[i] = trBernoulli(xs[i], ls[i])
		refG[i] = trBernGrad(xs[i], ls[i])
	}
	trWithPath(t, func(t *testing.T) {
		x := New(append([]float64(nil), xs...), n, 1).RequireGrad()
		l := New(append([]float64(nil), ls...), n, 1).RequireGrad()
		y := BernoulliLogLik(x, l)
		gs := Grad(Sum(y), x, l)
		var maxT, maxG float64
		var worstT, worstG int
		for i := range xs {
			if e := trULP(y.data[i], refT[i]); !(e <= maxT) {
				maxT, worstT = e, i
			}
			e := trULP(gs[1].data[i], refG[i])
			if x := xs[i]; x != 0 && x != 1 {
				// x − σ(l) cancels when x ≈ σ(l), whatever the
				// algorithm: measure in units of 2⁻⁵²·(|c| + σ(−|l|)),
				// the size of the parts, instead.
				c := x
				if ls[i] > 0 {
					c = x - 1
				}
				scale := (math.Abs(c) + sigmoid(-math.Abs(ls[i]))) * 0x1p-52
				d, _ := trNew().Sub(trF(gs[1].data[i]), refG[i]).Float64()
				e = math.Abs(d) / scale
			}
			if !(e <= maxG) {
				maxG, worstG = e, i
			}
			if gs[0].data[i] != ls[i] {
				t.Fatalf("∂/∂x at l=%v is %v, want l", ls[i], gs[0].data[i])
			}
		}
		t.Logf("n=%d  term max %.4f ulp at (x, l) = (%v, %v); ∂/∂l max %.4f ulp at (%v, %v)",
			n, maxT, xs[worstT], ls[worstT], maxG, xs[worstG], ls[worstG])
		if !(maxT <= trMaxBernTerm) {
			t.Errorf("term at (x, l) = (%v, %v) is %v, exact %s: %.4f ulp, want ≤ %v",
				xs[worstT], ls[worstT], y.data[worstT], refT[worstT].Text('g', 20), maxT, trMaxBernTerm)
		}
		if !(maxG <= trMaxBernGrad) {
			t.Errorf("∂/∂l at (x, l) = (%v, %v) is %v, exact %s: %.4f ulp, want ≤ %v",
				xs[worstG], ls[worstG], gs[1].data[worstG], refG[worstG].Text('g', 20), maxG, trMaxBernGrad)
		}
	})
}

// TestBernoulliLogLikExtremes checks exact values where the answer is
// exact or a limit: saturated and infinite logits, NaN.
func TestBernoulliLogLikExtremes(t *testing.T) {
	cases := []struct{ x, l, want, grad float64 }{
		{1, 1e300, 0, 0}, {0, 1e300, -1e300, -1}, {1, -1e300, -1e300, 1}, {0, -1e300, 0, 0},
		{0.5, 1e300, -0.5e300, -0.5}, {0.5, -1e300, -0.5e300, 0.5},
		{1, inf, 0, 0}, {0, inf, -inf, -1}, {1, -inf, -inf, 1}, {0, -inf, 0, 0},
		{0.5, inf, -inf, -0.5}, {0.25, -inf, -inf, 0.25},
		{1, 800, 0, 0}, {0, -800, 0, 0}, {0, 800, -800, -1}, {1, -800, -800, 1},
		{1, 0, -math.Ln2, 0.5}, {0, 0, -math.Ln2, -0.5},
		{1, nan, nan, nan}, {nan, 1, nan, nan}, {0, nan, nan, nan},
	}
	trWithPath(t, func(t *testing.T) {
		for _, c := range cases {
			for _, n := range []int{1, 3, 4, 5} { // tail lanes and full blocks
				xv, lv := make([]float64, n), make([]float64, n)
				for i := range xv {
					xv[i], lv[i] = 1, 50 // an exact −log1p(e^−50) ≈ −2e-22 each
				}
				xv[n-1], lv[n-1] = c.x, c.l
				x, l := New(xv, 1, n), New(lv, 1, n).RequireGrad()
				y := BernoulliLogLik(x, l)
				want := c.want + float64(n-1)*bernoulliTerm(1, 50)
				if !trSame(y.data[0], want) {
					t.Errorf("n=%d: log-lik(x=%v, l=%v) = %v, want %v", n, c.x, c.l, y.data[0], want)
				}
				if g := Grad(y, l)[0].data[n-1]; !trSame(g, c.grad) {
					t.Errorf("n=%d: ∂/∂l at (x=%v, l=%v) = %v, want %v", n, c.x, c.l, g, c.grad)
				}
			}
		}
	})
}

// TestBernoulliLogLikRows checks row sums of every length 0..70 against
// the exact sum of the exact terms, within the error bound of the terms
// plus that of a recursive sum of n terms, γₙ·Σ|tᵢ| (γₙ = nu/(1 − nu),
// u = 2⁻⁵³; the kernel's four-lane sum has a smaller bound), and the
// broadcast layouts against rows computed alone, bitwise.
func TestBernoulliLogLikRows(t *testing.T) {
	r := trRand(21)
	trWithPath(t, func(t *testing.T) {
		for d := 0; d <= 70; d++ {
			xv, lv := make([]float64, d), make([]float64, d)
			exact, abs := trNew(), trNew()
			for i := range xv {
				xv[i], lv[i] = float64(r.IntN(2)), 6*r.NormFloat64()
				if i%5 == 0 {
					xv[i] = r.Float64()
				}
				T := trBernoulli(xv[i], lv[i])
				exact.Add(exact, T)
				abs.Add(abs, trNew().Abs(T))
			}
			got := BernoulliLogLik(New(xv, d), New(lv, d)).Item()
			u := 0x1p-53
			gam := float64(d) * u / (1 - float64(d)*u)
			sa, _ := abs.Float64()
			tol := (trMaxBernTerm*2*u + gam) * sa
			diff, _ := trNew().Sub(trF(got), exact).Float64()
			if math.Abs(diff) > tol {
				t.Errorf("d=%d: sum %v, exact %s, error %.3g > %.3g", d, got, exact.Text('g', 20), diff, tol)
			}
		}
		// Broadcasting: x [n, d] against logits [k, n, d] and the reverse,
		// and x [1, d] against [k, 1, d]: each row as computed alone.
		const k, n, d = 3, 4, 9
		x := Randn(r, n, d)
		l := Randn(r, k, n, d)
		one := func(xr, lr []float64) float64 { return BernoulliLogLik(New(xr, d), New(lr, d)).Item() }
		check := func(name string, y *Tensor, want func(i, j int) float64, shape []int) {
			if len(y.shape) != len(shape) || numel(y.shape) != numel(shape) {
				t.Fatalf("%s: shape %v, want %v", name, y.shape, shape)
			}
			for i := range shape[0] {
				for j := range numel(shape) / shape[0] {
					if got, w := y.data[i*(numel(shape)/shape[0])+j], want(i, j); math.Float64bits(got) != math.Float64bits(w) {
						t.Fatalf("%s[%d, %d] = %v, alone %v", name, i, j, got, w)
					}
				}
			}
		}
		check("x[n,d]·l[k,n,d]", BernoulliLogLik(x, l), func(i, j int) float64 {
			return one(x.data[j*d:(j+1)*d], l.data[(i*n+j)*d:(i*n+j+1)*d])
		}, []int{k, n})
		check("x[k,n,d]·l[n,d]", BernoulliLogLik(l, x), func(i, j int) float64 {
			return one(l.data[(i*n+j)*d:(i*n+j+1)*d], x.data[j*d:(j+1)*d])
		}, []int{k, n})
		x1 := Randn(r, 1, d)
		l3 := Randn(r, k, 1, d)
		check("x[1,d]·l[k,1,d]", BernoulliLogLik(x1, l3), func(i, _ int) float64 {
			return one(x1.data, l3.data[i*d:(i+1)*d])
		}, []int{k, 1})
	})
}

// TestBernoulliLogLikSplit runs inputs above the split threshold and
// requires every row and every gradient entry bitwise as computed row by
// row on one goroutine.
func TestBernoulliLogLikSplit(t *testing.T) {
	r := trRand(22)
	const rows, d = 301, 67
	x := Zeros(rows, d)
	for i := range x.data {
		x.data[i] = float64(r.IntN(2))
	}
	l := Randn(r, rows, d).RequireGrad()
	y := BernoulliLogLik(x, l)
	g := Grad(Sum(y), l)[0]
	prev := SetMaxThreads(1)
	defer SetMaxThreads(prev)
	y1 := BernoulliLogLik(x, l)
	g1 := Grad(Sum(y1), l)[0]
	for i := range y.data {
		if math.Float64bits(y.data[i]) != math.Float64bits(y1.data[i]) {
			t.Fatalf("row %d: %v split, %v serial", i, y.data[i], y1.data[i])
		}
	}
	for i := range g.data {
		if math.Float64bits(g.data[i]) != math.Float64bits(g1.data[i]) {
			t.Fatalf("gradient %d: %v split, %v serial", i, g.data[i], g1.data[i])
		}
	}
}

func TestBernoulliLogLikPanics(t *testing.T) {
	for _, c := range [][2][]int{{{3}, {4}}, {{}, {3}}, {{2, 3}, {4, 3}}, {{3}, {}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("BernoulliLogLik(%v, %v) did not panic", c[0], c[1])
				}
			}()
			BernoulliLogLik(Zeros(c[0]...), Zeros(c[1]...))
		}()
	}
}
