package refmodel

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/ad"
)

// Conjugate is z ~ N(0, I_d), x | z ~ N(z, diag exp(2 LogSigma)) (see the
// package comment for its evidence and posterior). LogSigma has shape [d];
// it is learned if it requires gradients (NewConjugate marks it), so that
// model gradients can be tested too.
type Conjugate struct {
	LogSigma *ad.Tensor
}

// NewConjugate returns the conjugate model in d dimensions with σ the same
// in every dimension and LogSigma learnable. It panics if d < 1 or σ ≤ 0.
func NewConjugate(d int, sigma float64) Conjugate {
	if d < 1 || !(sigma > 0) || math.IsInf(sigma, 1) {
		panic(fmt.Sprintf("refmodel: NewConjugate: d = %d, σ = %v; want d ≥ 1 and 0 < σ < ∞", d, sigma))
	}
	return Conjugate{LogSigma: ad.Full(math.Log(sigma), d).RequireGrad()}
}

// Dim returns d (the dimension of both x and z).
func (m Conjugate) Dim() int { return m.LogSigma.Len() }

func (m Conjugate) variances() []float64 {
	v := make([]float64, m.Dim())
	for j, ls := range m.LogSigma.Data() {
		v[j] = math.Exp(2 * ls)
	}
	return v
}

// LogJoint returns log N(z; 0, I) + log N(x; z, diag σ²) for x [n, d] and z
// [..., n, d], shape [..., n]; differentiable in z and LogSigma.
func (m Conjugate) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	d := m.Dim()
	checkJoint("Conjugate.LogJoint", x, z, d, d)
	prior := stdNormalLogProb(z)
	u := ad.Div(ad.Sub(x, z), ad.Exp(m.LogSigma))
	lik := ad.AddScalar(ad.Sum(ad.Sub(ad.MulScalar(ad.Square(u), -0.5), m.LogSigma), -1), -0.5*float64(d)*math.Log(2*math.Pi))
	return ad.Add(prior, lik)
}

// LogEvidence returns log p(x) = Σ_j log N(x_j; 0, 1 + σ_j²) for each row of
// x ([n, d]), as plain numbers.
func (m Conjugate) LogEvidence(x *ad.Tensor) []float64 {
	d := m.Dim()
	checkData("Conjugate.LogEvidence", x, d)
	v := m.variances()
	out := make([]float64, x.Dim(0))
	xd := x.Data()
	for i := range out {
		for j := range d {
			out[i] += logNormal(xd[i*d+j], 0, 1+v[j])
		}
	}
	return out
}

// Posterior returns the mean and the variances of p(z | x) for each row of
// x ([n, d]): both [n][d], mean x_j/(1 + σ_j²), variance σ_j²/(1 + σ_j²).
func (m Conjugate) Posterior(x *ad.Tensor) (mean, variance [][]float64) {
	d := m.Dim()
	checkData("Conjugate.Posterior", x, d)
	v := m.variances()
	xd := x.Data()
	for i := range x.Dim(0) {
		mu, va := make([]float64, d), make([]float64, d)
		for j := range d {
			mu[j] = xd[i*d+j] / (1 + v[j])
			va[j] = v[j] / (1 + v[j])
		}
		mean, variance = append(mean, mu), append(variance, va)
	}
	return mean, variance
}

// Sample draws n pairs (z, x) from the model, [n, d] each, as constants:
// z first (all n rows), then the observation noise.
func (m Conjugate) Sample(rng *rand.Rand, n int) (z, x *ad.Tensor) {
	if n < 0 {
		panic(fmt.Sprintf("refmodel: Conjugate.Sample: n = %d", n))
	}
	d := m.Dim()
	zs := ad.Randn(rng, n, d)
	eps := ad.Randn(rng, n, d).Data()
	xs := make([]float64, n*d)
	ls := m.LogSigma.Data()
	for i := range xs {
		xs[i] = zs.Data()[i] + math.Exp(ls[i%d])*eps[i]
	}
	return zs, ad.New(xs, n, d)
}

