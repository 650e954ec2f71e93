package statespace

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Params are the parameters of a linear-Gaussian state-space model with
// latent dimension dx and observation dimension dy:
//
//	x₀ ~ N(Mu0, Sigma0)
//	x_t = A x_{t−1} + w_t,   w_t ~ N(0, Q),   t = 1, …, T−1
//	y_t = C x_t + v_t,       v_t ~ N(0, R),   t = 0, …, T−1
//
// A nil Mu0 means the zero vector and a nil Sigma0 the identity.
type Params struct {
	A      *mat.Dense    // dx×dx transition matrix
	C      *mat.Dense    // dy×dx observation matrix
	Q      *mat.SymDense // dx×dx process noise covariance, positive definite
	R      *mat.SymDense // dy×dy observation noise covariance, positive definite
	Mu0    *mat.VecDense // dx initial mean; nil is 0
	Sigma0 *mat.SymDense // dx×dx initial covariance, positive definite; nil is I
}

// LinearGaussian is a linear-Gaussian state-space model (see Params). It
// is immutable: New copies the parameters and factorizes the covariances
// once, so a model may be shared between goroutines, each passing its own
// *rand.Rand.
type LinearGaussian struct {
	p                 Params
	dx, dy            int
	cholQ, cholR, ch0 mat.Cholesky
}

// ErrNotPositiveDefinite is wrapped by the error New returns when Q, R or
// Sigma0 is not (numerically) positive definite.
var ErrNotPositiveDefinite = errors.New("covariance is not positive definite")

// New returns the model with parameters p, which it copies.
//
// It panics if A, C, Q or R is nil or if the shapes do not fit together
// (A dx×dx, C dy×dx, Q dx×dx, R dy×dy, Mu0 of length dx, Sigma0 dx×dx).
// It returns an error wrapping ErrNotPositiveDefinite if a covariance has
// no Cholesky factorization.
func New(p Params) (*LinearGaussian, error) {
	if p.A == nil || p.C == nil || p.Q == nil || p.R == nil {
		panic("statespace: New: A, C, Q and R are required")
	}
	dx, ac := p.A.Dims()
	dy, cc := p.C.Dims()
	if dx != ac || dx < 1 || dy < 1 || cc != dx || p.Q.SymmetricDim() != dx || p.R.SymmetricDim() != dy ||
		(p.Mu0 != nil && p.Mu0.Len() != dx) || (p.Sigma0 != nil && p.Sigma0.SymmetricDim() != dx) {
		panic(fmt.Sprintf("statespace: New: shapes A %v, C %v, Q %d×%[3]d, R %d×%[4]d, Mu0 %v, Sigma0 %v do not fit "+
			"(want A dx×dx, C dy×dx, Q dx×dx, R dy×dy, Mu0 dx, Sigma0 dx×dx)",
			dims(p.A), dims(p.C), p.Q.SymmetricDim(), p.R.SymmetricDim(), vecLen(p.Mu0), symDim(p.Sigma0)))
	}
	m := &LinearGaussian{dx: dx, dy: dy, p: Params{
		A: mat.DenseCopyOf(p.A),
		C: mat.DenseCopyOf(p.C),
		Q: mat.NewSymDense(dx, nil),
		R: mat.NewSymDense(dy, nil),
	}}
	m.p.Q.CopySym(p.Q)
	m.p.R.CopySym(p.R)
	m.p.Mu0 = mat.NewVecDense(dx, nil)
	if p.Mu0 != nil {
		m.p.Mu0.CopyVec(p.Mu0)
	}
	m.p.Sigma0 = mat.NewSymDense(dx, nil)
	if p.Sigma0 != nil {
		m.p.Sigma0.CopySym(p.Sigma0)
	} else {
		for i := range dx {
			m.p.Sigma0.SetSym(i, i, 1)
		}
	}
	for _, f := range []struct {
		name string
		c    *mat.Cholesky
		s    *mat.SymDense
	}{{"Q", &m.cholQ, m.p.Q}, {"R", &m.cholR, m.p.R}, {"Sigma0", &m.ch0, m.p.Sigma0}} {
		if !f.c.Factorize(f.s) {
			return nil, fmt.Errorf("statespace: New: %s: %w", f.name, ErrNotPositiveDefinite)
		}
	}
	return m, nil
}

// VSMCExampleT is the number of time steps of the example of VSMCExample.
const VSMCExampleT = 10

