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
// A central difference with step h has truncation error h²/6·|f'''| and
// rounding error about eps·|f|/h, so its error is of order
//
//	fdErr = h² + eps/h
//
// for derivatives and values of order one; h = 1e-5 sits near the optimum
// eps^(1/3) ≈ 6e-6 and gives fdErr ≈ 1.2e-10. The checks accept 10⁴·fdErr
// (about 1.2e-6), absolute or relative: room for the larger third
// derivatives of the inputs used here (e³ for Exp of normal draws, 6/x⁴ for
// Log and Div with |x| ≥ 0.5, Pow with p = −1.5 on x ≥ 0.5) and for scalars
// that sum up to a hundred terms. The same bound holds for Hessian–vector
// products, which are central differences of the analytic gradient. A wrong
// derivative is off by O(1) relative error, far above this tolerance; the
// largest error actually seen is logged by TestGradients with -v.
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

// head reduces the output y of the function under test to the scalar whose
// derivatives are checked; r and s are fixed random tensors of y's shape.
type head struct {
	name string
	f    func(y, r, s *ad.Tensor) *ad.Tensor
}

// The linear head is the random projection Σ r ⊙ y. With it, the incoming
// gradient of the operation under test is the constant r, so the second
// derivative never exercises how a backward function depends on that
// gradient (tanhBack's first input, padSlice as the adjoint of Slice, the
// backward of a matrix product's backward). The quadratic head
// Σ r ⊙ y + ½ Σ s ⊙ y² makes the incoming gradient r + s ⊙ y depend on the
// inputs, which covers those paths, and gives linear operations a nonzero
// Hessian.
var heads = []head{
	{"linear", func(y, r, _ *ad.Tensor) *ad.Tensor { return ad.Sum(ad.Mul(y, r)) }},
	{"quadratic", func(y, r, s *ad.Tensor) *ad.Tensor {
		return ad.Add(ad.Sum(ad.Mul(y, r)), ad.MulScalar(ad.Sum(ad.Mul(s, ad.Square(y))), 0.5))
	}},
}

// gradOpts adjusts checkGradOpts.
type gradOpts struct {
	// finiteOnly makes the heads sum only the entries of y that are finite
	// at the base point (through Where, which passes no gradient to the
	// others), and requires the gradient and the Hessian–vector product to be
	// exactly 0 at input entries that are ±Inf. It is for the log-sum-exp
	// family on inputs with −Inf entries; finite differences leave those
	// entries where they are (−Inf ± h = −Inf) and so agree with 0.
	finiteOnly bool
}

// checkGrad checks the first and second derivatives of f at inputs against
// central finite differences from gonum's diff/fd.
//
// For each head, the scalar L(x₁, …, xₙ) = head(f(x₁, …, xₙ)) is
// differentiated three ways:
//
//   - first order: ad.Grad(L, x₁, …, xₙ) against fd.Gradient of L over all
//     the inputs' entries;
//   - second order: with a fixed random direction v = (v₁, …, vₙ), the
//     Hessian–vector product ad.Grad(Σᵢ Σ gᵢ ⊙ vᵢ, x…) where
//     gᵢ = ad.GradGraph(L, x…)ᵢ, against fd.Gradient of the function
//     x ↦ Σᵢ Σ ad.Grad(L, x…)ᵢ ⊙ vᵢ (the first-order gradient projected on v),
//     so the cross terms between inputs are checked too;
//   - GradGraph's first-order values equal Grad's.
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
	if y0.RequiresGrad() {
		t.Fatalf("%s: output of constants requires grad", name)
	}
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
		s := ad.Randn(rng, y0.Shape()...)
		v := make([]float64, len(theta))
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		loss := func(xs []*ad.Tensor) *ad.Tensor {
			y := f(xs...)
			if keep != nil {
				y = ad.Where(keep, y, ad.Scalar(0))
			}
			return h.f(y, r, s)
		}
		grad := func(xs []*ad.Tensor) []float64 {
			gs := ad.Grad(loss(xs), xs...)
			return flatten(t, name, gs, xs)
		}
		where := name + " [" + h.name + "]"

		// First order.
		adGrad := grad(build(theta, true))
		fdGrad := fd.Gradient(nil, func(th []float64) float64 {
			return loss(build(th, false)).Item()
		}, theta, fdSettings)
		compareGrad(t, where+" gradient", adGrad, fdGrad, offs, opts.finiteOnly, theta)

		// GradGraph gives the same first-order values, and the
		// Hessian–vector product.
		xs := build(theta, true)
		gs := ad.GradGraph(loss(xs), xs...)
		if gg := flatten(t, name, gs, xs); !slices.Equal(gg, adGrad) {
			t.Errorf("%s: GradGraph %v differs from Grad %v", where, gg, adGrad)
		}
		phi := ad.Scalar(0)
		for i, g := range gs {
			vi := ad.New(slices.Clone(v[offs[i]:offs[i+1]]), g.Shape()...)
			phi = ad.Add(phi, ad.Sum(ad.Mul(g, vi)))
		}
		adHv := flatten(t, name, ad.Grad(phi, xs...), xs)
		fdHv := fd.Gradient(nil, func(th []float64) float64 {
			g := grad(build(th, true))
			s := 0.0
			for i := range g {
				s += g[i] * v[i]
			}
			return s
		}, theta, fdSettings)
		compareGrad(t, where+" Hessian·v", adHv, fdHv, offs, opts.finiteOnly, theta)
	}
	for i, x := range inputs {
		if !slices.Equal(x.Data(), orig[offs[i]:offs[i+1]]) {
			t.Errorf("%s: input %d was modified", name, i)
		}
	}
}

// flatten concatenates gradients after checking their shapes and that they
// are constants.
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
