package ad_test

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
)

// Forward values. Shape operations only move or add entries, so they are
// compared exactly with hand-computed results.

// x23 is [[1 2 3] [4 5 6]].
func x23() *ad.Tensor { return t1(sh(2, 3), 1, 2, 3, 4, 5, 6) }

// x234 holds 0, 1, …, 23 in shape [2 3 4]: entry (i, j, k) is 12i + 4j + k.
func x234() *ad.Tensor {
	x := ad.Zeros(2, 3, 4)
	for i := range x.Data() {
		x.Data()[i] = float64(i)
	}
	return x
}

func TestTransposeValues(t *testing.T) {
	wantTensor(t, "Transpose([2 3])", ad.Transpose(x23()), t1(sh(3, 2), 1, 4, 2, 5, 3, 6))
	wantTensor(t, "Transpose([2 3], 1, 0)", ad.Transpose(x23(), 1, 0), t1(sh(3, 2), 1, 4, 2, 5, 3, 6))
	wantTensor(t, "Transpose([2 3], 0, 1)", ad.Transpose(x23(), 0, 1), x23())
	wantTensor(t, "Transpose([3], 0)", ad.Transpose(t1(sh(3), 1, 2, 3), 0), t1(sh(3), 1, 2, 3))
	// [2 3 4] with perm (2, 0, 1): out[k][i][j] = x[i][j][k] = 12i + 4j + k.
	want := ad.Zeros(4, 2, 3)
	for k := 0; k < 4; k++ {
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				want.Data()[k*6+i*3+j] = float64(12*i + 4*j + k)
			}
		}
	}
	wantTensor(t, "Transpose([2 3 4], 2, 0, 1)", ad.Transpose(x234(), 2, 0, 1), want)
	// No perm on rank 3 swaps the last two axes: out[i][k][j] = x[i][j][k].
	wantTensor(t, "Transpose([2 3 4])", ad.Transpose(x234()), t1(sh(2, 4, 3),
		0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11,
		12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23))
	wantTensor(t, "Transpose([2 3 4], 0, 1, 2)", ad.Transpose(x234(), 0, 1, 2), x234())
}

func TestReshapeValues(t *testing.T) {
	wantTensor(t, "Reshape([2 3], 3, 2)", ad.Reshape(x23(), 3, 2), t1(sh(3, 2), 1, 2, 3, 4, 5, 6))
	wantTensor(t, "Reshape([2 3], -1)", ad.Reshape(x23(), -1), t1(sh(6), 1, 2, 3, 4, 5, 6))
	wantTensor(t, "Reshape([2 3], 1, -1, 1)", ad.Reshape(x23(), 1, -1, 1), t1(sh(1, 6, 1), 1, 2, 3, 4, 5, 6))
	wantTensor(t, "Unsqueeze([2 3], 0)", ad.Unsqueeze(x23(), 0), t1(sh(1, 2, 3), 1, 2, 3, 4, 5, 6))
	wantTensor(t, "Unsqueeze([2 3], 1)", ad.Unsqueeze(x23(), 1), t1(sh(2, 1, 3), 1, 2, 3, 4, 5, 6))
	wantTensor(t, "Unsqueeze([2 3], -1)", ad.Unsqueeze(x23(), -1), t1(sh(2, 3, 1), 1, 2, 3, 4, 5, 6))
	wantTensor(t, "Reshape(scalar, 1, 1)", ad.Reshape(ad.Scalar(7), 1, 1), t1(sh(1, 1), 7))
	wantTensor(t, "Reshape([1 1])", ad.Reshape(t1(sh(1, 1), 7)), ad.Scalar(7))
}

func TestSliceValues(t *testing.T) {
	wantTensor(t, "Slice([2 3], 1, 1, 3)", ad.Slice(x23(), 1, 1, 3), t1(sh(2, 2), 2, 3, 5, 6))
	wantTensor(t, "Slice([2 3], 0, 1, 2)", ad.Slice(x23(), 0, 1, 2), t1(sh(1, 3), 4, 5, 6))
	wantTensor(t, "Slice([2 3], -1, 0, 0)", ad.Slice(x23(), -1, 0, 0), ad.Zeros(2, 0))
	wantTensor(t, "Slice([2 3 4], 1, 2, 3)", ad.Slice(x234(), 1, 2, 3), t1(sh(2, 1, 4), 8, 9, 10, 11, 20, 21, 22, 23))
	wantTensor(t, "Slice([2 3 4], 2, 1, 3)", ad.Slice(x234(), 2, 1, 3), t1(sh(2, 3, 2),
		1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22))
}