// VSMCExample returns the linear-Gaussian model of the experiments of
// Naesseth, Linderman, Ranganath & Blei, "Variational Sequential Monte
// Carlo" (AISTATS 2018), Sec. 5.1, as set up in the authors' reference
// code (lgss_example.py): dx = 5, dy = 3, T = VSMCExampleT = 10, and
//
//	A_ij = 0.42^(|i−j|+1),   Q = I,   R = 0.1·I,   Mu0 = 0,   Sigma0 = I,
//	C = [I₃ 0]  (the "sparse" observation matrix: y sees x's first 3 coordinates).
//
// The paper's dense alternative, C_ij ~ N(0, 1), is built with New.
func VSMCExample() *LinearGaussian {
	const dx, dy, alpha, r = 5, 3, 0.42, 0.1
	a := mat.NewDense(dx, dx, nil)
	for i := range dx {
		for j := range dx {
			a.Set(i, j, pow(alpha, abs(i-j)+1))
		}
	}
	c := mat.NewDense(dy, dx, nil)
	q := mat.NewSymDense(dx, nil)
	rr := mat.NewSymDense(dy, nil)
	for i := range dx {
		q.SetSym(i, i, 1)
	}
	for i := range dy {
		c.Set(i, i, 1)
		rr.SetSym(i, i, r)
	}
	m, err := New(Params{A: a, C: c, Q: q, R: rr})
	if err != nil {
		panic(err) // unreachable: the covariances are diagonal and positive
	}
	return m
}

// Dims returns the latent and observation dimensions.
func (m *LinearGaussian) Dims() (dx, dy int) { return m.dx, m.dy }

// Params returns a copy of the model's parameters, with Mu0 and Sigma0
// filled in.
func (m *LinearGaussian) Params() Params {
	p := Params{
		A:      mat.DenseCopyOf(m.p.A),
		C:      mat.DenseCopyOf(m.p.C),
		Q:      mat.NewSymDense(m.dx, nil),
		R:      mat.NewSymDense(m.dy, nil),
		Mu0:    mat.VecDenseCopyOf(m.p.Mu0),
		Sigma0: mat.NewSymDense(m.dx, nil),
	}
	p.Q.CopySym(m.p.Q)
	p.R.CopySym(m.p.R)
	p.Sigma0.CopySym(m.p.Sigma0)
	return p
}

// Sample draws one sequence of T latent states and observations from the
// model: xs is T×dx and ys is T×dy, row t holding x_t and y_t. For each t
// in turn it draws dx standard normals for x_t, then dy for y_t, from rng.
//
// It panics if T < 1.
func (m *LinearGaussian) Sample(rng *rand.Rand, T int) (xs, ys *mat.Dense) {
	if T < 1 {
		panic(fmt.Sprintf("statespace: Sample: T = %d, want T ≥ 1", T))
	}
	xs = mat.NewDense(T, m.dx, nil)
	ys = mat.NewDense(T, m.dy, nil)
	var l0, lq, lr mat.TriDense
	m.ch0.LTo(&l0)
	m.cholQ.LTo(&lq)
	m.cholR.LTo(&lr)
	ex := mat.NewVecDense(m.dx, nil)
	ey := mat.NewVecDense(m.dy, nil)
	x := mat.NewVecDense(m.dx, nil)
	y := mat.NewVecDense(m.dy, nil)
	for t := range T {
		fillNormal(rng, ex.RawVector().Data)
		if t == 0 {
			x.MulVec(&l0, ex)
			x.AddVec(x, m.p.Mu0)
		} else {
			var ax mat.VecDense
			ax.MulVec(m.p.A, x)
			x.MulVec(&lq, ex)
			x.AddVec(x, &ax)
		}
		fillNormal(rng, ey.RawVector().Data)
		y.MulVec(&lr, ey)
		var cx mat.VecDense
		cx.MulVec(m.p.C, x)
		y.AddVec(y, &cx)
		xs.SetRow(t, x.RawVector().Data)
		ys.SetRow(t, y.RawVector().Data)
	}
	return xs, ys
}

func fillNormal(rng *rand.Rand, dst []float64) {
	for i := range dst {
		dst[i] = rng.NormFloat64()
	}
}

func pow(a float64, k int) float64 {
	p := 1.0
	for range k {
		p *= a
	}
	return p
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func dims(a *mat.Dense) [2]int {
	r, c := a.Dims()
	return [2]int{r, c}
}

func vecLen(v *mat.VecDense) any {
	if v == nil {
		return "nil"
	}
	return v.Len()
}

func symDim(s *mat.SymDense) any {
	if s == nil {
		return "nil"
	}
	n := s.SymmetricDim()
	return fmt.Sprintf("%d×%d", n, n)
}
