package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
)

// Tolerances. Hand computations repeat the same few float operations in a
// different order, so they agree to a few ulps; central differences with
// step h have truncation error O(h²) and rounding error O(ε/h).
const (
	tolHand = 1e-14
	tolFD   = 1e-7
)

// mustPanic runs f and fails unless it panics with a message containing
// each of want.
func mustPanic(t *testing.T, f func(), want ...string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one containing %q", want)
		}
		msg := fmt.Sprint(r)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("panic %q; want it to contain %q", msg, w)
			}
		}
	}()
	f()
}

// testLinear returns a 2→3 layer with fixed weights.
func testLinear() *Linear {
	return &Linear{
		W: ad.New([]float64{
			0.5, -1, 2,
			0.25, 3, -0.75,
		}, 2, 3).RequireGrad(),
		B: ad.New([]float64{0.1, -0.2, 0.3}, 3).RequireGrad(),
	}
}

// linearHand computes x·W + B for one point by the definition.
func linearHand(l *Linear, x []float64) []float64 {
	in, out := l.W.Dim(0), l.W.Dim(1)
	w, b := l.W.Data(), l.B.Data()
	y := make([]float64, out)
	for j := range out {
		s := b[j]
		for i := range in {
			s += x[i] * w[i*out+j]
		}
		y[j] = s
	}
	return y
}

func checkClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], tol, tol) {
			t.Errorf("%s[%d] = %.17g, want %.17g", what, i, got[i], want[i])
		}
	}
}

func TestLinearForward(t *testing.T) {
	l := testLinear()
	// By hand: x = (1, 2): (0.5+0.5+0.1, −1+6−0.2, 2−1.5+0.3).
	y := l.Forward(ad.New([]float64{1, 2}, 2))
	if got := y.Shape(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("shape %v, want [3]", got)
	}
	checkClose(t, "rank-1", y.Data(), []float64{1.1, 4.8, 0.8}, tolHand)

	// Batches of any rank act point by point.
	rng := rand.New(rand.NewPCG(1, 1))
	for _, shape := range [][]int{{4, 2}, {3, 4, 2}, {2, 1, 3, 2}} {
		x := ad.Randn(rng, shape...)
		y := l.Forward(x)
		wantShape := append(append([]int(nil), shape[:len(shape)-1]...), 3)
		if fmt.Sprint(y.Shape()) != fmt.Sprint(wantShape) {
			t.Fatalf("input %v: output shape %v, want %v", shape, y.Shape(), wantShape)
		}
		var want []float64
		xd := x.Data()
		for p := 0; p < len(xd); p += 2 {
			want = append(want, linearHand(l, xd[p:p+2])...)
		}
		checkClose(t, fmt.Sprint("batch ", shape), y.Data(), want, tolHand)
	}
}

func TestLinearForwardPanics(t *testing.T) {
	l := testLinear()
	mustPanic(t, func() { l.Forward(ad.Zeros(4, 3)) },
		"nn: Linear.Forward: input shape [4 3], want [..., 2]")
	mustPanic(t, func() { l.Forward(ad.Scalar(1)) },
		"nn: Linear.Forward: input shape [], want [..., 2]")
	mustPanic(t, func() { NewLinear(rand.New(rand.NewPCG(1, 1)), 0, 3) }, "nn: NewLinear")
}

func TestNewMLPPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	mustPanic(t, func() { NewMLP(rng) }, "nn: NewMLP")
	mustPanic(t, func() { NewMLP(rng, 3) }, "nn: NewMLP")
	mustPanic(t, func() { NewMLP(rng, 3, 0, 1) }, "nn: NewMLP")
}

func TestMLPForward(t *testing.T) {
	// 2-2-1 network with fixed weights; by hand:
	// h = tanh(x·W₁ + B₁), y = h·W₂ + B₂.
	m := &MLP{Layers: []*Linear{
		{W: ad.New([]float64{0.5, -1, 0.25, 2}, 2, 2), B: ad.New([]float64{0.1, -0.1}, 2)},
		{W: ad.New([]float64{1.5, -0.5}, 2, 1), B: ad.New([]float64{0.2}, 1)},
	}}
	x := []float64{1, -2, 0.3, 0.7}
	y := m.Forward(ad.New(x, 2, 2))
	want := make([]float64, 2)
	for n := range 2 {
		x1, x2 := x[2*n], x[2*n+1]
		h1 := math.Tanh(0.5*x1 + 0.25*x2 + 0.1)
		h2 := math.Tanh(-1*x1 + 2*x2 - 0.1)
		want[n] = 1.5*h1 - 0.5*h2 + 0.2
	}
	if got := fmt.Sprint(y.Shape()); got != "[2 1]" {
		t.Fatalf("shape %s, want [2 1]", got)
	}
	checkClose(t, "MLP", y.Data(), want, tolHand)

	rng := rand.New(rand.NewPCG(2, 2))
	m = NewMLP(rng, 2, 20, 20, 1)
	if len(m.Layers) != 3 || len(m.Params()) != 6 {
		t.Fatalf("2-20-20-1: %d layers, %d params; want 3, 6", len(m.Layers), len(m.Params()))
	}
	for i, l := range m.Layers {
		for _, p := range l.Params() {
			if !p.RequiresGrad() {
				t.Errorf("layer %d: parameter of shape %v does not require grad", i, p.Shape())
			}
		}
		if b := l.B.Data(); b[0] != 0 || b[len(b)-1] != 0 {
			t.Errorf("layer %d: bias not zero: %v", i, l.B)
		}
	}
}

