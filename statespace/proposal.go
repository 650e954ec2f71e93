package statespace

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Proposal is a particle filter's proposal for a state-space model with
// fixed observations y_{0:T−1}, together with its incremental weights
//
//	log α₀ = log p(x₀, y₀) − log q₀(x₀)
//	log α_t = log p(x_t, y_t | x_{t−1}) − log q_t(x_t | x_{t−1}),   1 ≤ t < T,
//
// so that sequential Monte Carlo with them estimates p(y_{0:T−1}) without
// bias. A set of n particles is a row-major [n, dx] slice (particle i is
// x[i·dx : (i+1)·dx]) and its log weights a slice of length n; Init and
// Step write into slices the caller owns, so a particle filter allocates
// nothing per step. Bootstrap and LocallyOptimal are Proposals.
type Proposal interface {
	// Len returns T, the number of observations.
	Len() int
	// Init draws n = len(logw) particles x₀ ~ q₀ into x ([n, dx]) and
	// sets logw to their log α₀. It panics if len(x) ≠ len(logw)·dx.
	Init(rng *rand.Rand, x, logw []float64)
	// Step draws x_t ~ q_t(· | x_{t−1}) for n = len(logw) particles, reading
	// x_{t−1} from xPrev and writing x_t to x (both [n, dx]; they must not
	// overlap), and sets logw to their log α_t. It panics if t is not in
	// [1, T) or the lengths do not fit.
	Step(rng *rand.Rand, t int, xPrev, x, logw []float64)
}

var (
	_ Proposal = (*Bootstrap)(nil)
	_ Proposal = (*LocallyOptimal)(nil)
)

// Bootstrap is the proposal of the bootstrap particle filter (Gordon,
// Salmond & Smith 1993): particles move by the model's own dynamics and are
// weighted by the likelihood of the observation,
//
//	q₀ = N(μ₀, Σ₀),            log α₀ = log N(y₀; C x₀, R)
//	q_t = N(A x_{t−1}, Q),     log α_t = log N(y_t; C x_t, R).
//
// Init and Step draw dx standard normals per particle, particle by
// particle. A Bootstrap is immutable and may be shared between goroutines,
// each passing its own *rand.Rand.
type Bootstrap struct {
	dx, T   int
	a, c    []float64 // A (dx×dx), C (dy×dx), row-major
	l0, lq  []float64 // lower Cholesky factors of Σ₀ and Q
	mu0, ys []float64 // μ₀; y_{0:T−1} as T×dy
	obs     gaussian  // N(·; 0, R)
}

// Bootstrap returns the bootstrap proposal for the observations ys (T×dy,
// row t holding y_t), which it copies. It panics if ys has no rows or does
// not have dy columns.
func (m *LinearGaussian) Bootstrap(ys *mat.Dense) *Bootstrap {
	m.checkObs("Bootstrap", ys)
	T, _ := ys.Dims()
	return &Bootstrap{
		dx: m.dx, T: T,
		a:   rawCopy(m.p.A),
		c:   rawCopy(m.p.C),
		l0:  lowerFactor(&m.ch0),
		lq:  lowerFactor(&m.cholQ),
		mu0: append([]float64(nil), m.p.Mu0.RawVector().Data...),
		ys:  rawCopy(ys),
		obs: newGaussian(&m.cholR),
	}
}

// Len returns T, the number of observations.
func (b *Bootstrap) Len() int { return b.T }

// Init implements Proposal.
func (b *Bootstrap) Init(rng *rand.Rand, x, logw []float64) {
	n, dx, dy := checkInit("Bootstrap", x, logw, b.dx), b.dx, b.obs.d
	var buf [32]float64
	eps, z := scratch(buf[:16], dx), scratch(buf[16:], dy)
	for i := range n {
		xi := x[i*dx : (i+1)*dx]
		copy(xi, b.mu0)
		addLowerTimesNormal(rng, xi, b.l0, eps)
		logw[i] = b.obs.logProb(b.ys[:dy], b.c, xi, z)
	}
}