func TestConcatStackValues(t *testing.T) {
	a := x23()
	b := t1(sh(2, 1), 7, 8)
	c := t1(sh(1, 3), 9, 10, 11)
	wantTensor(t, "Concat(1, a, b)", ad.Concat(1, a, b), t1(sh(2, 4), 1, 2, 3, 7, 4, 5, 6, 8))
	wantTensor(t, "Concat(-1, b, a, b)", ad.Concat(-1, b, a, b), t1(sh(2, 5), 7, 1, 2, 3, 7, 8, 4, 5, 6, 8))
	wantTensor(t, "Concat(0, a, c)", ad.Concat(0, a, c), t1(sh(3, 3), 1, 2, 3, 4, 5, 6, 9, 10, 11))
	wantTensor(t, "Concat(0, a)", ad.Concat(0, a), a)
	wantTensor(t, "Concat(0, [2], [0], [1])", ad.Concat(0, t1(sh(2), 1, 2), ad.Zeros(0), t1(sh(1), 3)), t1(sh(3), 1, 2, 3))
	d := t1(sh(2, 3), -1, -2, -3, -4, -5, -6)
	wantTensor(t, "Stack(0, a, d)", ad.Stack(0, a, d), t1(sh(2, 2, 3), 1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6))
	wantTensor(t, "Stack(1, a, d)", ad.Stack(1, a, d), t1(sh(2, 2, 3), 1, 2, 3, -1, -2, -3, 4, 5, 6, -4, -5, -6))
	wantTensor(t, "Stack(-1, a, d)", ad.Stack(-1, a, d), t1(sh(2, 3, 2), 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6))
	wantTensor(t, "Stack(0, scalars)", ad.Stack(0, ad.Scalar(1), ad.Scalar(2)), t1(sh(2), 1, 2))
}

func TestIndexValues(t *testing.T) {
	wantTensor(t, "IndexSelect(0, [1 1 0])", ad.IndexSelect(x23(), 0, []int{1, 1, 0}),
		t1(sh(3, 3), 4, 5, 6, 4, 5, 6, 1, 2, 3))
	wantTensor(t, "IndexSelect(1, [2 0 2 2])", ad.IndexSelect(x23(), 1, []int{2, 0, 2, 2}),
		t1(sh(2, 4), 3, 1, 3, 3, 6, 4, 6, 6))
	wantTensor(t, "IndexSelect(1, [])", ad.IndexSelect(x23(), 1, nil), ad.Zeros(2, 0))
	wantTensor(t, "IndexSelect([2 3 4], 1, [2 0])", ad.IndexSelect(x234(), 1, []int{2, 0}),
		t1(sh(2, 2, 4), 8, 9, 10, 11, 0, 1, 2, 3, 20, 21, 22, 23, 12, 13, 14, 15))
	// Gather along 1: out[i][j] = x[i][idx[i][j]].
	wantTensor(t, "Gather(1)", ad.Gather(x23(), 1, []int{2, 2, 0, 1}, 2), t1(sh(2, 2), 3, 3, 4, 5))
	// Gather along 0: out[i][j] = x[idx[i][j]][j].
	wantTensor(t, "Gather(0)", ad.Gather(x23(), 0, []int{1, 0, 1}, 1), t1(sh(1, 3), 4, 2, 6))
	wantTensor(t, "Gather(0, m=2)", ad.Gather(x23(), 0, []int{1, 0, 1, 0, 0, 1}, 2), t1(sh(2, 3), 4, 2, 6, 1, 2, 6))
	// [2 3 4] along the middle axis: out[i][j][k] = x[i][idx[i][j][k]][k].
	idx := []int{2, 1, 0, 0, 1, 1, 2, 2}
	wantTensor(t, "Gather([2 3 4], 1)", ad.Gather(x234(), 1, idx, 1), t1(sh(2, 1, 4), 8, 5, 2, 3, 16, 17, 22, 23))

	// The adjoints add where indices repeat.
	x := x23().RequireGrad()
	g := ad.Grad(ad.Sum(ad.IndexSelect(x, 1, []int{2, 0, 2, 2})), x)[0]
	wantTensor(t, "∂ΣIndexSelect", g, t1(sh(2, 3), 1, 0, 3, 1, 0, 3))
	g = ad.Grad(ad.Sum(ad.Gather(x, 1, []int{2, 2, 0, 1}, 2)), x)[0]
	wantTensor(t, "∂ΣGather", g, t1(sh(2, 3), 0, 0, 2, 1, 1, 0))
}