// TestMLPGradient compares ad's gradients of a scalar loss of an MLP, with
// respect to every parameter and to the input, with central differences,
// for inputs of rank 1 to 4.
func TestMLPGradient(t *testing.T) {
	for _, shape := range [][]int{{3}, {4, 3}, {2, 3, 3}, {2, 1, 2, 3}} {
		rng := rand.New(rand.NewPCG(3, 3))
		m := NewMLP(rng, 3, 5, 4, 2)
		// Nonzero biases, so their gradients are exercised off the origin.
		for _, l := range m.Layers {
			for i := range l.B.Data() {
				l.B.Data()[i] = 0.3 * rng.NormFloat64()
			}
		}
		x := ad.Randn(rng, shape...).RequireGrad()
		outShape := append(append([]int(nil), shape[:len(shape)-1]...), 2)
		c := ad.Randn(rng, outShape...)
		loss := func() *ad.Tensor {
			// Σ c ⊙ y + ½ Σ y², nonlinear in y so no gradient is constant.
			y := m.Forward(x)
			return ad.Add(ad.Sum(ad.Mul(c, y)), ad.MulScalar(ad.Sum(ad.Square(y)), 0.5))
		}
		wrt := append(m.Params(), x)
		grads := ad.Grad(loss(), wrt...)
		for k, p := range wrt {
			checkClose(t, fmt.Sprintf("input %v: gradient %d (shape %v)", shape, k, p.Shape()),
				grads[k].Data(), fdGradient(p, func() float64 { return loss().Item() }), tolFD)
		}
	}
}

// fdGradient returns the central-difference gradient of f with respect to
// the entries of p, which f reads through p's Data.
func fdGradient(p *ad.Tensor, f func() float64) []float64 {
	data := p.Data()
	orig := append([]float64(nil), data...)
	g := fd.Gradient(nil, func(v []float64) float64 {
		copy(data, v)
		return f()
	}, orig, &fd.Settings{Formula: fd.Central, Step: 1e-6})
	copy(data, orig)
	return g
}

// TestMLPSecondOrder differentiates through an input gradient, as
// Hamiltonian importance sampling does with its energy network:
// L(θ) = Σ_n |∇ₓU_θ(x_n)|² + Σ_n U_θ(x_n − 0.1·∇ₓU_θ(x_n)), with ∇ₓU from
// ad.GradGraph, against central differences of L computed with ad.Grad.
func TestMLPSecondOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m := NewMLP(rng, 2, 6, 6, 1)
	for _, l := range m.Layers {
		for i := range l.B.Data() {
			l.B.Data()[i] = 0.3 * rng.NormFloat64()
		}
	}
	x0 := ad.Randn(rng, 5, 2)
	loss := func() *ad.Tensor {
		x := x0.Clone().RequireGrad()
		gx := ad.GradGraph(ad.Sum(m.Forward(x)), x)[0]
		moved := ad.Sub(x, ad.MulScalar(gx, 0.1))
		return ad.Add(ad.Sum(ad.Square(gx)), ad.Sum(m.Forward(moved)))
	}
	ps := m.Params()
	grads := ad.Grad(loss(), ps...)
	for k, p := range ps {
		checkClose(t, fmt.Sprintf("gradient %d (shape %v)", k, p.Shape()),
			grads[k].Data(), fdGradient(p, func() float64 { return loss().Item() }), tolFD)
	}
}

// TestGlorot checks the Glorot-uniform draws: every weight within ±a, and
// the mean square (the variance, the mean being known to be 0) within 5
// standard errors of a²/3. For U(−a, a), E w² = a²/3 and
// Var w² = E w⁴ − (E w²)² = a⁴/5 − a⁴/9 = 4a⁴/45.
func TestGlorot(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	in, out := 300, 200
	l := NewLinear(rng, in, out)
	a := math.Sqrt(6.0 / float64(in+out))
	if GlorotBound(in, out) != a {
		t.Fatalf("GlorotBound = %v, want %v", GlorotBound(in, out), a)
	}
	w := l.W.Data()
	n := float64(len(w))
	sum, sumSq := 0.0, 0.0
	for _, v := range w {
		if math.Abs(v) > a {
			t.Fatalf("weight %v outside ±%v", v, a)
		}
		sum += v
		sumSq += v * v
	}
	mean, ms := sum/n, sumSq/n
	if se := a / math.Sqrt(3*n); math.Abs(mean) > 5*se {
		t.Errorf("mean %v, want 0 ± %v (5 s.e.)", mean, 5*se)
	}
	want := a * a / 3
	if se := math.Sqrt(4 * a * a * a * a / 45 / n); math.Abs(ms-want) > 5*se {
		t.Errorf("variance %v, want %v ± %v (5 s.e.)", ms, want, 5*se)
	}
	for _, b := range l.B.Data() {
		if b != 0 {
			t.Fatalf("bias %v, want 0", b)
		}
	}
	// Same seed, same weights.
	l2 := NewLinear(rand.New(rand.NewPCG(4, 4)), in, out)
	if !bitsEqual(l.W.Data(), l2.W.Data()) {
		t.Error("NewLinear is not deterministic for a fixed seed")
	}
}

// bitsEqual reports whether a and b hold the same float64 bit patterns.
func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
