package ad_test

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
)

// Finite-difference settings shared by every gradient check.
//
// A central difference with step h has truncation error h²/6·|φ⁽³⁾| and
// rounding error about eps·|φ|/h for the scalar φ it differentiates, so
// its error is of order
//
//	fdErr = h² + eps/h
//
// when φ and its derivatives are of order one; h = 1e-5 sits near the
// optimum eps^(1/3) ≈ 6e-6 and gives fdErr ≈ 1.2e-10. Every check
// differentiates numerically a scalar computed exactly up to rounding (L,
// or a projection of ad's analytic gradient of order one or two), so the
// same bound holds at every order. The checks accept 10⁴·fdErr (about
// 1.2e-6), absolute or relative: room for the inputs used here, whose
// scalars have derivatives up to about a hundred (Exp of normal draws, Div
// and Log with |x| ≥ 0.75 and 0.5, Pow(−1.5) on x ≥ 0.5, cubics on
// |x| ≤ 1.5, the quadratic head's squares) and sum up to a few hundred
// terms. A wrong derivative is off by a relative error of order one, far
// above this. With -v, TestMain prints the largest error seen as a
// fraction of the tolerance.
const (
	fdStep = 1e-5
	eps    = 0x1p-52
	fdErr  = fdStep*fdStep + eps/fdStep
	fdTol  = 1e4 * fdErr
)

// fdSettings is the central-difference formula with step fdStep.
var fdSettings = &fd.Settings{Formula: fd.Central, Step: fdStep}

// worstRatio records the largest |ad − fd| / (tolerance bound) over all
// checks in a run, for reporting the margin.
var worstRatio struct {
	ratio float64
	where string
}

// newRNG returns the fixed-seed PCG stream for a test, keyed by name so
// that adding a case does not change the draws of the others.
func newRNG(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(20191208, h.Sum64()))
}

// head is how checkGrad turns a tensor t (the output of the function
// under test, or a derivative of it) into a scalar: with a fixed random
// direction u of t's shape, the linear head is the projection
//
//	Σ u ⊙ t
//
// and the quadratic head is Σ u ⊙ (t + ½ t²).
//
// With the linear head the gradient flowing into the last operation is the
// constant u, so the next derivative never exercises how a backward
// function depends on its incoming gradient (tanhBack's first input,
// padSlice as the adjoint of Slice, Gather as the adjoint of scatterAdd, a
// matrix product's backward of its backward). The quadratic head makes that
// gradient u ⊙ (1 + t) depend on the inputs, which covers those paths, and
// gives linear operations a nonzero Hessian. Applied to a gradient, it is
// the kind of loss that Hamiltonian importance sampling differentiates
// (a function of ∇U, not only a projection of it).
type head struct {
	name string
	quad bool
}

var heads = []head{{"linear", false}, {"quadratic", true}}

// reduce returns the head's scalar of t along u, recorded if t is.
func (h head) reduce(t *ad.Tensor, u *ad.Tensor) *ad.Tensor {
	if h.quad {
		t = ad.Add(t, ad.MulScalar(ad.Square(t), 0.5))
	}
	return ad.Sum(ad.Mul(u, t))
}

// value is reduce on plain values.
func (h head) value(t, u []float64) float64 {
	s := 0.0
	for i, v := range t {
		if h.quad {
			v += 0.5 * v * v
		}
		s += u[i] * v
	}
	return s
}

// gradOpts adjusts checkGradOpts.
type gradOpts struct {
	// finiteOnly makes the head sum only the entries of y that are finite
	// at the base point (through Where, which passes no gradient to the
	// others), and requires the derivatives of every order to be exactly 0
	// at input entries that are ±Inf. It is for the log-sum-exp family on
	// inputs with −Inf entries; finite differences leave those entries
	// where they are (−Inf ± h = −Inf) and so agree with 0.
	finiteOnly bool
}

// checkGrad checks the first, second and third derivatives of f at inputs
// against central finite differences from gonum's diff/fd.
//
// The inputs' entries are seen as one vector θ. For each head (see head)
// and fixed random directions r, v and w:
//
//   - first order: L = head(f(x…), r); ad.Grad(L, x…) against fd.Gradient
//     of L;
//   - second order: L₂ = head(∇L, v), with ∇L from ad.GradGraph;
//     ad.Grad(L₂, x…) against fd.Gradient of θ ↦ head(ad.Grad(L, x…), v).
//     For the linear head this is the Hessian–vector product H·v: the first
//     order gradient projected on v, cross terms between inputs included;
//   - third order: L₃ = Σ w ⊙ ∇L₂ in the same way, so that the backward
//     of every backward is itself checked;
//   - GradGraph's first and second order values equal Grad's bitwise.
//
// It also checks that the inputs' values are not modified. f must be smooth
// near inputs (callers build inputs away from kinks) and must not capture
// tensors that require gradients.
func checkGrad(t *testing.T, name string, f func(xs ...*ad.Tensor) *ad.Tensor, inputs ...*ad.Tensor) {
	t.Helper()
	checkGradOpts(t, name, gradOpts{}, f, inputs...)
}