func TestBroadcastValues(t *testing.T) {
	wantTensor(t, "BroadcastTo([3], 2, 3)", ad.BroadcastTo(t1(sh(3), 1, 2, 3), 2, 3), t1(sh(2, 3), 1, 2, 3, 1, 2, 3))
	wantTensor(t, "BroadcastTo([2 1], 2, 3)", ad.BroadcastTo(t1(sh(2, 1), 1, 2), 2, 3), t1(sh(2, 3), 1, 1, 1, 2, 2, 2))
	wantTensor(t, "BroadcastTo(scalar, 2, 2)", ad.BroadcastTo(ad.Scalar(5), 2, 2), t1(sh(2, 2), 5, 5, 5, 5))
	wantTensor(t, "BroadcastTo([2 1], 2, 2, 3)", ad.BroadcastTo(t1(sh(2, 1), 1, 2), 2, 2, 3),
		t1(sh(2, 2, 3), 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2))
	wantTensor(t, "BroadcastTo([2 1 3], 2, 2, 3)", ad.BroadcastTo(t1(sh(2, 1, 3), 1, 2, 3, 4, 5, 6), 2, 2, 3),
		t1(sh(2, 2, 3), 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6))
	wantTensor(t, "SumTo([2 3], 3)", ad.SumTo(x23(), 3), t1(sh(3), 5, 7, 9))
	wantTensor(t, "SumTo([2 3], 1, 3)", ad.SumTo(x23(), 1, 3), t1(sh(1, 3), 5, 7, 9))
	wantTensor(t, "SumTo([2 3], 2, 1)", ad.SumTo(x23(), 2, 1), t1(sh(2, 1), 6, 15))
	wantTensor(t, "SumTo([2 3])", ad.SumTo(x23()), ad.Scalar(21))
	wantTensor(t, "SumTo([2 3], 1, 1)", ad.SumTo(x23(), 1, 1), t1(sh(1, 1), 21))
	wantTensor(t, "SumTo([2 3 4], 3, 1)", ad.SumTo(x234(), 3, 1), t1(sh(3, 1),
		0+1+2+3+12+13+14+15, 4+5+6+7+16+17+18+19, 8+9+10+11+20+21+22+23))
	wantTensor(t, "SumTo([2 3 4], 2, 1, 4)", ad.SumTo(x234(), 2, 1, 4), t1(sh(2, 1, 4),
		12, 15, 18, 21, 48, 51, 54, 57))
}

func TestReduceValues(t *testing.T) {
	wantTensor(t, "Sum([2 3])", ad.Sum(x23()), ad.Scalar(21))
	wantTensor(t, "Sum([2 3], 0)", ad.Sum(x23(), 0), t1(sh(3), 5, 7, 9))
	wantTensor(t, "Sum([2 3], 1)", ad.Sum(x23(), 1), t1(sh(2), 6, 15))
	wantTensor(t, "Sum([2 3], -1)", ad.Sum(x23(), -1), t1(sh(2), 6, 15))
	wantTensor(t, "Sum([2 3], 0, 1)", ad.Sum(x23(), 0, 1), ad.Scalar(21))
	wantTensor(t, "Sum([2 3], 1, 1)", ad.Sum(x23(), 1, 1), t1(sh(2), 6, 15))
	wantTensor(t, "Sum([2 3 4], 0, 2)", ad.Sum(x234(), 0, 2), t1(sh(3), 60, 92, 124))
	wantTensor(t, "Sum([2 3 4], 2, 0)", ad.Sum(x234(), 2, 0), t1(sh(3), 60, 92, 124))
	wantTensor(t, "Sum([2 3 4], 1)", ad.Sum(x234(), 1), t1(sh(2, 4), 12, 15, 18, 21, 48, 51, 54, 57))
	wantTensor(t, "Mean([2 3])", ad.Mean(x23()), ad.Scalar(3.5))
	wantTensor(t, "Mean([2 3], 1)", ad.Mean(x23(), 1), t1(sh(2), 2, 5))
	wantTensor(t, "Mean([2 3 4], 0, 2)", ad.Mean(x234(), 0, 2), t1(sh(3), 7.5, 11.5, 15.5))

	m := t1(sh(2, 3), 3, -1, 7, 2, 9, -4)
	wantTensor(t, "Max(0)", ad.Max(m, 0), t1(sh(3), 3, 9, 7))
	wantTensor(t, "Max(1)", ad.Max(m, 1), t1(sh(2), 7, 9))
	wantTensor(t, "Max(-1)", ad.Max(m, -1), t1(sh(2), 7, 9))
	wantTensor(t, "Max([2 3 4], 1)", ad.Max(x234(), 1), t1(sh(2, 4), 8, 9, 10, 11, 20, 21, 22, 23))
	inf := math.Inf(1)
	wantTensor(t, "Max with ±Inf", ad.Max(t1(sh(3), -inf, -inf, -inf), 0), ad.Scalar(-inf))
	wantTensor(t, "Max with +Inf", ad.Max(t1(sh(3), 1, inf, 2), 0), ad.Scalar(inf))

	// Ties: the gradient goes to the first maximal entry (documented).
	x := t1(sh(2, 3), 5, 1, 5, 0, 2, 2).RequireGrad()
	wantTensor(t, "∂ΣMax(1) with ties", ad.Grad(ad.Sum(ad.Max(x, 1)), x)[0], t1(sh(2, 3), 1, 0, 0, 0, 1, 0))
	// Maximum and Minimum send ties to a (documented).
	a := t1(sh(2), 1, 2).RequireGrad()
	b := t1(sh(2), 1, 3).RequireGrad()
	gs := ad.Grad(ad.Sum(ad.Maximum(a, b)), a, b)
	wantTensor(t, "∂Maximum/∂a with a tie", gs[0], t1(sh(2), 1, 0))
	wantTensor(t, "∂Maximum/∂b with a tie", gs[1], t1(sh(2), 0, 1))
	gs = ad.Grad(ad.Sum(ad.Minimum(a, b)), a, b)
	wantTensor(t, "∂Minimum/∂a with a tie", gs[0], t1(sh(2), 1, 1))
	wantTensor(t, "∂Minimum/∂b with a tie", gs[1], t1(sh(2), 0, 0))
}