// LinearGaussian is z ~ N(0, I_dz), x | z ~ N(W z, σ² I_dx) (see the
// package comment). W is dx × dz, row-major in rows; both fields are
// fixed numbers.
type LinearGaussian struct {
	W     [][]float64
	Sigma float64
}

// Dims returns (dx, dz). It panics if W is empty or ragged or σ ≤ 0.
func (m LinearGaussian) Dims() (dx, dz int) {
	if len(m.W) == 0 || len(m.W[0]) == 0 || !(m.Sigma > 0) {
		panic(fmt.Sprintf("refmodel: LinearGaussian: W %d×?, σ = %v; want a nonempty W and σ > 0", len(m.W), m.Sigma))
	}
	for _, row := range m.W {
		if len(row) != len(m.W[0]) {
			panic("refmodel: LinearGaussian: ragged W")
		}
	}
	return len(m.W), len(m.W[0])
}

func (m LinearGaussian) wDense() *mat.Dense {
	dx, dz := m.Dims()
	w := mat.NewDense(dx, dz, nil)
	for i, row := range m.W {
		w.SetRow(i, row)
	}
	return w
}

// LogJoint returns log p(x, z) for x [n, dx] and z [..., n, dz], shape
// [..., n], differentiable in z (twice: HVI follows its gradient).
func (m LinearGaussian) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	dx, dz := m.Dims()
	checkJoint("LinearGaussian.LogJoint", x, z, dx, dz)
	wt := make([]float64, 0, dz*dx) // Wᵀ, dz × dx
	for j := range dz {
		for i := range dx {
			wt = append(wt, m.W[i][j])
		}
	}
	mean := ad.MatMul(z, ad.New(wt, dz, dx)) // [..., n, dx]
	// The same operations as hvi's former copy of this model, so results
	// that depended on it keep their bits.
	logSd := ad.Scalar(math.Log(m.Sigma))
	u := ad.Div(ad.Sub(ad.BroadcastTo(x, mean.Shape()...), mean), ad.Exp(logSd))
	lp := ad.Sub(ad.MulScalar(ad.Square(u), -0.5), ad.BroadcastTo(logSd, u.Shape()...))
	lik := ad.AddScalar(ad.Sum(lp, -1), -0.5*float64(dx)*math.Log(2*math.Pi))
	return ad.Add(stdNormalLogProb(z), lik)
}

// LogEvidence returns log p(x) = log N(x; 0, W Wᵀ + σ² I) for one point x
// of length dx.
func (m LinearGaussian) LogEvidence(x []float64) float64 {
	dx, _ := m.Dims()
	if len(x) != dx {
		panic(fmt.Sprintf("refmodel: LinearGaussian.LogEvidence: point of length %d, want %d", len(x), dx))
	}
	w := m.wDense()
	var c mat.SymDense
	c.SymOuterK(1, w)
	for i := range dx {
		c.SetSym(i, i, c.At(i, i)+m.Sigma*m.Sigma)
	}
	var ch mat.Cholesky
	if !ch.Factorize(&c) {
		panic("refmodel: LinearGaussian.LogEvidence: covariance not positive definite")
	}
	v := mat.NewVecDense(dx, append([]float64(nil), x...))
	var s mat.VecDense
	if err := ch.SolveVecTo(&s, v); err != nil {
		panic(err)
	}
	return -0.5*mat.Dot(v, &s) - 0.5*ch.LogDet() - 0.5*float64(dx)*math.Log(2*math.Pi)
}

// LogEvidences returns log p(x) for each row of x ([n, dx]).
func (m LinearGaussian) LogEvidences(x *ad.Tensor) []float64 {
	dx, _ := m.Dims()
	checkData("LinearGaussian.LogEvidences", x, dx)
	out := make([]float64, x.Dim(0))
	for i := range out {
		out[i] = m.LogEvidence(x.Data()[i*dx : (i+1)*dx])
	}
	return out
}

