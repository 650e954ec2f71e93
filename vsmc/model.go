package vsmc

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/statespace"
)

// Model is a time-homogeneous state-space model with differentiable log
// densities,
//
//	x₀ ~ μ(x₀),   x_t ~ f(x_t | x_{t−1}),   y_t ~ g(y_t | x_t),
//
// seen through batches: states are [n, dx] (one row per particle) and an
// observation y_t is a vector [dy]. Each method returns [n]. Learned
// parameters are tensors marked with RequireGrad; Params lists them.
type Model interface {
	// Dims returns the latent and observation dimensions dx and dy.
	Dims() (dx, dy int)
	// LogInitial returns log μ(x₀) for the rows of x.
	LogInitial(x *ad.Tensor) *ad.Tensor
	// LogTransition returns log f(xⁱ | prevⁱ) row by row.
	LogTransition(prev, x *ad.Tensor) *ad.Tensor
	// LogEmission returns log g(y | xⁱ) for the rows of x.
	LogEmission(x, y *ad.Tensor) *ad.Tensor
	// Params returns the learned tensors (none for a fixed model).
	Params() []*ad.Tensor
}

// LinearGaussian is the linear-Gaussian state-space model of package
// statespace with differentiable log densities:
//
//	x₀ ~ N(μ₀, Σ₀),   x_t ~ N(A x_{t−1}, Q),   y_t ~ N(C x_t, R),
//	log N(x; m, LLᵀ) = −½ |L⁻¹(x − m)|² − Σᵢ log Lᵢᵢ − (d/2) log 2π.
//
// A and C are tensors, learned if marked with RequireGrad (A is a leaf
// that NewLinearGaussian marks only when asked); μ₀ and the covariances
// are fixed, held through the inverses of their Cholesky factors.
type LinearGaussian struct {
	// A is the transition matrix [dx, dx] and C the observation matrix
	// [dy, dx].
	A, C *ad.Tensor

	p                   statespace.Params
	mu0                 *ad.Tensor // [dx]
	inv0, invQ, invR    *ad.Tensor // L⁻¹ of Σ₀, Q, R
	norm0, normQ, normR float64    // −Σ log Lᵢᵢ − (d/2) log 2π
	dx, dy              int
}

var _ Model = (*LinearGaussian)(nil)

// NewLinearGaussian returns the differentiable version of m. With learnA,
// A is marked with RequireGrad and is what Params returns; otherwise the
// model is fixed.
func NewLinearGaussian(m *statespace.LinearGaussian, learnA bool) *LinearGaussian {
	p := m.Params()
	dx, dy := m.Dims()
	lg := &LinearGaussian{
		A:   denseTensor(p.A),
		C:   denseTensor(p.C),
		p:   p,
		mu0: ad.New(append([]float64(nil), p.Mu0.RawVector().Data...), dx),
		dx:  dx, dy: dy,
	}
	lg.inv0, lg.norm0 = invChol(p.Sigma0)
	lg.invQ, lg.normQ = invChol(p.Q)
	lg.invR, lg.normR = invChol(p.R)
	if learnA {
		lg.A.RequireGrad()
	}
	return lg
}

// denseTensor copies a gonum matrix into a tensor [r, c].
func denseTensor(a *mat.Dense) *ad.Tensor {
	r, c := a.Dims()
	return ad.New(append([]float64(nil), mat.DenseCopyOf(a).RawMatrix().Data...), r, c)
}

