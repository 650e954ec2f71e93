package statespace

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distmv"
)

// kalmanTol is the agreement required between the Kalman filter and the
// dense joint-Gaussian density: both are exact, and they differ only by
// rounding in the factorizations.
const kalmanTol = 1e-10

// randomModel returns a model with dense, unstructured parameters: nonzero
// mean, correlated noise, a transition with spectral radius near 1.
func randomModel(t *testing.T, rng *rand.Rand, dx, dy int) *LinearGaussian {
	t.Helper()
	randDense := func(r, c int, s float64) *mat.Dense {
		d := mat.NewDense(r, c, nil)
		for i := range r {
			for j := range c {
				d.Set(i, j, s*rng.NormFloat64())
			}
		}
		return d
	}
	randSPD := func(n int, jitter float64) *mat.SymDense {
		b := randDense(n, n, 1)
		s := mat.NewSymDense(n, nil)
		s.SymOuterK(1, b)
		for i := range n {
			s.SetSym(i, i, s.At(i, i)+jitter)
		}
		return s
	}
	mu0 := mat.NewVecDense(dx, nil)
	for i := range dx {
		mu0.SetVec(i, rng.NormFloat64())
	}
	m, err := New(Params{
		A: randDense(dx, dx, 0.9/math.Sqrt(float64(dx))), C: randDense(dy, dx, 1),
		Q: randSPD(dx, 0.3), R: randSPD(dy, 0.2), Mu0: mu0, Sigma0: randSPD(dx, 0.5),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// jointY returns the mean and covariance of y_{0:T−1} stacked into one
// vector of length T·dy, assembled from the moments in the package doc.
func jointY(m *LinearGaussian, T int) ([]float64, *mat.SymDense) {
	dx, dy := m.Dims()
	p := m.Params()
	means := make([]*mat.VecDense, T) // E x_t
	vars := make([]*mat.Dense, T)     // Σ_t
	powA := make([]*mat.Dense, T)     // A^k
	powA[0] = identity(dx)
	for k := 1; k < T; k++ {
		powA[k] = mat.NewDense(dx, dx, nil)
		powA[k].Mul(p.A, powA[k-1])
	}
	for t := range T {
		means[t] = mat.NewVecDense(dx, nil)
		vars[t] = mat.NewDense(dx, dx, nil)
		if t == 0 {
			means[0].CopyVec(p.Mu0)
			vars[0].Copy(p.Sigma0)
			continue
		}
		means[t].MulVec(p.A, means[t-1])
		vars[t].Mul(p.A, vars[t-1])
		vars[t].Mul(vars[t], p.A.T())
		vars[t].Add(vars[t], p.Q)
	}
	mu := make([]float64, T*dy)
	cov := mat.NewSymDense(T*dy, nil)
	var cm mat.VecDense
	var cxx, ccxx, blk mat.Dense
	for t := range T {
		cm.MulVec(p.C, means[t])
		copy(mu[t*dy:], cm.RawVector().Data)
		for s := 0; s <= t; s++ {
			cxx.Mul(powA[t-s], vars[s]) // Cov(x_t, x_s)
			ccxx.Mul(p.C, &cxx)
			blk.Mul(&ccxx, p.C.T())
			if s == t {
				blk.Add(&blk, p.R)
			}
			for i := range dy {
				for j := range dy {
					if s == t && j < i {
						continue
					}
					cov.SetSym(t*dy+i, s*dy+j, blk.At(i, j))
				}
			}
		}
	}
	return mu, cov
}

func flatten(ys *mat.Dense) []float64 {
	r, c := ys.Dims()
	out := make([]float64, 0, r*c)
	for i := range r {
		out = append(out, ys.RawRowView(i)...)
	}
	return out
}

func TestKalmanMatchesJointGaussian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	models := []struct {
		name string
		m    *LinearGaussian
	}{
		{"vsmc", VSMCExample()},
		{"random-3x2", randomModel(t, rng, 3, 2)},
		{"random-2x4", randomModel(t, rng, 2, 4)},
		{"random-1x1", randomModel(t, rng, 1, 1)},
	}
	for _, c := range models {
		name, m := c.name, c.m
		for _, T := range []int{1, 2, 3, 6} {
			_, ys := m.Sample(rng, T)
			// Also an observation sequence far from typical, where the
			// quadratic form dominates.
			far := mat.DenseCopyOf(ys)
			far.Scale(7, far)
			far.Apply(func(_, _ int, v float64) float64 { return v + 3 }, far)
			mu, cov := jointY(m, T)
			ref, ok := distmv.NewNormal(mu, cov, nil)
			if !ok {
				t.Fatalf("%s T=%d: joint covariance not positive definite", name, T)
			}
			for kind, y := range map[string]*mat.Dense{"sampled": ys, "far": far} {
				got := m.KalmanLogLikelihood(y)
				want := ref.LogProb(flatten(y)) // dense joint Gaussian (gonum stat/distmv)
				if !scalar.EqualWithinAbsOrRel(got, want, kalmanTol, kalmanTol) {
					t.Errorf("%s T=%d %s: Kalman log-likelihood %.15g, dense joint Gaussian %.15g (diff %.3g)",
						name, T, kind, got, want, got-want)
				}
			}
		}
	}
}

// TestSampleMoments checks Sample against the joint mean and covariance
// of y_{0:T−1}: every entry of the sample mean and sample covariance within
// 5 standard errors, the standard errors estimated from the same draws.
func TestSampleMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := randomModel(t, rng, 3, 2)
	const T, M = 3, 40000
	mu, cov := jointY(m, T)
	draws := make([][]float64, M)
	for k := range draws {
		_, ys := m.Sample(rng, T)
		draws[k] = flatten(ys)
	}
	checkMoments(t, "y", draws, mu, cov)
}

// checkMoments compares the sample mean and covariance of draws with mu
// and cov entry by entry, within 5 standard errors estimated from the
// draws (for a covariance entry, the standard error of the mean of the
// products of centred coordinates).
func checkMoments(t *testing.T, what string, draws [][]float64, mu []float64, cov mat.Symmetric) {
	t.Helper()
	M, d := float64(len(draws)), len(mu)
	for i := range d {
		s, s2 := 0.0, 0.0
		for _, x := range draws {
			s += x[i]
			s2 += x[i] * x[i]
		}
		mean := s / M
		se := math.Sqrt((s2/M - mean*mean) / M)
		if math.Abs(mean-mu[i]) > 5*se {
			t.Errorf("%s: mean[%d] = %.5g ± %.2g, want %.5g", what, i, mean, se, mu[i])
		}
	}
	for i := range d {
		for j := i; j < d; j++ {
			s, s2 := 0.0, 0.0
			for _, x := range draws {
				p := (x[i] - mu[i]) * (x[j] - mu[j])
				s += p
				s2 += p * p
			}
			c := s / M
			se := math.Sqrt((s2/M - c*c) / M)
			if math.Abs(c-cov.At(i, j)) > 5*se {
				t.Errorf("%s: cov[%d,%d] = %.5g ± %.2g, want %.5g", what, i, j, c, se, cov.At(i, j))
			}
		}
	}
}

func TestBootstrapDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m := randomModel(t, rng, 3, 2)
	p := m.Params()
	dx, _ := m.Dims()
	_, ys := m.Sample(rng, 4)
	b := m.Bootstrap(ys)
	if b.Len() != 4 {
		t.Fatalf("Len = %d, want 4", b.Len())
	}
	const n = 40000
	x0 := make([]float64, n*dx)
	logw := make([]float64, n)
	b.Init(rng, x0, logw)
	rows := func(x []float64) [][]float64 {
		out := make([][]float64, n)
		for i := range out {
			out[i] = x[i*dx : (i+1)*dx]
		}
		return out
	}
	checkMoments(t, "x₀", rows(x0), p.Mu0.RawVector().Data, p.Sigma0)
	checkObs(t, m, ys, 0, x0, logw)

	// One step from a single fixed x_{t−1} replicated: x_t ~ N(A x_{t−1}, Q).
	prev := make([]float64, n*dx)
	for i := range n {
		copy(prev[i*dx:], x0[:dx])
	}
	x1 := make([]float64, n*dx)
	b.Step(rng, 2, prev, x1, logw)
	var am mat.VecDense
	am.MulVec(p.A, mat.NewVecDense(dx, append([]float64(nil), x0[:dx]...)))
	checkMoments(t, "x₂ | x₁", rows(x1), am.RawVector().Data, p.Q)
	checkObs(t, m, ys, 2, x1, logw)
}

