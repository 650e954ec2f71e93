package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/eimkit/eimkit/ad"
)

// Adam is the Adam optimizer of Kingma & Ba (2015), Algorithm 1, as
// torch.optim.Adam implements it with its defaults (no weight decay, no
// AMSGrad). It minimizes: Step moves each parameter against its gradient.
// At the 1-based step t, with gradient g and learning rate α_t = LR·
// Schedule(t),
//
//	m ← β₁·m + (1 − β₁)·g
//	v ← β₂·v + (1 − β₂)·g²
//	θ ← θ − (α_t / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//
// which is θ − α_t·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ): ε is
// added to √v̂, as in PyTorch, not to √v.
//
// The arithmetic follows PyTorch's CPU kernels operation by operation:
// the two moment updates are fused multiply-adds, m ← fma(g, 1−β₁, β₁·m)
// and v ← fma((1−β₂)·g, g, β₂·v), as PyTorch's vectorized add and addcmul
// compile; the bias corrections use β₁ᵗ and β₂ᵗ correctly rounded, as
// CPython's pow gives them (to within glibc's accuracy); every other product is rounded on its own.
// The results are the same bits on every architecture (math.FMA is exact
// everywhere, and no other multiply-add is left for the compiler to fuse)
// and equal those of torch.optim.Adam 1.13 in float64 (TestAdamMatchesTorch).
//
// The zero value is ready to use with the defaults below. The moments are
// allocated on the first Step, one pair per parameter by position; later
// steps allocate nothing, except for a few small objects per parameter of
// 8192 entries or more, whose update is split across two cores. Checkpoints save and restore the state.
type Adam struct {
	LR    float64 // learning rate α; 0 means 1e-3
	Beta1 float64 // decay of the first moment β₁; 0 means 0.9
	Beta2 float64 // decay of the second moment β₂; 0 means 0.999
	Eps   float64 // ε; 0 means 1e-8

	// Schedule, if not nil, multiplies LR at each 1-based step t:
	// α_t = LR·Schedule(t). nil means a constant LR.
	Schedule func(step int) float64

	step int
	m, v [][]float64 // per parameter, slices of one backing array each
}

// hyper returns the hyperparameters with defaults applied.
func (a *Adam) hyper() (lr, b1, b2, eps float64) {
	lr, b1, b2, eps = a.LR, a.Beta1, a.Beta2, a.Eps
	if lr == 0 {
		lr = 1e-3
	}
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	return lr, b1, b2, eps
}

// StepCount returns the number of steps taken: 0 before the first Step.
func (a *Adam) StepCount() int { return a.step }

// Reset forgets the step count and the moments, so the next Step starts
// afresh (and may take a different set of parameters).
func (a *Adam) Reset() { a.step, a.m, a.v = 0, nil, nil }

// Step takes one Adam step: it updates the Data of each params[i] in place
// using the gradient grads[i], typically ad.Grad(loss, params...). The
// parameters must be the same, in the same order, on every step.
//
// Because the update is in place, anything that shares a parameter's
// backing array (ad.Reshape or Detach of it) sees the new values, and a
// graph built before the step must not be differentiated after it: build
// the loss afresh each step.
//
// It panics, changing nothing, if the slices differ in length, a gradient's
// shape differs from its parameter's, or the parameters' sizes differ from
// those of the first step.
func (a *Adam) Step(params, grads []*ad.Tensor) {
	if len(params) != len(grads) {
		panic(fmt.Sprintf("nn: Adam.Step: %d parameters but %d gradients", len(params), len(grads)))
	}
	for i, p := range params {
		if g := grads[i]; g == nil || !slices.Equal(p.Shape(), g.Shape()) {
			var gs any = "nil"
			if g != nil {
				gs = g.Shape()
			}
			panic(fmt.Sprintf("nn: Adam.Step: parameter %d has shape %v but its gradient has shape %v", i, p.Shape(), gs))
		}
	}
	if a.m == nil {
		a.alloc(params)
	} else {
		if len(a.m) != len(params) {
			panic(fmt.Sprintf("nn: Adam.Step: %d parameters, but the optimizer state holds %d", len(params), len(a.m)))
		}
		for i, p := range params {
			if len(a.m[i]) != p.Len() {
				panic(fmt.Sprintf("nn: Adam.Step: parameter %d has shape %v (%d entries), but the optimizer state holds %d entries", i, p.Shape(), p.Len(), len(a.m[i])))
			}
		}
	}

	a.step++
	t := a.step
	lr, b1, b2, eps := a.hyper()
	if a.Schedule != nil {
		lr *= a.Schedule(t)
	}
	bc1 := 1 - powInt(b1, t)
	bc2 := 1 - powInt(b2, t)
	k := adamKernel{
		negStep: -(lr / bc1), bc2Sqrt: math.Sqrt(bc2), eps: eps,
		b1: b1, b2: b2, c1: 1 - b1, c2: 1 - b2,
	}

	for i, p := range params {
		pd, gd, m, v := p.Data(), grads[i].Data(), a.m[i], a.v[i]
		if len(pd) < splitMin {
			k.update(pd, gd, m, v)
			continue
		}
		k.updateInHalves(pd, gd, m, v)
	}
}

