package vsmc

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Proposal is the learned proposal of variational SMC, q(x_t | x_{t−1},
// y_t), with q(x₀ | y₀) at t = 0 (prev nil). States are [n, dx] and an
// observation is [dy], as for Model.
type Proposal interface {
	// Sample draws x_tⁱ ~ q(· | prevⁱ, y) for the n rows of prev (n draws
	// of x₀ when t = 0 and prev is nil), [n, dx], reparameterized where
	// the proposal allows it so that gradients reach its parameters.
	Sample(rng *rand.Rand, t int, prev, y *ad.Tensor, n int) *ad.Tensor
	// LogProb returns log q(xⁱ | prevⁱ, y) row by row, [n].
	LogProb(t int, prev, y, x *ad.Tensor) *ad.Tensor
	// Params returns the learned tensors.
	Params() []*ad.Tensor
}

// GaussianProposal is a diagonal Gaussian whose mean is affine in the
// previous state and the current observation, shared by all t ≥ 1, with
// its own parameters at t = 0:
//
//	q(x₀ | y₀)           = N(C₀ y₀ + b₀,          diag(exp(2 s₀))),
//	q(x_t | x_{t−1}, y_t) = N(B x_{t−1} + C y_t + b, diag(exp(2 s))),
//
// sampled by reparameterization, x = mean + exp(s) ⊙ ε with ε ~ N(0, I)
// (dx standard normals per particle, particle by particle). For the
// linear-Gaussian model the locally optimal proposal p(x_t | x_{t−1}, y_t)
// is of this form whenever (Q⁻¹ + CᵀR⁻¹C)⁻¹ is diagonal, as it is for
// statespace.VSMCExample; it cannot look ahead at y_{t+1:T−1}, which is
// what makes resampling pay (FIVO, Sec. 4 of Maddison et al. 2017).
//
// Every field is a leaf tensor; NewGaussianProposal marks them all with
// RequireGrad.
type GaussianProposal struct {
	B        *ad.Tensor // [dx, dx]
	C        *ad.Tensor // [dx, dy]
	Bias     *ad.Tensor // [dx]
	LogScale *ad.Tensor // [dx]

	C0        *ad.Tensor // [dx, dy]
	Bias0     *ad.Tensor // [dx]
	LogScale0 *ad.Tensor // [dx]
}

var _ Proposal = (*GaussianProposal)(nil)

// NewGaussianProposal returns the proposal with every parameter zero, so
// N(0, I) at every step, all learned. It panics if dx or dy is below 1.
func NewGaussianProposal(dx, dy int) *GaussianProposal {
	if dx < 1 || dy < 1 {
		panic(fmt.Sprintf("vsmc: NewGaussianProposal: dx = %d, dy = %d, want both ≥ 1", dx, dy))
	}
	return &GaussianProposal{
		B:         ad.Zeros(dx, dx).RequireGrad(),
		C:         ad.Zeros(dx, dy).RequireGrad(),
		Bias:      ad.Zeros(dx).RequireGrad(),
		LogScale:  ad.Zeros(dx).RequireGrad(),
		C0:        ad.Zeros(dx, dy).RequireGrad(),
		Bias0:     ad.Zeros(dx).RequireGrad(),
		LogScale0: ad.Zeros(dx).RequireGrad(),
	}
}

// Dims returns dx and dy.
func (q *GaussianProposal) Dims() (dx, dy int) { return q.C.Dim(0), q.C.Dim(1) }

// loc returns the mean ([n, dx], or [1, dx] at t = 0) and the log scale.
func (q *GaussianProposal) loc(who string, t int, prev, y *ad.Tensor) (mean, logScale *ad.Tensor) {
	dx, dy := q.Dims()
	if y == nil || y.Rank() != 1 || y.Dim(0) != dy {
		panic(fmt.Sprintf("vsmc: GaussianProposal.%s: y shape %v, want [%d]", who, shapeOf(y), dy))
	}
	y2 := ad.Reshape(y, 1, dy)
	if t == 0 {
		return ad.Add(ad.MatMulT(y2, q.C0), q.Bias0), q.LogScale0
	}
	checkRows("GaussianProposal."+who, prev, dx)
	return ad.Add(ad.Add(ad.MatMulT(prev, q.B), ad.MatMulT(y2, q.C)), q.Bias), q.LogScale
}

// Sample draws x = mean + exp(s) ⊙ ε.
func (q *GaussianProposal) Sample(rng *rand.Rand, t int, prev, y *ad.Tensor, n int) *ad.Tensor {
	if t > 0 && prev != nil && prev.Rank() == 2 && prev.Dim(0) != n {
		panic(fmt.Sprintf("vsmc: GaussianProposal.Sample: prev shape %v, want [%d, dx]", prev.Shape(), n))
	}
	mean, s := q.loc("Sample", t, prev, y)
	dx, _ := q.Dims()
	return ad.Add(mean, ad.Mul(ad.Exp(s), ad.Randn(rng, n, dx)))
}

// LogProb returns Σ_j log N(x_j; mean_j, exp(2 s_j)).
func (q *GaussianProposal) LogProb(t int, prev, y, x *ad.Tensor) *ad.Tensor {
	dx, _ := q.Dims()
	checkRows("GaussianProposal.LogProb", x, dx)
	mean, s := q.loc("LogProb", t, prev, y)
	z := ad.Div(ad.Sub(x, mean), ad.Exp(s))
	lp := ad.Sum(ad.Add(ad.MulScalar(ad.Square(z), -0.5), ad.Neg(s)), -1)
	return ad.AddScalar(lp, -0.5*float64(dx)*math.Log(2*math.Pi))
}

// Params returns the tensors that require gradients, in the order B, C,
// Bias, LogScale, C0, Bias0, LogScale0.
func (q *GaussianProposal) Params() []*ad.Tensor {
	var ps []*ad.Tensor
	for _, t := range []*ad.Tensor{q.B, q.C, q.Bias, q.LogScale, q.C0, q.Bias0, q.LogScale0} {
		if t.RequiresGrad() {
			ps = append(ps, t)
		}
	}
	return ps
}