// checkObs checks logw[i] = log N(y_t; C x_i, R) against gonum's
// multivariate normal for the first particles.
func checkObs(t *testing.T, m *LinearGaussian, ys *mat.Dense, step int, x, logw []float64) {
	t.Helper()
	dx, dy := m.Dims()
	p := m.Params()
	for i := range 50 {
		var cx mat.VecDense
		cx.MulVec(p.C, mat.NewVecDense(dx, append([]float64(nil), x[i*dx:(i+1)*dx]...)))
		obs, ok := distmv.NewNormal(cx.RawVector().Data, p.R, nil)
		if !ok {
			t.Fatal("R not positive definite")
		}
		want := obs.LogProb(ys.RawRowView(step)[:dy])
		if !scalar.EqualWithinAbsOrRel(logw[i], want, 1e-12, 1e-12) {
			t.Fatalf("t=%d particle %d: log α = %.15g, want log N(y; Cx, R) = %.15g", step, i, logw[i], want)
		}
	}
}

func TestBootstrapDeterministic(t *testing.T) {
	m := VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(1, 1)), VSMCExampleT)
	b := m.Bootstrap(ys)
	run := func() []float64 {
		rng := rand.New(rand.NewPCG(7, 8))
		x, y := make([]float64, 5*10), make([]float64, 5*10)
		logw := make([]float64, 10)
		b.Init(rng, x, logw)
		b.Step(rng, 1, x, y, logw)
		return append(y, logw...)
	}
	a, c := run(), run()
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(c[i]) {
			t.Fatalf("entry %d differs between runs with one seed: %v vs %v", i, a[i], c[i])
		}
	}
}