// TestUnaryValues compares elementwise operations with the math package
// entry by entry; the stable formulations (Sigmoid, LogSigmoid, Softplus)
// are compared with the naive formula where that is accurate, within a few
// ulps, and checked at extreme arguments where it is not.
func TestUnaryValues(t *testing.T) {
	rng := newRNG("unary values")
	// More than 8192 entries, so that the kernels split the work across
	// goroutines: the results must still be those of the scalar functions.
	const n = 1<<13 + 1001
	x := ad.MulScalar(randn(rng, n), 3)
	p := uniform(rng, 0.01, 10, n)
	exact := []struct {
		name string
		f    func(*ad.Tensor) *ad.Tensor
		in   *ad.Tensor
		ref  func(float64) float64
	}{
		{"Neg", ad.Neg, x, func(v float64) float64 { return -v }},
		{"Expm1", ad.Expm1, x, math.Expm1},
		{"Square", ad.Square, x, func(v float64) float64 { return v * v }},
		{"Sqrt", ad.Sqrt, p, math.Sqrt},
		{"Pow(1.7)", func(x *ad.Tensor) *ad.Tensor { return ad.Pow(x, 1.7) }, p, func(v float64) float64 { return math.Pow(v, 1.7) }},
		{"Abs", ad.Abs, x, math.Abs},
		{"Clamp", func(x *ad.Tensor) *ad.Tensor { return ad.Clamp(x, -1, 2) }, x, func(v float64) float64 { return min(max(v, -1), 2) }},
		{"AddScalar", func(x *ad.Tensor) *ad.Tensor { return ad.AddScalar(x, 0.5) }, x, func(v float64) float64 { return v + 0.5 }},
		{"MulScalar", func(x *ad.Tensor) *ad.Tensor { return ad.MulScalar(x, 0.5) }, x, func(v float64) float64 { return v * 0.5 }},
	}
	for _, c := range exact {
		y := c.f(c.in)
		if !slices.Equal(y.Shape(), c.in.Shape()) {
			t.Errorf("%s: shape %v, want %v", c.name, y.Shape(), c.in.Shape())
		}
		for i, v := range c.in.Data() {
			if got, want := y.Data()[i], c.ref(v); got != want {
				t.Errorf("%s(%v) = %v, want %v", c.name, v, got, want)
				break
			}
		}
	}
	// Exp, Log and Log1p are vector kernels (transc_amd64.s) or their
	// scalar ports, not package math: each is within 1 ulp of the exact
	// value, as math is on these arguments (transc_test.go checks both
	// against a 256-bit reference), so within 2 ulp of math.
	ulp2 := []struct {
		name string
		f    func(*ad.Tensor) *ad.Tensor
		in   *ad.Tensor
		ref  func(float64) float64
	}{
		{"Exp", ad.Exp, x, math.Exp},
		{"Log", ad.Log, p, math.Log},
		{"Log1p", ad.Log1p, p, math.Log1p},
	}
	for _, c := range ulp2 {
		y := c.f(c.in)
		for i, v := range c.in.Data() {
			got, want := y.Data()[i], c.ref(v)
			if lo, hi := math.Nextafter(math.Nextafter(want, -1e308), -1e308), math.Nextafter(math.Nextafter(want, 1e308), 1e308); got < lo || got > hi {
				t.Errorf("%s(%v) = %v, want %v within 2 ulp", c.name, v, got, want)
				break
			}
		}
	}
	// tol: the stable and naive formulas differ by a few roundings.
	const tol = 8 * eps
	close := []struct {
		name string
		f    func(*ad.Tensor) *ad.Tensor
		ref  func(float64) float64
	}{
		{"Sigmoid", ad.Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"LogSigmoid", ad.LogSigmoid, func(v float64) float64 { return -math.Log1p(math.Exp(-v)) }},
		{"Softplus", ad.Softplus, func(v float64) float64 { return math.Log1p(math.Exp(v)) }},
	}
	for _, c := range close {
		y := c.f(x)
		for i, v := range x.Data() {
			if got, want := y.Data()[i], c.ref(v); !scalar.EqualWithinAbsOrRel(got, want, tol, tol) {
				t.Errorf("%s(%v) = %v, want %v", c.name, v, got, want)
				break
			}
		}
	}
	big := t1(sh(4), -1000, -40, 40, 1000)
	wantTensor(t, "Sigmoid(extremes)", ad.Sigmoid(big), t1(sh(4), 0, math.Exp(-40)/(1+math.Exp(-40)), 1/(1+math.Exp(-40)), 1))
	wantTensor(t, "Softplus(extremes)", ad.Softplus(big), t1(sh(4), 0, math.Log1p(math.Exp(-40)), 40+math.Log1p(math.Exp(-40)), 1000))
	wantTensor(t, "LogSigmoid(extremes)", ad.LogSigmoid(big), t1(sh(4), -1000, -40-math.Log1p(math.Exp(-40)), -math.Log1p(math.Exp(-40)), 0))
}