func checkGradOpts(t *testing.T, name string, opts gradOpts, f func(xs ...*ad.Tensor) *ad.Tensor, inputs ...*ad.Tensor) {
	t.Helper()
	t.Run(name, func(t *testing.T) { checkGradRun(t, name, opts, f, inputs) })
}

func checkGradRun(t *testing.T, name string, opts gradOpts, f func(xs ...*ad.Tensor) *ad.Tensor, inputs []*ad.Tensor) {
	// Flatten the inputs into one parameter vector θ.
	var theta []float64
	offs := make([]int, len(inputs)+1)
	for i, x := range inputs {
		theta = append(theta, x.Data()...)
		offs[i+1] = len(theta)
	}
	orig := slices.Clone(theta)
	build := func(th []float64, grad bool) []*ad.Tensor {
		xs := make([]*ad.Tensor, len(inputs))
		for i, x := range inputs {
			xs[i] = ad.New(slices.Clone(th[offs[i]:offs[i+1]]), x.Shape()...)
			if grad {
				xs[i].RequireGrad()
			}
		}
		return xs
	}
	y0 := f(build(theta, false)...)
	if y0.HasNaN() {
		t.Fatalf("%s: output has NaN at the base point: %v", name, y0)
	}
	var keep *ad.Tensor // 1 where y0 is finite
	if opts.finiteOnly {
		keep = ad.Zeros(y0.Shape()...)
		for i, v := range y0.Data() {
			if !math.IsInf(v, 0) {
				keep.Data()[i] = 1
			}
		}
	}
	for _, h := range heads {
		rng := newRNG(name + "/" + h.name)
		r := ad.Randn(rng, y0.Shape()...)
		v := make([]float64, len(theta))
		w := make([]float64, len(theta))
		for i := range v {
			v[i] = rng.NormFloat64()
			w[i] = rng.NormFloat64()
		}
		loss := func(xs []*ad.Tensor) *ad.Tensor {
			y := f(xs...)
			if keep != nil {
				y = ad.Where(keep, y, ad.Scalar(0))
			}
			return h.reduce(y, r)
		}
		// project returns the head's scalar of the gradients gs along u,
		// recorded if the gᵢ are.
		project := func(h head, gs []*ad.Tensor, u []float64) *ad.Tensor {
			p := ad.Scalar(0)
			for i, g := range gs {
				p = ad.Add(p, h.reduce(g, ad.New(slices.Clone(u[offs[i]:offs[i+1]]), g.Shape()...)))
			}
			return p
		}
		// derivs returns, at the leaves xs, the gradient of L, the gradient
		// of L₂ = project(h, ∇L, v) and, for order 3, the gradient of
		// L₃ = project(linear, ∇L₂, w), each flattened, differentiating with
		// Grad at the last order and GradGraph below it. (A nonlinear L₃
		// would only matter at the fourth order, and would make the scalars
		// polynomials of high degree whose finite differences lose digits.)
		derivs := func(xs []*ad.Tensor, order int) [][]float64 {
			var out [][]float64
			y := loss(xs)
			for k, u := range [][]float64{v, w} {
				if k+1 == order {
					break
				}
				gs := ad.GradGraph(y, xs...)
				out = append(out, flatten(t, name, gs, xs))
				y = project([]head{h, heads[0]}[k], gs, u)
			}
			return append(out, flatten(t, name, ad.Grad(y, xs...), xs))
		}
		at := func(order int) func(th []float64) []float64 {
			return func(th []float64) []float64 { return derivs(build(th, true), order)[order-1] }
		}
		where := name + " [" + h.name + "]"

		// The gradients of L, L₂ and L₃ against central differences of
		// those scalars, computed from the analytic derivative one order
		// below: L itself, then project(h, ad.Grad(L), v), then
		// project(linear, ad.Grad(L₂), w).
		ad1 := derivs(build(theta, true), 1)[0]
		ad3 := derivs(build(theta, true), 3)
		fd1 := fd.Gradient(nil, func(th []float64) float64 { return loss(build(th, false)).Item() }, theta, fdSettings)
		fd2 := fd.Gradient(nil, func(th []float64) float64 { return h.value(at(1)(th), v) }, theta, fdSettings)
		fd3 := fd.Gradient(nil, func(th []float64) float64 { return heads[0].value(at(2)(th), w) }, theta, fdSettings)
		compareGrad(t, where+" gradient", ad1, fd1, offs, opts.finiteOnly, theta)
		compareGrad(t, where+" second order", ad3[1], fd2, offs, opts.finiteOnly, theta)
		compareGrad(t, where+" third order", ad3[2], fd3, offs, opts.finiteOnly, theta)
		// GradGraph computes the same values as Grad.
		if !slices.Equal(ad3[0], ad1) {
			t.Errorf("%s: GradGraph %v differs from Grad %v", where, ad3[0], ad1)
		}
		if ad2 := derivs(build(theta, true), 2)[1]; !slices.Equal(ad3[1], ad2) {
			t.Errorf("%s: second order through GradGraph %v differs from Grad %v", where, ad3[1], ad2)
		}
	}
	for i, x := range inputs {
		if !slices.Equal(x.Data(), orig[offs[i]:offs[i+1]]) {
			t.Errorf("%s: input %d was modified", name, i)
		}
	}
}