// Step implements Proposal.
func (b *Bootstrap) Step(rng *rand.Rand, t int, xPrev, x, logw []float64) {
	n, dx, dy := checkStep("Bootstrap", t, b.T, xPrev, x, logw, b.dx), b.dx, b.obs.d
	y := b.ys[t*dy : (t+1)*dy]
	var buf [32]float64
	eps, z := scratch(buf[:16], dx), scratch(buf[16:], dy)
	for i := range n {
		xi := x[i*dx : (i+1)*dx]
		mulVec(xi, b.a, xPrev[i*dx:(i+1)*dx])
		addLowerTimesNormal(rng, xi, b.lq, eps)
		logw[i] = b.obs.logProb(y, b.c, xi, z)
	}
}

// LocallyOptimal is the locally optimal proposal of a linear-Gaussian
// model (Doucet, Godsill & Andrieu 2000), the conditional distribution of
// x_t given x_{t−1} and y_t, whose incremental weight does not depend on
// x_t:
//
//	K  = Q Cᵀ (C Q Cᵀ + R)⁻¹,   F = (I − K C) A,   Σ = (I − K C) Q
//	q_t = N(F x_{t−1} + K y_t, Σ),          log α_t = log N(y_t; C A x_{t−1}, C Q Cᵀ + R)
//	q₀ = N(μ₀ + K₀ (y₀ − C μ₀), Σ₀'),        log α₀ = log N(y₀; C μ₀, C Σ₀ Cᵀ + R)
//
// with K₀ and Σ₀' as K and Σ with Σ₀ in place of Q. Among proposals of
// x_t alone it minimizes the variance of the weights; it is the reference
// a learned VSMC proposal is compared with. Σ and Σ₀' are computed in
// Joseph form, (I − K C) Q (I − K C)ᵀ + K R Kᵀ, and factorized by
// Cholesky.
//
// Init and Step draw dx standard normals per particle, particle by
// particle. A LocallyOptimal is immutable and may be shared between
// goroutines, each passing its own *rand.Rand.
type LocallyOptimal struct {
	dx, T     int
	f, ca     []float64 // F (dx×dx) and C A (dy×dx), row-major
	ky        []float64 // K y_t for every t, T×dx
	ls        []float64 // lower Cholesky factor of Σ
	mean0, l0 []float64 // q₀'s mean and lower Cholesky factor
	logAlpha0 float64
	ys        []float64
	pred      gaussian // N(·; 0, C Q Cᵀ + R)
}