// bcastRef computes a op b with NumPy broadcasting the slow way, through
// multi-indices.
func bcastRef(a, b *ad.Tensor, f func(x, y float64) float64) *ad.Tensor {
	n := max(a.Rank(), b.Rank())
	dim := func(s []int, i int) int {
		if j := len(s) - n + i; j >= 0 {
			return s[j]
		}
		return 1
	}
	shape := make([]int, n)
	for i := range shape {
		shape[i] = max(dim(a.Shape(), i), dim(b.Shape(), i))
	}
	out := ad.Zeros(shape...)
	idx := make([]int, n)
	at := func(x *ad.Tensor) float64 {
		r := x.Rank()
		sub := make([]int, r)
		for j := 0; j < r; j++ {
			if x.Shape()[j] != 1 {
				sub[j] = idx[n-r+j]
			}
		}
		return x.At(sub...)
	}
	for i := range out.Data() {
		rem := i
		for k := n - 1; k >= 0; k-- {
			idx[k] = rem % shape[k]
			rem /= shape[k]
		}
		out.Data()[i] = f(at(a), at(b))
	}
	return out
}

func TestBinaryValues(t *testing.T) {
	rng := newRNG("binary values")
	ops := []struct {
		name string
		f    func(a, b *ad.Tensor) *ad.Tensor
		ref  func(x, y float64) float64
	}{
		{"Add", ad.Add, func(x, y float64) float64 { return x + y }},
		{"Sub", ad.Sub, func(x, y float64) float64 { return x - y }},
		{"Mul", ad.Mul, func(x, y float64) float64 { return x * y }},
		{"Div", ad.Div, func(x, y float64) float64 { return x / y }},
		{"Maximum", ad.Maximum, math.Max},
		{"Minimum", ad.Minimum, math.Min},
	}
	for _, o := range ops {
		for _, s := range binaryShapes {
			a, b := randn(rng, s[0]...), randn(rng, s[1]...)
			wantTensor(t, o.name+"("+a.String()+", "+b.String()+")", o.f(a, b), bcastRef(a, b, o.ref))
		}
	}
	cond := t1(sh(2, 3), 1, 0, 0, 1, 1, 0)
	wantTensor(t, "Where", ad.Where(cond, t1(sh(3), 1, 2, 3), ad.Scalar(-1)), t1(sh(2, 3), 1, -1, -1, 1, 2, -1))
	wantTensor(t, "GreaterEqual", ad.GreaterEqual(t1(sh(3), 1, 2, 3), ad.Scalar(2)), t1(sh(3), 0, 1, 1))
	wantTensor(t, "Greater", ad.Greater(t1(sh(2, 1), 1, 2), t1(sh(2), 1, 2)), t1(sh(2, 2), 0, 0, 1, 0))
}