// Posterior returns the mean and covariance of p(z | x) for one point x.
func (m LinearGaussian) Posterior(x []float64) (mean []float64, cov *mat.SymDense) {
	dx, dz := m.Dims()
	if len(x) != dx {
		panic(fmt.Sprintf("refmodel: LinearGaussian.Posterior: point of length %d, want %d", len(x), dx))
	}
	w := m.wDense()
	var ch mat.Cholesky
	if !ch.Factorize(m.precision()) {
		panic("refmodel: LinearGaussian.Posterior: precision not positive definite")
	}
	cov = mat.NewSymDense(dz, nil)
	if err := ch.InverseTo(cov); err != nil {
		panic(err)
	}
	var wtx mat.VecDense
	wtx.MulVec(w.T(), mat.NewVecDense(dx, append([]float64(nil), x...)))
	wtx.ScaleVec(1/(m.Sigma*m.Sigma), &wtx)
	var mu mat.VecDense
	mu.MulVec(cov, &wtx)
	return mu.RawVector().Data, cov
}

// precision returns Λ = I + Wᵀ W / σ².
func (m LinearGaussian) precision() *mat.SymDense {
	_, dz := m.Dims()
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
		panic("refmodel: LinearGaussian.MeanFieldGap: precision not positive definite")
	}
	s := 0.0
	for i := range p.SymmetricDim() {
		s += math.Log(p.At(i, i))
	}
	return 0.5 * (s - ch.LogDet())
}

// Sample draws n pairs (z, x) from the model, [n, dz] and [n, dx], as
// constants: z first (all n rows), then the observation noise.
func (m LinearGaussian) Sample(rng *rand.Rand, n int) (z, x *ad.Tensor) {
	dx, dz := m.Dims()
	if n < 0 {
		panic(fmt.Sprintf("refmodel: LinearGaussian.Sample: n = %d", n))
	}
	zs := ad.Randn(rng, n, dz)
	eps := ad.Randn(rng, n, dx).Data()
	zd := zs.Data()
	xs := make([]float64, n*dx)
	for i := range n {
		for a := range dx {
			v := 0.0
			for b := range dz {
				v += m.W[a][b] * zd[i*dz+b]
			}
			xs[i*dx+a] = v + m.Sigma*eps[i*dx+a]
		}
	}
	return zs, ad.New(xs, n, dx)
}

// stdNormalLogProb returns Σ_j log N(v_j; 0, 1) over the last axis.
func stdNormalLogProb(v *ad.Tensor) *ad.Tensor {
	return ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(v), -1), -0.5), -0.5*float64(v.Dim(-1))*math.Log(2*math.Pi))
}

func logNormal(x, m, v float64) float64 {
	return -0.5*(x-m)*(x-m)/v - 0.5*math.Log(2*math.Pi*v)
}

func shapeOf(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}

// checkJoint panics unless x is [n, dx] and z is [..., n, dz].
func checkJoint(who string, x, z *ad.Tensor, dx, dz int) {
	if x == nil || x.Rank() != 2 || x.Dim(1) != dx || z == nil || z.Rank() < 2 || z.Dim(-1) != dz || z.Dim(-2) != x.Dim(0) {
		panic(fmt.Sprintf("refmodel: %s: x shape %v, z shape %v; want [n, %d] and [..., n, %d]", who, shapeOf(x), shapeOf(z), dx, dz))
	}
}

// checkData panics unless x is [n, d].
func checkData(who string, x *ad.Tensor, d int) {
	if x == nil || x.Rank() != 2 || x.Dim(1) != d {
		panic(fmt.Sprintf("refmodel: %s: x shape %v, want [n, %d]", who, shapeOf(x), d))
	}
}