// LocallyOptimal returns the locally optimal proposal for the observations
// ys (T×dy, row t holding y_t), which it copies. It panics if ys has no
// rows or does not have dy columns, and returns an error wrapping
// ErrNotPositiveDefinite if a proposal covariance has no Cholesky factor
// (possible only for nearly singular parameters).
func (m *LinearGaussian) LocallyOptimal(ys *mat.Dense) (*LocallyOptimal, error) {
	m.checkObs("LocallyOptimal", ys)
	T, _ := ys.Dims()
	dx, dy := m.dx, m.dy
	A, C := m.p.A, m.p.C
	// condition returns K, the Joseph-form covariance (I − K C) P (I − K C)ᵀ +
	// K R Kᵀ, and the Cholesky factor of S = C P Cᵀ + R, for the prior
	// covariance P.
	condition := func(P *mat.SymDense) (K *mat.Dense, cov *mat.Cholesky, S *mat.Cholesky, err error) {
		var cp, cpc, kt, ikc, j, kr, krk mat.Dense
		cp.Mul(C, P)
		cpc.Mul(&cp, C.T())
		cpc.Add(&cpc, m.p.R)
		s := mat.NewSymDense(dy, nil)
		symmetrize(s, &cpc)
		S = new(mat.Cholesky)
		if !S.Factorize(s) {
			return nil, nil, nil, fmt.Errorf("statespace: LocallyOptimal: C P Cᵀ + R: %w", ErrNotPositiveDefinite)
		}
		if err := S.SolveTo(&kt, &cp); err != nil && !isCondition(err) { // Kᵀ = S⁻¹ C P
			return nil, nil, nil, err
		}
		K = mat.DenseCopyOf(kt.T())
		ikc.Mul(K, C)
		ikc.Sub(identity(dx), &ikc)
		j.Mul(&ikc, P)
		j.Mul(&j, ikc.T())
		kr.Mul(K, m.p.R)
		krk.Mul(&kr, &kt)
		j.Add(&j, &krk)
		sym := mat.NewSymDense(dx, nil)
		symmetrize(sym, &j)
		cov = new(mat.Cholesky)
		if !cov.Factorize(sym) {
			return nil, nil, nil, fmt.Errorf("statespace: LocallyOptimal: proposal covariance: %w", ErrNotPositiveDefinite)
		}
		return K, cov, S, nil
	}
	K, cov, S, err := condition(m.p.Q)
	if err != nil {
		return nil, err
	}
	K0, cov0, S0, err := condition(m.p.Sigma0)
	if err != nil {
		return nil, err
	}
	o := &LocallyOptimal{dx: dx, T: T, ls: lowerFactor(cov), l0: lowerFactor(cov0), ys: rawCopy(ys), pred: newGaussian(S)}
	var f, ikc, ca mat.Dense
	ikc.Mul(K, C)
	ikc.Sub(identity(dx), &ikc)
	f.Mul(&ikc, A)
	ca.Mul(C, A)
	o.f, o.ca = rawCopy(&f), rawCopy(&ca)
	o.ky = make([]float64, T*dx)
	for t := range T {
		var ky mat.VecDense
		ky.MulVec(K, ys.RowView(t))
		copy(o.ky[t*dx:], ky.RawVector().Data)
	}
	// q₀ and α₀: condition N(μ₀, Σ₀) on y₀.
	var cm, e, m0 mat.VecDense
	cm.MulVec(C, m.p.Mu0)
	e.SubVec(ys.RowView(0), &cm)
	m0.MulVec(K0, &e)
	m0.AddVec(&m0, m.p.Mu0)
	o.mean0 = append([]float64(nil), m0.RawVector().Data...)
	g0 := newGaussian(S0)
	o.logAlpha0 = g0.logProb(e.RawVector().Data, nil, nil, make([]float64, dy))
	return o, nil
}

// Len returns T, the number of observations.
func (o *LocallyOptimal) Len() int { return o.T }

// Init implements Proposal; every log α₀ is log p(y₀).
func (o *LocallyOptimal) Init(rng *rand.Rand, x, logw []float64) {
	n, dx := checkInit("LocallyOptimal", x, logw, o.dx), o.dx
	var buf [16]float64
	eps := scratch(buf[:], dx)
	for i := range n {
		xi := x[i*dx : (i+1)*dx]
		copy(xi, o.mean0)
		addLowerTimesNormal(rng, xi, o.l0, eps)
		logw[i] = o.logAlpha0
	}
}

// Step implements Proposal.
func (o *LocallyOptimal) Step(rng *rand.Rand, t int, xPrev, x, logw []float64) {
	n, dx, dy := checkStep("LocallyOptimal", t, o.T, xPrev, x, logw, o.dx), o.dx, o.pred.d
	y, ky := o.ys[t*dy:(t+1)*dy], o.ky[t*dx:(t+1)*dx]
	var buf [32]float64
	eps, z := scratch(buf[:16], dx), scratch(buf[16:], dy)
	for i := range n {
		xp, xi := xPrev[i*dx:(i+1)*dx], x[i*dx:(i+1)*dx]
		logw[i] = o.pred.logProb(y, o.ca, xp, z)
		mulVec(xi, o.f, xp)
		for r, v := range ky {
			xi[r] += v
		}
		addLowerTimesNormal(rng, xi, o.ls, eps)
	}
}

// gaussian evaluates the log density of N(0, LLᵀ) in d dimensions.
type gaussian struct {
	d       int
	l       []float64 // lower Cholesky factor, row-major d×d
	inv     []float64 // 1/L_rr: the solve multiplies instead of dividing
	logNorm float64   // −½ d log 2π − log det L
}