func TestMatMulValues(t *testing.T) {
	// Hand-computed: [[1 2 3] [4 5 6]]·[[1 0] [0 1] [1 1]] = [[4 5] [10 11]].
	b := t1(sh(3, 2), 1, 0, 0, 1, 1, 1)
	wantTensor(t, "MatMul", ad.MatMul(x23(), b), t1(sh(2, 2), 4, 5, 10, 11))
	wantTensor(t, "MatMulT", ad.MatMulT(x23(), ad.Transpose(b)), t1(sh(2, 2), 4, 5, 10, 11))
	wantTensor(t, "TMatMul", ad.TMatMul(ad.Transpose(x23()), b), t1(sh(2, 2), 4, 5, 10, 11))

	// Against a naive triple loop on random batched operands. gemm may sum
	// in another order, so allow k roundings of the largest product.
	rng := newRNG("matmul values")
	naive := func(a, b *ad.Tensor, tA, tB bool) *ad.Tensor {
		get := func(x *ad.Tensor, batch, i, j int, tr bool) float64 {
			if tr {
				i, j = j, i
			}
			r, c := x.Dim(-2), x.Dim(-1)
			if x.Rank() == 2 {
				batch = 0
			}
			return x.Data()[batch*r*c+i*c+j]
		}
		m, k := a.Dim(-2), a.Dim(-1)
		if tA {
			m, k = k, m
		}
		n := b.Dim(-1)
		if tB {
			n = b.Dim(-2)
		}
		bs := a.Shape()[:a.Rank()-2]
		if b.Rank() > 2 {
			bs = b.Shape()[:b.Rank()-2]
		}
		nb := 1
		for _, d := range bs {
			nb *= d
		}
		out := ad.Zeros(append(slices.Clone(bs), m, n)...)
		for p := 0; p < nb; p++ {
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					s := 0.0
					for l := 0; l < k; l++ {
						s += get(a, p, i, l, tA) * get(b, p, l, j, tB)
					}
					out.Data()[(p*m+i)*n+j] = s
				}
			}
		}
		return out
	}
	cases := []struct {
		name   string
		f      func(a, b *ad.Tensor) *ad.Tensor
		tA, tB bool
		a, b   []int
	}{
		{"MatMul", ad.MatMul, false, false, sh(2, 3, 4), sh(2, 4, 5)},
		{"MatMul", ad.MatMul, false, false, sh(2, 2, 3, 4), sh(4, 5)},
		{"MatMul", ad.MatMul, false, false, sh(3, 4), sh(2, 4, 5)},
		{"MatMulT", ad.MatMulT, false, true, sh(2, 3, 4), sh(2, 5, 4)},
		{"MatMulT", ad.MatMulT, false, true, sh(2, 3, 4), sh(5, 4)},
		{"MatMulT", ad.MatMulT, false, true, sh(3, 4), sh(2, 5, 4)},
		{"TMatMul", ad.TMatMul, true, false, sh(2, 4, 3), sh(2, 4, 5)},
		{"TMatMul", ad.TMatMul, true, false, sh(2, 4, 3), sh(4, 5)},
		{"TMatMul", ad.TMatMul, true, false, sh(4, 3), sh(2, 4, 5)},
		{"MatMul k=0", ad.MatMul, false, false, sh(2, 0), sh(0, 3)},
		{"MatMul n≥8", ad.MatMul, false, false, sh(2, 3, 9), sh(9, 10)},
		{"MatMulT k≥8", ad.MatMulT, false, true, sh(3, 9), sh(10, 9)},
		// Large enough (m·n·k ≥ 2¹⁸) to go through blas64.
		{"MatMul large", ad.MatMul, false, false, sh(2, 65, 64), sh(64, 66)},
		{"MatMul large batched", ad.MatMul, false, false, sh(2, 65, 64), sh(2, 64, 66)},
		{"MatMulT large", ad.MatMulT, false, true, sh(65, 64), sh(2, 66, 64)},
		{"TMatMul large", ad.TMatMul, true, false, sh(2, 64, 65), sh(64, 66)},
		{"TMatMul large batched", ad.TMatMul, true, false, sh(2, 64, 65), sh(2, 64, 66)},
	}
	for _, c := range cases {
		a, b := randn(rng, c.a...), randn(rng, c.b...)
		got, want := c.f(a, b), naive(a, b, c.tA, c.tB)
		if !slices.Equal(got.Shape(), want.Shape()) {
			t.Errorf("%s(%v, %v) has shape %v, want %v", c.name, c.a, c.b, got.Shape(), want.Shape())
			continue
		}
		k := float64(a.Dim(-1))
		if c.tA {
			k = float64(a.Dim(-2))
		}
		for i := range got.Data() {
			if !scalar.EqualWithinAbsOrRel(got.Data()[i], want.Data()[i], 16*k*eps, 16*k*eps) {
				t.Errorf("%s(%v, %v)[%d] = %v, want %v", c.name, c.a, c.b, i, got.Data()[i], want.Data()[i])
				break
			}
		}
	}
}