func TestProposalAllocations(t *testing.T) {
	m := VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(1, 1)), VSMCExampleT)
	opt, err := m.LocallyOptimal(ys)
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]Proposal{"bootstrap": m.Bootstrap(ys), "locally optimal": opt} {
		rng := rand.New(rand.NewPCG(1, 2))
		x, y := make([]float64, 5*100), make([]float64, 5*100)
		logw := make([]float64, 100)
		if a := testing.AllocsPerRun(10, func() { q.Init(rng, x, logw) }); a != 0 {
			t.Errorf("%s: Init allocates %v times per call, want 0", name, a)
		}
		if a := testing.AllocsPerRun(10, func() { q.Step(rng, 1, x, y, logw) }); a != 0 {
			t.Errorf("%s: Step allocates %v times per call, want 0", name, a)
		}
	}
}

func TestNewValidates(t *testing.T) {
	eye := func(n int, s float64) *mat.SymDense {
		d := mat.NewSymDense(n, nil)
		for i := range n {
			d.SetSym(i, i, s)
		}
		return d
	}
	a, c := mat.NewDense(2, 2, []float64{0.5, 0, 0, 0.5}), mat.NewDense(1, 2, []float64{1, 1})
	if _, err := New(Params{A: a, C: c, Q: eye(2, 1), R: eye(1, -1)}); !errors.Is(err, ErrNotPositiveDefinite) {
		t.Errorf("R = −1: err = %v, want ErrNotPositiveDefinite", err)
	}
	if _, err := New(Params{A: a, C: c, Q: eye(2, 1), R: eye(1, 1), Sigma0: eye(2, 0)}); !errors.Is(err, ErrNotPositiveDefinite) {
		t.Errorf("Sigma0 = 0: err = %v, want ErrNotPositiveDefinite", err)
	}
	for name, p := range map[string]Params{
		"nil A":     {C: c, Q: eye(2, 1), R: eye(1, 1)},
		"C columns": {A: a, C: mat.NewDense(1, 3, nil), Q: eye(2, 1), R: eye(1, 1)},
		"R size":    {A: a, C: c, Q: eye(2, 1), R: eye(2, 1)},
		"Mu0 size":  {A: a, C: c, Q: eye(2, 1), R: eye(1, 1), Mu0: mat.NewVecDense(3, nil)},
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "statespace: New:") {
					t.Errorf("%s: recovered %v, want a panic starting with \"statespace: New:\"", name, r)
				}
			}()
			New(p)
		}()
	}
	// New copies its inputs: changing them afterwards changes nothing.
	m, err := New(Params{A: a, C: c, Q: eye(2, 1), R: eye(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ys := mat.NewDense(2, 1, []float64{0.3, -1})
	before := m.KalmanLogLikelihood(ys)
	a.Set(0, 0, 3)
	m.Params().C.Set(0, 0, 9)
	if after := m.KalmanLogLikelihood(ys); after != before {
		t.Errorf("log-likelihood changed from %v to %v after the caller's matrices changed", before, after)
	}
}

func ExampleLinearGaussian_KalmanLogLikelihood() {
	m := VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(0, 0)), VSMCExampleT)
	fmt.Printf("log p(y_{0:9}) = %.4f\n", m.KalmanLogLikelihood(ys))
	// Output:
	// log p(y_{0:9}) = -44.9334
}