func newGaussian(c *mat.Cholesky) gaussian {
	g := gaussian{d: c.SymmetricDim(), l: lowerFactor(c)}
	g.inv = make([]float64, g.d)
	for r := range g.d {
		g.inv[r] = 1 / g.l[r*g.d+r]
	}
	g.logNorm = -0.5*float64(g.d)*math.Log(2*math.Pi) - 0.5*c.LogDet()
	return g
}

// logProb returns log N(y; M x, LLᵀ) = logNorm − ½ |L⁻¹ (y − M x)|² for
// the row-major d×len(x) matrix M, or log N(y; 0, LLᵀ) if M is nil. z is
// scratch of length at least d.
func (g *gaussian) logProb(y, M, x, z []float64) float64 {
	d := g.d
	z = z[:d]
	q := 0.0
	for r := range z {
		s := y[r]
		if M != nil {
			row := M[r*len(x) : (r+1)*len(x)]
			row = row[:len(x)] // lets the compiler drop the bounds checks below
			for c, v := range x {
				s -= row[c] * v
			}
		}
		// Forward substitution: z_r = (e_r − Σ_{c<r} L_rc z_c) / L_rr.
		lrow, done := g.l[r*d:r*d+r], z[:r]
		lrow = lrow[:len(done)]
		for c, v := range done {
			s -= lrow[c] * v
		}
		zr := s * g.inv[r]
		z[r] = zr
		q += zr * zr
	}
	return g.logNorm - 0.5*q
}

// scratch returns a slice of length n, backed by buf if it is long enough.
func scratch(buf []float64, n int) []float64 {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]float64, n)
}

// mulVec sets dst = M x for the row-major len(dst)×len(x) matrix M.
func mulVec(dst, M, x []float64) {
	for r := range dst {
		row, s := M[r*len(x):(r+1)*len(x)], 0.0
		row = row[:len(x)]
		for c, v := range x {
			s += row[c] * v
		}
		dst[r] = s
	}
}

// addLowerTimesNormal adds L ε to x for the lower-triangular factor l
// (row-major, len(x)×len(x)) and ε of len(x) fresh standard normals,
// drawn into the scratch eps (of length at least len(x)).
func addLowerTimesNormal(rng *rand.Rand, x, l, eps []float64) {
	d := len(x)
	eps = eps[:d]
	for i := range eps {
		eps[i] = rng.NormFloat64()
	}
	for r := range x {
		row, s := l[r*d:r*d+r+1], 0.0
		e := eps[:len(row)]
		for c, v := range row {
			s += v * e[c]
		}
		x[r] += s
	}
}

func (m *LinearGaussian) checkObs(who string, ys *mat.Dense) {
	T, c := ys.Dims()
	if T < 1 || c != m.dy {
		panic(fmt.Sprintf("statespace: %s: ys is %d×%d, want T×%d with T ≥ 1", who, T, c, m.dy))
	}
}

func checkInit(who string, x, logw []float64, dx int) int {
	if len(x) != len(logw)*dx {
		panic(fmt.Sprintf("statespace: %s.Init: len(x) = %d, len(logw) = %d, want len(x) = len(logw)·%d", who, len(x), len(logw), dx))
	}
	return len(logw)
}

func checkStep(who string, t, T int, xPrev, x, logw []float64, dx int) int {
	if t < 1 || t >= T {
		panic(fmt.Sprintf("statespace: %s.Step: t = %d, want 1 ≤ t < %d", who, t, T))
	}
	n := len(logw)
	if len(x) != n*dx || len(xPrev) != n*dx {
		panic(fmt.Sprintf("statespace: %s.Step: len(xPrev) = %d, len(x) = %d, len(logw) = %d, want both len(logw)·%d",
			who, len(xPrev), len(x), n, dx))
	}
	return n
}

func rawCopy(a *mat.Dense) []float64 {
	r, c := a.Dims()
	out := make([]float64, 0, r*c)
	for i := range r {
		out = append(out, a.RawRowView(i)...)
	}
	return out
}

func lowerFactor(c *mat.Cholesky) []float64 {
	var l mat.TriDense
	c.LTo(&l)
	n := c.SymmetricDim()
	out := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			out[i*n+j] = l.At(i, j)
		}
	}
	return out
}
