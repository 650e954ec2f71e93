package hvi

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/ad"
)

// LinearGaussian is the reference model of the tests and of `eimkit hvi`,
// whose posterior and evidence are closed forms:
//
//	z ~ N(0, I_dz),   x | z ~ N(W z, σ² I_dx),
//	p(x)     = N(x; 0, W Wᵀ + σ² I)
//	p(z | x) = N(Λ⁻¹ Wᵀ x / σ², Λ⁻¹),   Λ = I + Wᵀ W / σ².
//
// W is dx × dz, row-major in rows. A diagonal Gaussian q cannot match a
// correlated posterior: the best one (mean-field, KL(q ‖ p) minimized,
// precisions Λ_ii) falls short of log p(x) by
//
//	½ (Σ_i log Λ_ii − log det Λ)   (MeanFieldGap),
//
// for every x, which HVI's dynamics can close.
type LinearGaussian struct {
	W     [][]float64
	Sigma float64
}

func (m LinearGaussian) dims() (dx, dz int) {
	if len(m.W) == 0 || len(m.W[0]) == 0 || m.Sigma <= 0 {
		panic(fmt.Sprintf("hvi: LinearGaussian: W %d×?, σ = %v; want a nonempty W and σ > 0", len(m.W), m.Sigma))
	}
	return len(m.W), len(m.W[0])
}

func (m LinearGaussian) wDense() *mat.Dense {
	dx, dz := m.dims()
	w := mat.NewDense(dx, dz, nil)
	for i, row := range m.W {
		if len(row) != dz {
			panic("hvi: LinearGaussian: ragged W")
		}
		w.SetRow(i, row)
	}
	return w
}

// LogJoint returns log p(x, z) for x [n, dx] and z [..., n, dz], shape
// [..., n].
func (m LinearGaussian) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	dx, dz := m.dims()
	if x == nil || x.Rank() != 2 || x.Dim(1) != dx || z == nil || z.Rank() < 2 || z.Dim(-1) != dz || z.Dim(-2) != x.Dim(0) {
		panic(fmt.Sprintf("hvi: LinearGaussian.LogJoint: x shape %v, z shape %v; want [n, %d] and [..., n, %d]", shapeOf(x), shapeOf(z), dx, dz))
	}
	wt := make([]float64, 0, dz*dx) // Wᵀ, dz × dx
	for j := range dz {
		for i := range dx {
			wt = append(wt, m.W[i][j])
		}
	}
	mean := ad.MatMul(z, ad.New(wt, dz, dx)) // [..., n, dx]
	lik := diagNormalLogProb(ad.BroadcastTo(x, mean.Shape()...), mean, ad.Scalar(math.Log(m.Sigma)))
	return ad.Add(stdNormalLogProb(z), lik)
}

// LogEvidence returns log p(x) = log N(x; 0, W Wᵀ + σ² I) for one point x
// of length dx.
func (m LinearGaussian) LogEvidence(x []float64) float64 {
	dx, _ := m.dims()
	w := m.wDense()
	var c mat.SymDense
	c.SymOuterK(1, w)
	for i := range dx {
		c.SetSym(i, i, c.At(i, i)+m.Sigma*m.Sigma)
	}
	var ch mat.Cholesky
	if !ch.Factorize(&c) {
		panic("hvi: LinearGaussian.LogEvidence: covariance not positive definite")
	}
	v := mat.NewVecDense(dx, append([]float64(nil), x...))
	var s mat.VecDense
	if err := ch.SolveVecTo(&s, v); err != nil {
		panic(err)
	}
	return -0.5*mat.Dot(v, &s) - 0.5*ch.LogDet() - 0.5*float64(dx)*math.Log(2*math.Pi)
}

// Posterior returns the mean and covariance of p(z | x) for one point x.
func (m LinearGaussian) Posterior(x []float64) (mean []float64, cov *mat.SymDense) {
	_, dz := m.dims()
	w := m.wDense()
	prec := m.precision()
	var ch mat.Cholesky
	if !ch.Factorize(prec) {
		panic("hvi: LinearGaussian.Posterior: precision not positive definite")
	}
	cov = mat.NewSymDense(dz, nil)
	if err := ch.InverseTo(cov); err != nil {
		panic(err)
	}
	var wtx mat.VecDense
	wtx.MulVec(w.T(), mat.NewVecDense(len(x), append([]float64(nil), x...)))
	wtx.ScaleVec(1/(m.Sigma*m.Sigma), &wtx)
	var mu mat.VecDense
	mu.MulVec(cov, &wtx)
	return mu.RawVector().Data, cov
}

// precision returns Λ = I + Wᵀ W / σ².
func (m LinearGaussian) precision() *mat.SymDense {
	_, dz := m.dims()
	w := m.wDense()
	var p mat.SymDense
	p.SymOuterK(1/(m.Sigma*m.Sigma), w.T())
	for i := range dz {
		p.SetSym(i, i, p.At(i, i)+1)
	}
	return &p
}

// MeanFieldGap returns log p(x) minus the largest ELBO of a diagonal
// Gaussian q, ½ (Σ_i log Λ_ii − log det Λ), the same for every x.
func (m LinearGaussian) MeanFieldGap() float64 {
	p := m.precision()
	var ch mat.Cholesky
	if !ch.Factorize(p) {
		panic("hvi: LinearGaussian.MeanFieldGap: precision not positive definite")
	}
	s := 0.0
	for i := range p.SymmetricDim() {
		s += math.Log(p.At(i, i))
	}
	return 0.5 * (s - ch.LogDet())
}