// updateInHalves is update split across ad's two goroutines. Each entry's
// update depends on that entry alone, so the halves give the same bits as
// one pass. (A function of its own: the closure's captures escape to the
// heap, which Step's other paths must not pay for.)
func (k adamKernel) updateInHalves(pd, gd, m, v []float64) {
	ad.Halves(len(pd), len(pd), func(lo, hi int) {
		k.update(pd[lo:hi], gd[lo:hi], m[lo:hi], v[lo:hi])
	})
}

// splitMin is the size from which a parameter's update is split across ad's
// two goroutines (ad.Halves): the paper's MNIST VAE, 697,484 entries, took
// 1.8 ms per step on one core and 1.0 ms on two (BenchmarkAdamStepVAE). A
// smaller update runs here, without the closure the split allocates.
const splitMin = 1 << 13

// adamKernel holds one step's constants.
type adamKernel struct {
	negStep, bc2Sqrt, eps float64 // −α_t/(1 − β₁ᵗ), √(1 − β₂ᵗ), ε
	b1, b2, c1, c2        float64 // β₁, β₂, 1 − β₁, 1 − β₂
}

// update applies the step to the parameter entries pd with gradients gd
// and moments m, v, all of len(pd): the vector kernel where there is one,
// then loop for the rest, with the same bits entry by entry.
func (k *adamKernel) update(pd, gd, m, v []float64) {
	gd, m, v = gd[:len(pd)], m[:len(pd)], v[:len(pd)]
	n := k.updateVector(pd, gd, m, v)
	k.loop(pd[n:], gd[n:], m[n:], v[n:])
}

// loop is update in Go, one entry at a time.
func (k *adamKernel) loop(pd, gd, m, v []float64) {
	gd, m, v = gd[:len(pd)], m[:len(pd)], v[:len(pd)]
	if k.bc2Sqrt == 1 {
		// From step 37,412 on with β₂ = 0.999, 1 − β₂ᵗ rounds to 1, and
		// x/1 = x exactly for every x (infinities, NaNs and −0 too): the
		// loop below without the division by √(1 − β₂ᵗ), one of the three
		// divisions and square roots that bound its speed.
		for j, g := range gd {
			mj := math.FMA(g, k.c1, float64(m[j]*k.b1))
			vj := math.FMA(float64(k.c2*g), g, float64(v[j]*k.b2))
			m[j], v[j] = mj, vj
			denom := math.Sqrt(vj) + k.eps
			pd[j] += float64(k.negStep*mj) / denom
		}
		return
	}
	for j, g := range gd {
		// Explicit FMAs, and float64 conversions around the other
		// products: the Go spec lets a compiler fuse a*b + c on its
		// own (arm64 and GOAMD64=v3 builds do), which would change the
		// bits from one build to another.
		mj := math.FMA(g, k.c1, float64(m[j]*k.b1))
		vj := math.FMA(float64(k.c2*g), g, float64(v[j]*k.b2))
		m[j], v[j] = mj, vj
		denom := math.Sqrt(vj)/k.bc2Sqrt + k.eps
		pd[j] += float64(k.negStep*mj) / denom
	}
}