// invChol returns L⁻¹ for the Cholesky factor L of s, and
// −Σ log Lᵢᵢ − (d/2) log 2π. s is positive definite (statespace checked).
func invChol(s *mat.SymDense) (*ad.Tensor, float64) {
	d := s.SymmetricDim()
	var ch mat.Cholesky
	if !ch.Factorize(s) {
		panic("vsmc: covariance without a Cholesky factor") // unreachable: statespace.New factorized it
	}
	var l mat.TriDense
	ch.LTo(&l)
	var inv mat.TriDense
	if err := inv.InverseTri(&l); err != nil {
		if _, ok := err.(mat.Condition); !ok {
			panic(fmt.Sprintf("vsmc: inverting a Cholesky factor: %v", err))
		}
	}
	data := make([]float64, d*d)
	norm := -0.5 * float64(d) * math.Log(2*math.Pi)
	for i := range d {
		norm -= math.Log(l.At(i, i))
		for j := range d {
			data[i*d+j] = inv.At(i, j)
		}
	}
	return ad.New(data, d, d), norm
}

// logNormalRows returns log N(xⁱ; mⁱ, LLᵀ) for the rows of x [n, d] and m
// ([n, d] or [d]), given inv = L⁻¹ and norm = −Σ log Lᵢᵢ − (d/2) log 2π.
func logNormalRows(x, m, inv *ad.Tensor, norm float64) *ad.Tensor {
	z := ad.MatMulT(ad.Sub(x, m), inv) // rows (L⁻¹(x − m))ᵀ
	return ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(z), -1), -0.5), norm)
}

// Dims returns dx and dy.
func (m *LinearGaussian) Dims() (dx, dy int) { return m.dx, m.dy }

// LogInitial returns log N(x₀; μ₀, Σ₀).
func (m *LinearGaussian) LogInitial(x *ad.Tensor) *ad.Tensor {
	checkRows("LinearGaussian.LogInitial", x, m.dx)
	return logNormalRows(x, m.mu0, m.inv0, m.norm0)
}

// LogTransition returns log N(x; A prev, Q).
func (m *LinearGaussian) LogTransition(prev, x *ad.Tensor) *ad.Tensor {
	checkRows("LinearGaussian.LogTransition", x, m.dx)
	checkRows("LinearGaussian.LogTransition", prev, m.dx)
	return logNormalRows(x, ad.MatMulT(prev, m.A), m.invQ, m.normQ)
}

// LogEmission returns log N(y; C x, R).
func (m *LinearGaussian) LogEmission(x, y *ad.Tensor) *ad.Tensor {
	checkRows("LinearGaussian.LogEmission", x, m.dx)
	if y == nil || y.Rank() != 1 || y.Dim(0) != m.dy {
		panic(fmt.Sprintf("vsmc: LinearGaussian.LogEmission: y shape %v, want [%d]", shapeOf(y), m.dy))
	}
	return logNormalRows(ad.Reshape(y, 1, m.dy), ad.MatMulT(x, m.C), m.invR, m.normR)
}

// Params returns A and C if they require gradients.
func (m *LinearGaussian) Params() []*ad.Tensor {
	var ps []*ad.Tensor
	for _, t := range []*ad.Tensor{m.A, m.C} {
		if t.RequiresGrad() {
			ps = append(ps, t)
		}
	}
	return ps
}

// Statespace returns the statespace model with the current values of A
// and C (and the fixed μ₀ and covariances), whose Kalman filter gives the
// exact log-likelihood of a learned model.
func (m *LinearGaussian) Statespace() *statespace.LinearGaussian {
	p := m.p
	p.A = mat.NewDense(m.dx, m.dx, append([]float64(nil), m.A.Data()...))
	p.C = mat.NewDense(m.dy, m.dx, append([]float64(nil), m.C.Data()...))
	s, err := statespace.New(p)
	if err != nil {
		panic(err) // unreachable: the covariances factorized when m was made
	}
	return s
}

// checkRows panics unless x is [n, d].
func checkRows(who string, x *ad.Tensor, d int) {
	if x == nil || x.Rank() != 2 || x.Dim(1) != d {
		panic(fmt.Sprintf("vsmc: %s: shape %v, want [n, %d]", who, shapeOf(x), d))
	}
}

func shapeOf(x *ad.Tensor) any {
	if x == nil {
		return "nil"
	}
	return x.Shape()
}