// flatten concatenates gradients after checking their shapes.
func flatten(t *testing.T, name string, gs, xs []*ad.Tensor) []float64 {
	t.Helper()
	var out []float64
	for i, g := range gs {
		if !slices.Equal(g.Shape(), xs[i].Shape()) {
			t.Fatalf("%s: gradient %d has shape %v for input shape %v", name, i, g.Shape(), xs[i].Shape())
		}
		out = append(out, g.Data()...)
	}
	return out
}

// compareGrad compares ad and fd values entry by entry and reports the
// first few mismatches with the input and entry they belong to.
func compareGrad(t *testing.T, where string, got, want []float64, offs []int, zeroAtInf bool, theta []float64) {
	t.Helper()
	bad := 0
	for k := range got {
		in := 0
		for k >= offs[in+1] {
			in++
		}
		if zeroAtInf && math.IsInf(theta[k], 0) {
			if got[k] != 0 {
				bad++
				t.Errorf("%s: input %d entry %d is %v: got %v, want exactly 0", where, in, k-offs[in], theta[k], got[k])
			}
			continue
		}
		ok := scalar.EqualWithinAbsOrRel(got[k], want[k], fdTol, fdTol)
		if r := math.Abs(got[k]-want[k]) / (fdTol * math.Max(1, math.Abs(want[k]))); r > worstRatio.ratio || math.IsNaN(r) {
			worstRatio.ratio = r
			worstRatio.where = fmt.Sprintf("%s input %d entry %d", where, in, k-offs[in])
		}
		if !ok {
			bad++
			if bad <= 5 {
				t.Errorf("%s: input %d entry %d: ad %.12g, fd %.12g (diff %.3g, tol %.3g)",
					where, in, k-offs[in], got[k], want[k], got[k]-want[k], fdTol)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d mismatches in all", where, bad)
	}
}

// randn returns standard normal draws of the given shape.
func randn(rng *rand.Rand, shape ...int) *ad.Tensor { return ad.Randn(rng, shape...) }

// uniform returns draws from U(lo, hi).
func uniform(rng *rand.Rand, lo, hi float64, shape ...int) *ad.Tensor {
	x := ad.Zeros(shape...)
	for i := range x.Data() {
		x.Data()[i] = lo + (hi-lo)*rng.Float64()
	}
	return x
}

// awayFromZero returns draws with a random sign and magnitude in [lo, hi).
func awayFromZero(rng *rand.Rand, lo, hi float64, shape ...int) *ad.Tensor {
	x := uniform(rng, lo, hi, shape...)
	for i := range x.Data() {
		if rng.IntN(2) == 0 {
			x.Data()[i] = -x.Data()[i]
		}
	}
	return x
}

// offGrid returns draws k + frac + U(−0.1, 0.1) with k a random integer in
// [−2, 2]. Two tensors with fracs 0.25 and 0.75 differ by at least 0.3
// everywhere, so Maximum and Minimum have no ties within the
// finite-difference stencil.
func offGrid(rng *rand.Rand, frac float64, shape ...int) *ad.Tensor {
	x := ad.Zeros(shape...)
	for i := range x.Data() {
		x.Data()[i] = float64(rng.IntN(5)-2) + frac + 0.2*(rng.Float64()-0.5)
	}
	return x
}

// spaced returns the values 0.5·k + U(−0.1, 0.1) for k = 0, …, n−1 in a
// random order, reshaped: distinct by at least 0.3, so Max has no ties.
func spaced(rng *rand.Rand, shape ...int) *ad.Tensor {
	x := ad.Zeros(shape...)
	for i, k := range rng.Perm(x.Len()) {
		x.Data()[i] = 0.5*float64(k) - 2 + 0.2*(rng.Float64()-0.5)
	}
	return x
}

// equalExact reports whether two tensors have the same shape and bitwise
// equal values (NaN equal to NaN).
func equalExact(a, b *ad.Tensor) bool {
	if !slices.Equal(a.Shape(), b.Shape()) {
		return false
	}
	return slices.EqualFunc(a.Data(), b.Data(), func(x, y float64) bool {
		return x == y || (math.IsNaN(x) && math.IsNaN(y))
	})
}

// wantTensor fails the test unless got equals want exactly.
func wantTensor(t *testing.T, what string, got, want *ad.Tensor) {
	t.Helper()
	if !equalExact(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// t1 builds a tensor from values and a shape, for hand-written expectations.
func t1(shape []int, vals ...float64) *ad.Tensor { return ad.New(vals, shape...) }

// sh is shorthand for a shape literal.
func sh(dims ...int) []int { return dims }