// powInt returns xⁿ for n ≥ 0 by binary powering in double-double
// arithmetic (each power kept as an unevaluated sum hi + lo, the rounding
// error of hi·hi' recovered exactly by an FMA), so it is correctly rounded
// unless xⁿ lies within about n·2⁻¹⁰⁴ of a halfway point. math.Pow is off
// by an ulp for some small n (0.9⁴ among them); PyTorch's β**t is CPython's
// float power, that is glibc's pow, which is accurate to about half an ulp.
func powInt(x float64, n int) float64 {
	rh, rl := 1.0, 0.0 // result
	bh, bl := x, 0.0   // x^(2^k)
	for n > 0 {
		if n&1 == 1 {
			rh, rl = mulDD(rh, rl, bh, bl)
		}
		n >>= 1
		if n > 0 {
			bh, bl = mulDD(bh, bl, bh, bl)
		}
	}
	return rh + rl
}

// mulDD returns the double-double product (ah + al)·(bh + bl).
func mulDD(ah, al, bh, bl float64) (hi, lo float64) {
	p := ah * bh
	e := math.FMA(ah, bh, -p) // exact error of p
	e += float64(ah*bl) + float64(al*bh)
	hi = p + e
	lo = e - (hi - p)
	return hi, lo
}

// alloc makes zero moments for params, each of m and v in one array.
func (a *Adam) alloc(params []*ad.Tensor) {
	n := 0
	for _, p := range params {
		n += p.Len()
	}
	mb, vb := make([]float64, n), make([]float64, n)
	a.m, a.v = make([][]float64, len(params)), make([][]float64, len(params))
	off := 0
	for i, p := range params {
		k := p.Len()
		a.m[i] = mb[off : off+k : off+k]
		a.v[i] = vb[off : off+k : off+k]
		off += k
	}
}

// Moments returns copies of the first and second moments, one slice per
// parameter in Step's order, or nil before the first step.
func (a *Adam) Moments() (m, v [][]float64) {
	if a.m == nil {
		return nil, nil
	}
	m, v = make([][]float64, len(a.m)), make([][]float64, len(a.v))
	for i := range a.m {
		m[i] = slices.Clone(a.m[i])
		v[i] = slices.Clone(a.v[i])
	}
	return m, v
}

// PiecewiseConstant returns a schedule for Adam.Schedule that is factors[0]
// before step boundaries[0], factors[i] for boundaries[i−1] ≤ step <
// boundaries[i], and factors[len(boundaries)] from the last boundary on: a
// boundary is the first step with the new factor. The paper's drop of the
// learning rate from 3·10⁻⁴ to 10⁻⁴ on step 10⁶ is
//
//	Adam{LR: 1, Schedule: PiecewiseConstant([]int{1_000_000}, []float64{3e-4, 1e-4})}
//
// It panics unless len(factors) = len(boundaries) + 1 and the boundaries
// increase strictly. The slices are copied.
func PiecewiseConstant(boundaries []int, factors []float64) func(step int) float64 {
	if len(factors) != len(boundaries)+1 {
		panic(fmt.Sprintf("nn: PiecewiseConstant: %d boundaries need %d factors, got %d", len(boundaries), len(boundaries)+1, len(factors)))
	}
	for i := 1; i < len(boundaries); i++ {
		if boundaries[i] <= boundaries[i-1] {
			panic(fmt.Sprintf("nn: PiecewiseConstant: boundaries %v do not increase strictly", boundaries))
		}
	}
	b, f := slices.Clone(boundaries), slices.Clone(factors)
	return func(step int) float64 {
		i := 0
		for i < len(b) && step >= b[i] {
			i++
		}
		return f[i]
	}
}