// TestAffineValues: the fused layers equal their unfused definitions.
func TestAffineValues(t *testing.T) {
	rng := newRNG("affine values")
	for _, s := range []struct{ x, W []int }{
		{sh(5, 3), sh(3, 4)}, {sh(2, 5, 3), sh(3, 2)}, {sh(300, 30), sh(30, 40)}, {sh(0, 3), sh(3, 2)},
	} {
		x, W, b := randn(rng, s.x...), randn(rng, s.W...), randn(rng, s.W[1])
		k := float64(s.W[0])
		for name, c := range map[string]struct{ got, want *ad.Tensor }{
			"Affine":     {ad.Affine(x, W, b), ad.Add(ad.MatMul(x, W), b)},
			"AffineTanh": {ad.AffineTanh(x, W, b), ad.Tanh(ad.Add(ad.MatMul(x, W), b))},
		} {
			if !slices.Equal(c.got.Shape(), c.want.Shape()) {
				t.Errorf("%s(%v, %v) has shape %v, want %v", name, s.x, s.W, c.got.Shape(), c.want.Shape())
				continue
			}
			for i := range c.got.Data() {
				if !scalar.EqualWithinAbsOrRel(c.got.Data()[i], c.want.Data()[i], 16*k*eps, 16*k*eps) {
					t.Errorf("%s(%v, %v)[%d] = %v, want %v", name, s.x, s.W, i, c.got.Data()[i], c.want.Data()[i])
					break
				}
			}
		}
	}
}