// conditional returns the mean and covariance of x given y when
// x ~ N(mx, P) and y = C x + v, v ~ N(0, R), by the textbook formulas with
// an explicit inverse (a reference, not the package's computation).
func conditional(mx *mat.VecDense, P *mat.SymDense, C *mat.Dense, R *mat.SymDense, y mat.Vector) (*mat.VecDense, *mat.SymDense) {
	var cp, s, sInv, k, kcp mat.Dense
	cp.Mul(C, P)
	s.Mul(&cp, C.T())
	s.Add(&s, R)
	if err := sInv.Inverse(&s); err != nil {
		panic(err)
	}
	k.Mul(cp.T(), &sInv)
	var cm, e, mean mat.VecDense
	cm.MulVec(C, mx)
	e.SubVec(y, &cm)
	mean.MulVec(&k, &e)
	mean.AddVec(&mean, mx)
	kcp.Mul(&k, &cp)
	n := P.SymmetricDim()
	cov := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			cov.SetSym(i, j, P.At(i, j)-0.5*(kcp.At(i, j)+kcp.At(j, i)))
		}
	}
	return &mean, cov
}

// TestLocallyOptimal checks the locally optimal proposal two ways: its
// draws have the moments of p(x_t | x_{t−1}, y_t) (from the conditioning
// formulas), and for every draw the weight identity of a fully adapted
// proposal holds exactly,
//
//	log p(x_t | x_{t−1}) + log p(y_t | x_t) − log q(x_t | x_{t−1}, y_t) = log α_t,
//
// with every density evaluated by gonum's multivariate normal.
func TestLocallyOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct {
		name string
		m    *LinearGaussian
	}{{"vsmc", VSMCExample()}, {"random", randomModel(t, rng, 3, 2)}} {
		name, m := c.name, c.m
		p := m.Params()
		dx, _ := m.Dims()
		_, ys := m.Sample(rng, 3)
		o, err := m.LocallyOptimal(ys)
		if err != nil {
			t.Fatal(err)
		}
		const n = 40000
		rows := func(x []float64) [][]float64 {
			out := make([][]float64, n)
			for i := range out {
				out[i] = x[i*dx : (i+1)*dx]
			}
			return out
		}
		x0 := make([]float64, n*dx)
		logw := make([]float64, n)
		o.Init(rng, x0, logw)
		mean0, cov0 := conditional(p.Mu0, p.Sigma0, p.C, p.R, ys.RowView(0))
		checkMoments(t, name+" x₀ | y₀", rows(x0), mean0.RawVector().Data, cov0)
		prior0, _ := distmv.NewNormal(p.Mu0.RawVector().Data, p.Sigma0, nil)
		q0, _ := distmv.NewNormal(mean0.RawVector().Data, cov0, nil)
		for i := range 20 {
			xi := x0[i*dx : (i+1)*dx]
			want := prior0.LogProb(xi) + obsLogProb(m, ys, 0, xi) - q0.LogProb(xi)
			if !scalar.EqualWithinAbsOrRel(logw[i], want, 1e-10, 1e-10) {
				t.Fatalf("%s t=0: log α = %.15g, want %.15g", name, logw[i], want)
			}
		}

		prev := make([]float64, n*dx)
		for i := range n {
			copy(prev[i*dx:], x0[:dx])
		}
		x1 := make([]float64, n*dx)
		o.Step(rng, 2, prev, x1, logw)
		var ax mat.VecDense
		ax.MulVec(p.A, mat.NewVecDense(dx, append([]float64(nil), x0[:dx]...)))
		mean, cov := conditional(&ax, p.Q, p.C, p.R, ys.RowView(2))
		checkMoments(t, name+" x₂ | x₁, y₂", rows(x1), mean.RawVector().Data, cov)
		trans, _ := distmv.NewNormal(ax.RawVector().Data, p.Q, nil)
		q, _ := distmv.NewNormal(mean.RawVector().Data, cov, nil)
		for i := range 20 {
			xi := x1[i*dx : (i+1)*dx]
			want := trans.LogProb(xi) + obsLogProb(m, ys, 2, xi) - q.LogProb(xi)
			if !scalar.EqualWithinAbsOrRel(logw[i], want, 1e-10, 1e-10) {
				t.Fatalf("%s t=2: log α = %.15g, want %.15g", name, logw[i], want)
			}
		}
	}
}

// obsLogProb returns log N(y_t; C x, R) by gonum's multivariate normal.
func obsLogProb(m *LinearGaussian, ys *mat.Dense, t int, x []float64) float64 {
	p := m.Params()
	dx, _ := m.Dims()
	var cx mat.VecDense
	cx.MulVec(p.C, mat.NewVecDense(dx, append([]float64(nil), x...)))
	obs, ok := distmv.NewNormal(cx.RawVector().Data, p.R, nil)
	if !ok {
		panic("R not positive definite")
	}
	return obs.LogProb(ys.RawRowView(t))
}