// lseRef is log Σ exp(x) computed directly in the way the conventions
// require: −Inf for an all −Inf slice, +Inf if any entry is +Inf.
func lseRef(xs []float64) float64 {
	m := math.Inf(-1)
	for _, v := range xs {
		m = math.Max(m, v)
	}
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, v := range xs {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// TestLogSumExpValues checks the log-sum-exp family on −Inf entries, all
// −Inf slices, ±1e300 entries and +Inf, along every axis of a [3 4] tensor.
func TestLogSumExpValues(t *testing.T) {
	inf := math.Inf(1)
	x := t1(sh(3, 4),
		0.5, -inf, 2, -inf,
		-inf, -inf, -inf, -inf,
		1e300, -1e300, 1e300, 3,
	)
	for _, axis := range []int{0, 1, -1, -2} {
		lse := ad.LogSumExp(x, axis)
		lme := ad.LogMeanExp(x, axis)
		sm := ad.Softmax(x, axis)
		ls := ad.LogSoftmax(x, axis)
		for _, y := range []*ad.Tensor{lse, lme, sm, ls} {
			if y.HasNaN() {
				t.Errorf("axis %d: NaN in %v", axis, y)
			}
		}
		ax := axis
		if ax < 0 {
			ax += 2
		}
		// Walk the slices along ax.
		nSlices, n := 4, 3
		if ax == 1 {
			nSlices, n = 3, 4
		}
		for s := 0; s < nSlices; s++ {
			at := func(k int) int { // flat index of entry k of slice s
				if ax == 0 {
					return k*4 + s
				}
				return s*4 + k
			}
			vals := make([]float64, n)
			for k := range vals {
				vals[k] = x.Data()[at(k)]
			}
			want := lseRef(vals)
			if got := lse.Data()[s]; got != want {
				t.Errorf("LogSumExp(%v) = %v, want %v", vals, got, want)
			}
			if got, want := lme.Data()[s], want-math.Log(float64(n)); got != want {
				t.Errorf("LogMeanExp(%v) = %v, want %v", vals, got, want)
			}
			// Softmax: the entries sum to 1 (or are all 0 on an all −Inf
			// slice), −Inf entries give exactly 0, and a slice with one
			// finite entry gives 1 there.
			sum, finite := 0.0, 0
			for k := range vals {
				p, l := sm.Data()[at(k)], ls.Data()[at(k)]
				sum += p
				if math.IsInf(vals[k], -1) {
					if p != 0 || !math.IsInf(l, -1) {
						t.Errorf("Softmax/LogSoftmax(%v)[%d] = %v, %v; want 0, −Inf", vals, k, p, l)
					}
					continue
				}
				finite++
				if d := math.Abs(math.Exp(l) - p); d > 4*eps {
					t.Errorf("exp LogSoftmax(%v)[%d] = %v, Softmax %v", vals, k, math.Exp(l), p)
				}
			}
			switch {
			case finite == 0:
				if sum != 0 || !math.IsInf(want, -1) {
					t.Errorf("all −Inf slice: softmax sum %v, lse %v", sum, want)
				}
			case finite == 1:
				if sum != 1 {
					t.Errorf("one finite entry in %v: softmax sums to %v, want exactly 1", vals, sum)
				}
			default:
				if math.Abs(sum-1) > float64(n)*eps {
					t.Errorf("Softmax(%v) sums to %v", vals, sum)
				}
			}
		}
	}
	// Hand-computed cases.
	wantTensor(t, "LogSumExp(one finite)", ad.LogSumExp(t1(sh(3), -inf, 0.25, -inf), 0), ad.Scalar(0.25))
	wantTensor(t, "LogSumExp(all −Inf)", ad.LogSumExp(t1(sh(2), -inf, -inf), 0), ad.Scalar(-inf))
	wantTensor(t, "LogMeanExp(all −Inf)", ad.LogMeanExp(t1(sh(2), -inf, -inf), 0), ad.Scalar(-inf))
	wantTensor(t, "Softmax(all −Inf)", ad.Softmax(t1(sh(2), -inf, -inf), 0), t1(sh(2), 0, 0))
	wantTensor(t, "LogSoftmax(all −Inf)", ad.LogSoftmax(t1(sh(2), -inf, -inf), 0), t1(sh(2), -inf, -inf))
	wantTensor(t, "Softmax(one finite)", ad.Softmax(t1(sh(3), -inf, 7, -inf), 0), t1(sh(3), 0, 1, 0))
	wantTensor(t, "LogSoftmax(one finite)", ad.LogSoftmax(t1(sh(3), -inf, 7, -inf), 0), t1(sh(3), -inf, 0, -inf))
	wantTensor(t, "LogSumExp([0 0])", ad.LogSumExp(t1(sh(2), 0, 0), 0), ad.Scalar(math.Ln2))
	wantTensor(t, "LogMeanExp([5 5 5])", ad.LogMeanExp(t1(sh(3), 5, 5, 5), 0), ad.Scalar(5+math.Log(3)-math.Log(3)))
	wantTensor(t, "LogSumExp(1e300, 1e300)", ad.LogSumExp(t1(sh(2), 1e300, 1e300), 0), ad.Scalar(1e300))
	wantTensor(t, "LogSumExp(-1e300, 0)", ad.LogSumExp(t1(sh(2), -1e300, 0), 0), ad.Scalar(0))
	// +Inf: the value is +Inf (the sum diverges), never NaN.
	wantTensor(t, "LogSumExp(+Inf)", ad.LogSumExp(t1(sh(3), 1, inf, -inf), 0), ad.Scalar(inf))
	wantTensor(t, "LogMeanExp(+Inf)", ad.LogMeanExp(t1(sh(2), inf, inf), 0), ad.Scalar(inf))
}

func TestBroadcastShapes(t *testing.T) {
	for _, c := range []struct {
		a, b, want []int
		ok         bool
	}{
		{[]int{3, 4}, []int{4}, []int{3, 4}, true},
		{[]int{3, 1}, []int{1, 4}, []int{3, 4}, true},
		{[]int{2, 3, 4}, []int{3, 1}, []int{2, 3, 4}, true},
		{nil, []int{5}, []int{5}, true},
		{[]int{3}, []int{4}, nil, false},
		{[]int{2, 3}, []int{3, 3}, nil, false},
	} {
		got, ok := ad.BroadcastShapes(c.a, c.b)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("BroadcastShapes(%v, %v) = %v, %v; want %v, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}
