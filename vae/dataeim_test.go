package vae

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// finiteLV is a latent-variable proposal with a finite latent space z ∈
// {0, 1, 2}: π(x) = Σ_z p(z) p(x | z), with binary x ∈ {0, 1}² (p(x_d = 1
// | z) = σ(logits[z][d])) or continuous one-dimensional x (N(x; mu[z],
// sd[z]²)), and q(z | x) ∝ exp(qa[z] + qb[z]·Σ_d x_d). Its π̂(x) = p(x |
// z) p(z)/q(z | x), z ~ q(z | x), is unbiased for π(x).
//
// Scripted (random false): every Objective and LogWeights draw uses z =
// Z, and SampleData returns the next entry of Cands; otherwise z ~ q and
// x ~ π are drawn from rng.
type finiteLV struct {
	cont   bool
	logPz  []float64
	logits [][]float64
	mu, sd []float64
	qa, qb []float64

	random bool
	Z      int
	Cands  [][]float64
}

func newBinaryLV() *finiteLV {
	return &finiteLV{logPz: []float64{math.Log(0.5), math.Log(0.3), math.Log(0.2)},
		logits: [][]float64{{1.2, -0.7}, {-1.5, 0.4}, {0.3, 2.0}},
		qa:     []float64{0.1, -0.3, 0.2}, qb: []float64{0.5, -0.4, 0.9}}
}

func newContLV() *finiteLV {
	return &finiteLV{cont: true, logPz: []float64{math.Log(0.5), math.Log(0.3), math.Log(0.2)},
		mu: []float64{-1.0, 0.4, 1.5}, sd: []float64{0.6, 0.8, 0.5},
		qa: []float64{0.1, -0.3, 0.2}, qb: []float64{-0.8, 0.2, 1.1}}
}

func (p *finiteLV) dim() int {
	if p.cont {
		return 1
	}
	return 2
}

// logQ returns log q(z | x) for every z.
func (p *finiteLV) logQ(x []float64) []float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	l := make([]float64, 3)
	mx := math.Inf(-1)
	for z := range l {
		l[z] = p.qa[z] + p.qb[z]*s
		mx = max(mx, l[z])
	}
	t := 0.0
	for _, v := range l {
		t += math.Exp(v - mx)
	}
	for z := range l {
		l[z] -= mx + math.Log(t)
	}
	return l
}

func (p *finiteLV) logLik(x []float64, z int) float64 {
	if p.cont {
		e := (x[0] - p.mu[z]) / p.sd[z]
		return -0.5*e*e - math.Log(p.sd[z]) - 0.5*math.Log(2*math.Pi)
	}
	ll := 0.0
	for d, v := range x {
		l := p.logits[z][d]
		ll += v*-math.Log1p(math.Exp(-l)) + (1-v)*-math.Log1p(math.Exp(l))
	}
	return ll
}

// logPi returns log π(x).
func (p *finiteLV) logPi(x []float64) float64 {
	s := 0.0
	for z := range 3 {
		s += math.Exp(p.logPz[z] + p.logLik(x, z))
	}
	return math.Log(s)
}

// logW returns log π̂ at z.
func (p *finiteLV) logW(x []float64, z int, beta float64) float64 {
	return p.logLik(x, z) + beta*(p.logPz[z]-p.logQ(x)[z])
}

func (p *finiteLV) pick(rng *rand.Rand, x []float64) int {
	if !p.random {
		return p.Z
	}
	return categorical(rng, p.logQ(x))
}

func (p *finiteLV) SampleData(rng *rand.Rand, n int) *ad.Tensor {
	d := p.dim()
	if !p.random {
		c := p.Cands[0]
		p.Cands = p.Cands[1:]
		if len(c) != n*d {
			panic(fmt.Sprintf("finiteLV: scripted %d values for %d draws", len(c), n))
		}
		return ad.New(append([]float64(nil), c...), n, d)
	}
	out := make([]float64, n*d)
	for i := range n {
		z := categorical(rng, p.logPz)
		for j := range d {
			if p.cont {
				out[i*d+j] = p.mu[z] + p.sd[z]*rng.NormFloat64()
			} else if rng.Float64() < 1/(1+math.Exp(-p.logits[z][j])) {
				out[i*d+j] = 1
			}
		}
	}
	return ad.New(out, n, d)
}

// Objective is log π̂ at one z for each row of x. For continuous x it is
// built from ad operations, so that it is differentiable in x (DataHIS
// evaluates it at x₀).
func (p *finiteLV) Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor {
	n, d := x.Dim(0), x.Dim(1)
	zs := make([]int, n)
	for i := range n {
		zs[i] = p.pick(rng, x.Data()[i*d:(i+1)*d])
	}
	if !p.cont {
		out := make([]float64, n)
		for i := range n {
			out[i] = p.logW(x.Data()[i*d:(i+1)*d], zs[i], beta)
		}
		return ad.New(out, n)
	}
	// log N(x; μ_z, σ_z²) + β(log p(z) − log q(z | x)), the last term
	// differentiable in x through Σx.
	mu, sd, qa, qb := make([]float64, n), make([]float64, n), make([]float64, 3), make([]float64, 3)
	for i, z := range zs {
		mu[i], sd[i] = p.mu[z], p.sd[z]
	}
	copy(qa, p.qa)
	copy(qb, p.qb)
	xs := ad.Sum(x, -1)                                                           // [n]
	lq := ad.Add(ad.New(qa, 1, 3), ad.Mul(ad.Unsqueeze(xs, 1), ad.New(qb, 1, 3))) // [n, 3]
	lq = ad.LogSoftmax(lq, 1)
	sel := make([]float64, 3*n)
	lpz := make([]float64, n)
	for i, z := range zs {
		sel[i*3+z] = 1
		lpz[i] = p.logPz[z]
	}
	lqz := ad.Sum(ad.Mul(lq, ad.New(sel, n, 3)), 1)
	e := ad.Div(ad.Sub(ad.Reshape(x, n), ad.New(mu, n)), ad.New(sd, n))
	ll := ad.Sub(ad.MulScalar(ad.Square(e), -0.5), ad.AddScalar(ad.Log(ad.New(sd, n)), 0.5*math.Log(2*math.Pi)))
	return ad.Add(ll, ad.MulScalar(ad.Sub(ad.New(lpz, n), lqz), beta))
}

func (p *finiteLV) LogWeights(_ context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error) {
	n, d := x.Dim(0), x.Dim(1)
	out := make([]float64, S*n)
	for s := range S {
		for i := range n {
			xi := x.Data()[i*d : (i+1)*d]
			out[s*n+i] = p.logW(xi, p.pick(rng, xi), 1)
		}
	}
	return ad.New(out, S, n), nil
}

func (p *finiteLV) Params() *nn.Params { return &nn.Params{} }

// binaryPoints is {0, 1}² as [4, 2].
var binaryPoints = []float64{0, 0, 0, 1, 1, 0, 1, 1}

var dataMean = ad.New([]float64{0.3, 0.6}, 2)

// dataNegU returns −U(x − x̄) at the four binary points.
func dataNegU(e eimfamily.Energy) []float64 {
	return ad.Neg(centered{e, dataMean}.Energy(nil, ad.New(binaryPoints, 4, 2))).Detach().Data()
}

// enumerate calls f with every z and every tuple of k binary candidates,
// with log Π π(c_j) and the candidates' values.
func enumerate(p *finiteLV, k int, f func(z int, logP float64, cands []float64)) {
	logPi := make([]float64, 4)
	for j := range 4 {
		logPi[j] = p.logPi(binaryPoints[2*j : 2*j+2])
	}
	for z := range 3 {
		tuples(k, logPi, func(idx []int, lp float64) {
			c := make([]float64, 0, 2*k)
			for _, j := range idx {
				c = append(c, binaryPoints[2*j:2*j+2]...)
			}
			f(z, lp, c)
		})
	}
}

// TestDataSNISExact: SNIS over the data with the finite latent-variable
// proposal, K = 3. By enumeration of z ~ q(z | x) and the two ancestral
// candidates (4² tuples), both the training objective (β = 1) and the
// evaluation's log weight satisfy, for each of the four points,
//
//	E exp(integrand) = p_SNIS(x)   (exactly, to 1e-12)
//	E integrand ≤ log p_SNIS(x),
//
// with p_SNIS from enumerating Alg. 2 over the exact π(x).
func TestDataSNISExact(t *testing.T) {
	p := newBinaryLV()
	m := &DataSNIS{Proposal: p, Energy: tinyEnergy(newRNG(3)), Mean: dataMean, K: 3}
	logPi := make([]float64, 4)
	for j := range 4 {
		logPi[j] = p.logPi(binaryPoints[2*j : 2*j+2])
	}
	want := snisDensity(logPi, dataNegU(m.Energy), 3)
	x := ad.New(binaryPoints, 4, 2)
	for _, path := range []string{"Objective", "LogWeights"} {
		mean, mlog := make([]float64, 4), make([]float64, 4)
		enumerate(p, 2, func(z int, lp float64, c []float64) {
			p.Z = z
			p.Cands = [][]float64{c}
			var w []float64
			if path == "Objective" {
				w = m.Objective(nil, x, 1).Data()
			} else {
				lw, err := m.LogWeights(context.Background(), newRNG(1), x, 1)
				if err != nil {
					t.Fatal(err)
				}
				w = lw.Data()
			}
			for i := range 4 {
				pr := math.Exp(lp + p.logQ(binaryPoints[2*i : 2*i+2])[z])
				mean[i] += pr * math.Exp(w[i])
				mlog[i] += pr * w[i]
			}
		})
		for i := range 4 {
			if math.Abs(mean[i]-want[i]) > exactTol {
				t.Errorf("%s: x = %v: E exp = %.15g, p_SNIS = %.15g", path, binaryPoints[2*i:2*i+2], mean[i], want[i])
			}
			if mlog[i] > math.Log(want[i]) {
				t.Errorf("%s: x = %v: E integrand %.6f above log p_SNIS = %.6f", path, binaryPoints[2*i:2*i+2], mlog[i], math.Log(want[i]))
			}
		}
	}
}

// TestDataLARSExact: LARS over the data with the finite latent-variable
// proposal at its exact Z = Σ_x π(x) a(x) (SetEvalZ): the evaluation's
// weight has E exp = p_LARS(x) (the TRS process with T = 3, by
// enumeration over acceptance steps) exactly, and E log ≤ log p_LARS(x).
func TestDataLARSExact(t *testing.T) {
	p := newBinaryLV()
	m := &DataLARS{Proposal: p, Energy: tinyEnergy(newRNG(4)), Mean: dataMean, T: 3, K: 5, Decay: 0.99}
	logPi := make([]float64, 4)
	Z := 0.0
	negU := dataNegU(m.Energy)
	for j := range 4 {
		logPi[j] = p.logPi(binaryPoints[2*j : 2*j+2])
		Z += math.Exp(logPi[j]) / (1 + math.Exp(-negU[j]))
	}
	m.SetEvalZ(eimfamily.ZEstimate{Z: []float64{Z}, StdErr: []float64{0}, N: 1})
	want := trsDensity(logPi, negU, 3)
	x := ad.New(binaryPoints, 4, 2)
	mean, mlog := make([]float64, 4), make([]float64, 4)
	for z := range 3 {
		p.Z = z
		lw, err := m.LogWeights(context.Background(), newRNG(1), x, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			pr := math.Exp(p.logQ(binaryPoints[2*i : 2*i+2])[z])
			mean[i] += pr * math.Exp(lw.Data()[i])
			mlog[i] += pr * lw.Data()[i]
		}
	}
	total := 0.0
	for i := range 4 {
		total += want[i]
		if math.Abs(mean[i]-want[i]) > exactTol {
			t.Errorf("x = %v: E exp = %.15g, p_LARS = %.15g", binaryPoints[2*i:2*i+2], mean[i], want[i])
		}
		if mlog[i] > math.Log(want[i]) {
			t.Errorf("x = %v: E log w %.6f above log p_LARS %.6f", binaryPoints[2*i:2*i+2], mlog[i], math.Log(want[i]))
		}
	}
	if math.Abs(total-1) > exactTol {
		t.Errorf("p_LARS sums to %.15g over {0, 1}²", total)
	}
}

// TestDataSampling: the ancestral samples of DataSNIS and DataLARS have
// the frequencies of p_SNIS and p_LARS (the exact densities of the
// processes the bounds are tested against) within 5 standard errors,
// and the estimate of Z from ancestral draws is within 5 of its standard
// errors of the exact Z.
func TestDataSampling(t *testing.T) {
	p := newBinaryLV()
	p.random = true
	e := tinyEnergy(newRNG(3))
	logPi := make([]float64, 4)
	for j := range 4 {
		logPi[j] = p.logPi(binaryPoints[2*j : 2*j+2])
	}
	negU := dataNegU(e)
	const n = 20000
	check := func(name string, x *ad.Tensor, want []float64) {
		count := make([]float64, 4)
		for i := range n {
			r := x.Data()[2*i : 2*i+2]
			count[int(2*r[0]+r[1])]++
		}
		for j := range 4 {
			f := count[j] / n
			se := math.Sqrt(want[j] * (1 - want[j]) / n)
			if math.Abs(f-want[j]) > mcSigmas*se {
				t.Errorf("%s: frequency of %v is %.4f, want %.4f ± %.4f", name, binaryPoints[2*j:2*j+2], f, want[j], se)
			}
		}
	}
	s := &DataSNIS{Proposal: p, Energy: e, Mean: dataMean, K: 3}
	check("SNIS", s.Sample(newRNG(5), n), snisDensity(logPi, negU, 3))
	l := &DataLARS{Proposal: p, Energy: e, Mean: dataMean, T: 3, K: 5, EvalDraws: 50000}
	check("LARS", l.Sample(newRNG(6), 2, n), trsDensity(logPi, negU, 3))
	z, err := l.estimateZ(context.Background(), newRNG(7))
	if err != nil {
		t.Fatal(err)
	}
	Z := 0.0
	for j := range 4 {
		Z += math.Exp(logPi[j]) / (1 + math.Exp(-negU[j]))
	}
	if math.Abs(z.Z[0]-Z) > mcSigmas*z.StdErr[0] {
		t.Errorf("Z estimate %.5f ± %.5f, exact %.5f", z.Z[0], z.StdErr[0], Z)
	}
}

// hisDensity returns p_HIS(x) for one-dimensional x by quadrature over
// ρ_T (the trapezoid rule on [−L, L], spectrally accurate for a smooth,
// Gaussian-decaying integrand): the map (x₀, ρ₀) → (x_T, ρ_T) has unit
// Jacobian, so
//
//	p_HIS(x) = ∫ π(x₀) N(ρ₀; 0, 1) dρ_T,   (x₀, ρ₀) = Inverse(x, ρ_T).
func hisDensity(h *eimfamily.HIS, p *finiteLV, x float64, L float64, nodes int) float64 {
	rho := make([]float64, nodes)
	xs := make([]float64, nodes)
	step := 2 * L / float64(nodes-1)
	for i := range rho {
		rho[i] = -L + step*float64(i)
		xs[i] = x
	}
	x0, rho0 := h.Inverse(nil, ad.New(xs, nodes, 1), ad.New(rho, nodes, 1))
	sum := 0.0
	for i := range nodes {
		r := rho0.Data()[i]
		v := math.Exp(p.logPi([]float64{x0.Data()[i]}) - 0.5*r*r - 0.5*math.Log(2*math.Pi))
		if i == 0 || i == nodes-1 {
			v /= 2
		}
		sum += v * step
	}
	return sum
}

// TestNewDataHISInit checks NewDataHIS's starting point: q(ρ_T | x) =
// N(0, I) for every x, the step size initEps in every dimension, α_t =
// initAlpha for t ≥ 1 and ∏α_t = 1.
func TestNewDataHISInit(t *testing.T) {
	m := NewDataHIS(newRNG(3), tinyGaussianVAE(t, Gaussian), 3, nil, 4, 0.9995, 0.01, []int{5}, []int{6})
	out := m.Model.Q.Forward(ad.New([]float64{0.3, -2, 7, 1, 0, -1}, 2, 3)).Data()
	for i, v := range out {
		if v != 0 {
			t.Fatalf("q(ρ_T | x) output %d = %v, want 0 (mean 0, log scale 0)", i, v)
		}
	}
	for i, e := range m.Model.StepSize() {
		if math.Abs(e-0.01) > 1e-15 {
			t.Errorf("step size %d = %v, want 0.01", i, e)
		}
	}
	a := m.Model.Alphas()
	prod := 1.0
	for i, v := range a {
		prod *= v
		if i > 0 && math.Abs(v-0.9995) > 1e-12 {
			t.Errorf("α_%d = %v, want 0.9995", i, v)
		}
	}
	if math.Abs(prod-1) > 1e-12 {
		t.Errorf("∏α_t = %v, want 1", prod)
	}
	for _, bad := range [][2]float64{{0, 0.1}, {1, 0.1}, {0.9, 0}, {0.9, math.Inf(1)}, {0.9, math.NaN()}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "vae: NewDataHIS") {
					t.Errorf("NewDataHIS(α %v, ε %v): panic %v, want one naming vae: NewDataHIS", bad[0], bad[1], r)
				}
			}()
			NewDataHIS(newRNG(3), tinyGaussianVAE(t, Gaussian), 3, nil, 4, bad[0], bad[1], []int{5}, []int{6})
		}()
	}
}

// randomizeQ gives m's q(ρ_T | x) network a random last layer, which
// NewDataHIS starts at zero.
func randomizeQ(m *DataHIS, rng *rand.Rand) {
	last := m.Model.Q.Layers[len(m.Model.Q.Layers)-1]
	for _, t := range []*ad.Tensor{last.W, last.B} {
		for i := range t.Data() {
			t.Data()[i] = 0.5 * rng.NormFloat64()
		}
	}
}

func tinyDataHIS(p *finiteLV) *DataHIS {
	m := NewDataHIS(newRNG(8), p, 1, nil, 2, 0.9, 0.1, []int{3}, []int{3})
	randomizeQ(m, newRNG(9))
	// A stronger energy and a larger step size than the defaults, so that
	// the dynamics move x₀ visibly.
	e := m.Model.Energy.(centered).U.(*eimfamily.MLPEnergy)
	for i := range e.Net.Layers[1].W.Data() {
		e.Net.Layers[1].W.Data()[i] *= 3
	}
	m.Model.RawEps.Data()[0] = 0.3
	// q(ρ_T | x) with s ≈ 2, wider than the conditional of ρ_T, so that
	// the weights are bounded and the Monte Carlo check is sharp.
	m.Model.Q.Layers[len(m.Model.Q.Layers)-1].B.Data()[1] = 0.7
	return m
}

// TestDataHISExact: HIS over continuous one-dimensional data with the
// finite latent-variable proposal (a mixture of three Gaussians). The
// integrand at given ξ (hisRest plus log π̂(x₀)) is, summed over z ~ q(z
// | x₀) and integrated over ξ (trapezoid on a fine grid), p_HIS(x) from
// an independent quadrature over ρ_T; its expectation is ≤ log p_HIS(x);
// hisRest equals eimfamily.HIS.IntegrandsAt on the proposal with log π
// = 0; and the evaluation's weights (LogWeights, z and ξ random) average
// to p_HIS(x) within 5 standard errors.
func TestDataHISExact(t *testing.T) {
	p := newContLV()
	m := tinyDataHIS(p)
	h := m.detachedHIS()
	for _, x := range []float64{-1.2, 0.3, 1.7} {
		want := hisDensity(h, p, x, 14, 4001)
		if w2 := hisDensity(h, p, x, 14, 2001); math.Abs(w2-want) > 1e-12 {
			t.Fatalf("x = %v: ρ_T quadrature not converged: %.15g vs %.15g", x, w2, want)
		}
		const nodes = 4001
		const L = 14.0
		xi := make([]float64, nodes)
		xs := make([]float64, nodes)
		step := 2 * L / (nodes - 1)
		for i := range xi {
			xi[i] = -L + step*float64(i)
			xs[i] = x
		}
		xt := ad.New(xs, nodes, 1)
		rest, x0 := hisRest(h, xt, ad.New(xi, nodes, 1))
		ref := h.IntegrandsAt(nil, xt, ad.New(xi, 1, nodes, 1)).Data()
		got, mlog := 0.0, 0.0
		for i := range nodes {
			if math.Abs(rest.Data()[i]-ref[i]) > exactTol*(1+math.Abs(ref[i])) {
				t.Fatalf("x = %v, ξ = %v: hisRest %.15g, HIS.IntegrandsAt %.15g", x, xi[i], rest.Data()[i], ref[i])
			}
			x0i := []float64{x0.Data()[i]}
			lq := p.logQ(x0i)
			nxi := math.Exp(-0.5*xi[i]*xi[i]) / math.Sqrt(2*math.Pi) * step
			if i == 0 || i == nodes-1 {
				nxi /= 2
			}
			for z := range 3 {
				w := p.logW(x0i, z, 1) + rest.Data()[i]
				got += nxi * math.Exp(lq[z]+w)
				mlog += nxi * math.Exp(lq[z]) * w
			}
		}
		if math.Abs(got-want) > 1e-10*want {
			t.Errorf("x = %v: E exp(integrand) = %.12g, p_HIS = %.12g", x, got, want)
		}
		if mlog > math.Log(want) {
			t.Errorf("x = %v: E integrand %.6f above log p_HIS %.6f", x, mlog, math.Log(want))
		}
		// The evaluation path, by Monte Carlo.
		p.random = true
		const S = 40000
		lw, err := m.LogWeights(context.Background(), newRNG(9), ad.New([]float64{x}, 1, 1), S)
		p.random = false
		if err != nil {
			t.Fatal(err)
		}
		var s1, s2 float64
		for _, v := range lw.Data() {
			r := math.Exp(v) / want
			s1 += r
			s2 += r * r
		}
		mean := s1 / S
		se := math.Sqrt((s2/S - mean*mean) / (S - 1))
		if math.Abs(mean-1) > mcSigmas*se {
			t.Errorf("x = %v: LogWeights: E w/p_HIS = %.4f ± %.4f, want 1", x, mean, se)
		}
		t.Logf("x = %v: p_HIS = %.6g, LogWeights: E w/p_HIS = %.4f ± %.4f", x, want, mean, se)
	}
}

// tinyGaussianVAE is a VAE with a Gaussian decoder over 3 continuous
// dimensions, latent 2, hidden 3, and the given prior.
func tinyGaussianVAE(t testing.TB, k PriorKind) *Model {
	t.Helper()
	m, err := NewGaussianModel(newRNG(12), Config{Prior: k, Data: 3, Latent: 2, EncoderHidden: []int{3}, DecoderHidden: []int{3},
		EnergyHidden: []int{3}, K: 4, HIST: 2, HISQHidden: []int{3}, TRST: 3, LARST: 3}, []float64{0.2, -0.5, 1.0})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDataEIMGradients compares the gradients of the data EIMs'
// training objectives (β = 0.8, fixed draws) with respect to every
// parameter — the energy's (and HIS's), and the proposal VAE's, through
// its ELBO, through the reparameterized candidates (SNIS, LARS's Z) and
// through x₀ (HIS) — with central finite differences, on a Gaussian VAE
// proposal over 3 continuous dimensions.
func TestDataEIMGradients(t *testing.T) {
	x := ad.New([]float64{0.3, -1.1, 0.8, 1.4, 0.2, -0.6}, 2, 3)
	mean := ad.New([]float64{0.1, 0.0, -0.2}, 3)
	cases := map[string]func() (interface {
		Objective(*rand.Rand, *ad.Tensor, float64) *ad.Tensor
	}, *nn.Params){
		"snis": func() (interface {
			Objective(*rand.Rand, *ad.Tensor, float64) *ad.Tensor
		}, *nn.Params) {
			e := eimfamily.NewMLPEnergy(newRNG(13), 3, 0, 3)
			m := &DataSNIS{Proposal: tinyGaussianVAE(t, Gaussian), Energy: e, Mean: mean, K: 4}
			return m, m.Params()
		},
		"lars": func() (interface {
			Objective(*rand.Rand, *ad.Tensor, float64) *ad.Tensor
		}, *nn.Params) {
			// Decay 0: the forward value uses the current estimate of Z,
			// whose gradient TrainBound returns (with a moving average the
			// gradient is by design not that of the forward value).
			m := NewDataLARS(newRNG(13), tinyGaussianVAE(t, Gaussian), 3, mean, 3, 4, 100, 3)
			m.Decay = 0
			return m, m.Params()
		},
		"his": func() (interface {
			Objective(*rand.Rand, *ad.Tensor, float64) *ad.Tensor
		}, *nn.Params) {
			m := NewDataHIS(newRNG(13), tinyGaussianVAE(t, SNIS), 3, mean, 2, 0.9, 0.1, []int{3}, []int{3})
			// Q's last layer starts at zero; a random one lets the
			// check reach Q's hidden layers too.
			randomizeQ(m, newRNG(14))
			return m, m.Params()
		},
	}
	for _, name := range []string{"snis", "lars", "his"} {
		t.Run(name, func(t *testing.T) {
			m, params := cases[name]()
			ps := params.Tensors()
			f := func(theta []float64) float64 {
				saved := nn.Flatten(ps)
				nn.SetFlat(ps, theta)
				v := ad.Mean(m.Objective(newRNG(14), x, 0.8)).Item()
				nn.SetFlat(ps, saved)
				return v
			}
			theta := nn.Flatten(ps)
			want := fd.Gradient(nil, f, theta, &fd.Settings{Formula: fd.Central, Step: 1e-6})
			got := nn.Flatten(ad.Grad(ad.Mean(m.Objective(newRNG(14), x, 0.8)), ps...))
			worst, at := 0.0, 0
			for i := range want {
				if e := math.Abs(got[i]-want[i]) / (1 + math.Abs(want[i])); e > worst {
					worst, at = e, i
				}
			}
			if worst > 1e-6 {
				t.Errorf("%d parameters: worst relative error %.3g at %d (ad %.10g, fd %.10g)", len(theta), worst, at, got[at], want[at])
			}
		})
	}
}

// scoredLV is finiteLV with ancestral draws scored by log p_θ(x | z) for
// logits θ ([3, 2], a parameter), scripted: SampleDataScored returns the
// next entries of CandZ and Cands.
type scoredLV struct {
	*finiteLV
	theta *ad.Tensor
	CandZ [][]int
}

func (p *scoredLV) SampleDataScored(rng *rand.Rand, n int) (x, logp *ad.Tensor) {
	zs := p.CandZ[0]
	p.CandZ = p.CandZ[1:]
	x = p.SampleData(rng, n)
	return x, dist.NewBernoulli(ad.IndexSelect(p.theta, 0, zs)).LogProb(x)
}

// TestDataSNISVIMCOExact: the VIMCO-style candidate gradient is unbiased.
// On the finite latent-variable proposal with K = 3, the expectation of
// the surrogate's gradient over the two ancestral draws (z_j, x_j) —
// enumerated, 12² tuples — equals the exact gradient of the expected
// objective with respect to the decoder logits θ (through the draws'
// distribution) and the energy, to 1e-12; its value equals the pathwise
// objective's at the same draws.
func TestDataSNISVIMCOExact(t *testing.T) {
	base := newBinaryLV()
	theta := ad.New([]float64{1.2, -0.7, -1.5, 0.4, 0.3, 2.0}, 3, 2).RequireGrad()
	p := &scoredLV{finiteLV: base, theta: theta}
	e := tinyEnergy(newRNG(3))
	m := &DataSNIS{Proposal: p, Energy: e, Mean: dataMean, K: 3, Gradient: CandidateVIMCO}
	path := &DataSNIS{Proposal: p, Energy: e, Mean: dataMean, K: 3}
	ps := append([]*ad.Tensor{theta}, e.Params()...)
	x := ad.New(binaryPoints, 4, 2)
	base.Z = 1
	got := make([]float64, len(nn.Flatten(ps)))
	var exact *ad.Tensor
	type draw struct{ z, j int }
	var all []draw
	for z := range 3 {
		for j := range 4 {
			all = append(all, draw{z, j})
		}
	}
	for _, a := range all {
		for _, b := range all {
			c := append(append([]float64(nil), binaryPoints[2*a.j:2*a.j+2]...), binaryPoints[2*b.j:2*b.j+2]...)
			ct := ad.New(append([]float64(nil), c...), 2, 2)
			logP := ad.AddScalar(ad.Sum(dist.NewBernoulli(ad.IndexSelect(theta, 0, []int{a.z, b.z})).LogProb(ct)),
				base.logPz[a.z]+base.logPz[b.z])
			pr := math.Exp(logP.Item())
			base.Cands, p.CandZ = [][]float64{c}, [][]int{{a.z, b.z}}
			obj := ad.Mean(m.Objective(nil, x, 1))
			base.Cands = [][]float64{c}
			if v := ad.Mean(path.Objective(nil, x, 1)).Item(); math.Abs(v-obj.Item()) > exactTol {
				t.Fatalf("VIMCO value %.15g, pathwise %.15g", obj.Item(), v)
			}
			for i, g := range nn.Flatten(ad.Grad(obj, ps...)) {
				got[i] += pr * g
			}
			base.Cands = [][]float64{c}
			term := ad.Mul(ad.Exp(logP), ad.Mean(path.Objective(nil, x, 1)))
			if exact == nil {
				exact = term
			} else {
				exact = ad.Add(exact, term)
			}
		}
	}
	want := nn.Flatten(ad.Grad(exact, ps...))
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("parameter %d: E VIMCO gradient %.15g, exact %.15g", i, got[i], want[i])
		}
	}
	if n := len(nn.Flatten([]*ad.Tensor{theta})); math.Abs(want[0]) == 0 && math.Abs(want[n-1]) == 0 {
		t.Error("the exact gradient with respect to θ is zero: the test checks nothing")
	}
}

// TestDataSNISGumbel: with Gumbel straight-through candidates from a
// Bernoulli VAE proposal the candidates are exact binary values and the
// gradient reaches the decoder through them (it is zero with the
// pathwise default, whose binary candidates are constants).
func TestDataSNISGumbel(t *testing.T) {
	m, err := NewModel(newRNG(30), tinyConfig(Gaussian), tinyMean)
	if err != nil {
		t.Fatal(err)
	}
	e := eimfamily.NewMLPEnergy(newRNG(31), tinyDx, 0, 3)
	x := tinyBatch(newRNG(32), 3)
	c := m.SampleDataRelaxed(newRNG(33), 50, 0.7)
	for _, v := range c.Data() {
		if v != 0 && v != 1 {
			t.Fatalf("relaxed candidate value %v, want 0 or 1", v)
		}
	}
	dec := m.Decoder.Net.Layers[len(m.Decoder.Net.Layers)-1].B
	for _, g := range []CandidateGradient{CandidatePathwise, CandidateGumbel} {
		s := &DataSNIS{Proposal: m, Energy: e, K: 6, Gradient: g}
		// The candidates' share of the decoder gradient: the objective
		// minus the proposal's own ELBO term, with the same draws.
		r1, r2 := newRNG(34), newRNG(34)
		rest := ad.Sub(ad.Mean(s.Objective(r1, x, 1)), ad.Mean(m.Objective(r2, x, 1)))
		gr := ad.Grad(rest, dec)[0].Data()
		norm := 0.0
		for _, v := range gr {
			norm += v * v
		}
		if g == CandidatePathwise && norm != 0 {
			t.Errorf("pathwise: gradient through binary candidates %v, want 0", gr)
		}
		if g == CandidateGumbel && !(norm > 0) {
			t.Errorf("gumbel: no gradient through the candidates")
		}
	}
}

// TestDataSNISConvProposal: a ConvHVAE serves as the proposal of an SNIS
// over images (training objective, gradient, evaluation, samples, each
// candidate-gradient choice), with finite values and binary samples.
func TestDataSNISConvProposal(t *testing.T) {
	p := tinyConv(t, 8, 8, 2, Gaussian, 70)
	x := binaryImages(71, 3, 64)
	for _, g := range []CandidateGradient{CandidatePathwise, CandidateVIMCO, CandidateGumbel} {
		m := &DataSNIS{Proposal: p, Energy: eimfamily.NewMLPEnergy(newRNG(72), 64, 0, 3), Mean: p.Mean, K: 4, Gradient: g}
		obj := ad.Mean(m.Objective(newRNG(73), x, 1))
		if v := obj.Item(); math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%v: objective %v", g, v)
		}
		for _, gr := range ad.Grad(obj, m.Params().Tensors()...) {
			for _, v := range gr.Data() {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%v: gradient entry %v", g, v)
				}
			}
		}
	}
	m := &DataSNIS{Proposal: p, Energy: eimfamily.NewMLPEnergy(newRNG(72), 64, 0, 3), Mean: p.Mean, K: 4}
	b, err := m.Eval(context.Background(), newRNG(74), x, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) || v > 0 {
			t.Errorf("bound %v", v)
		}
	}
	for _, v := range m.Sample(newRNG(75), 3).Data() {
		if v != 0 && v != 1 {
			t.Fatalf("sample value %v", v)
		}
	}
}

// TestDataTrainStep: TrainStep moves the parameters of each data EIM and
// the proposal VAE, commits DataLARS's moving average of Z, and rejects
// a non-finite objective without changing anything; NewGaussianModel
// rejects a bad mean.
func TestDataTrainStep(t *testing.T) {
	x := ad.New([]float64{0.3, -1.1, 0.8, 1.4, 0.2, -0.6}, 2, 3)
	for _, name := range []string{"snis", "lars", "his"} {
		var m interface {
			Objective(*rand.Rand, *ad.Tensor, float64) *ad.Tensor
		}
		var ps *nn.Params
		switch name {
		case "snis":
			s := &DataSNIS{Proposal: tinyGaussianVAE(t, Gaussian), Energy: eimfamily.NewMLPEnergy(newRNG(1), 3, 0, 3), K: 4}
			m, ps = s, s.Params()
		case "lars":
			l := NewDataLARS(newRNG(1), tinyGaussianVAE(t, Gaussian), 3, nil, 3, 4, 100, 3)
			m, ps = l, l.Params()
		case "his":
			h := NewDataHIS(newRNG(1), tinyGaussianVAE(t, Gaussian), 3, nil, 2, 0.9, 0.1, []int{3}, []int{3})
			m, ps = h, h.Params()
		}
		before := nn.Flatten(ps.Tensors())
		opt := &nn.Adam{LR: 1e-2}
		if _, err := TrainStep(m, newRNG(2), opt, ps.Tensors(), x, 1); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		after := nn.Flatten(ps.Tensors())
		moved := 0
		for i := range before {
			if before[i] != after[i] {
				moved++
			}
		}
		if moved < len(before)/2 {
			t.Errorf("%s: %d of %d parameters moved", name, moved, len(before))
		}
		if l, ok := m.(*DataLARS); ok && !(l.ZAvg > 0 && l.ZAvg < 1) {
			t.Errorf("lars: ZAvg = %v after a step", l.ZAvg)
		}
		bad := ad.New([]float64{math.Inf(1), 0, 0}, 1, 3)
		kept := nn.Flatten(ps.Tensors())
		if _, err := TrainStep(m, newRNG(3), opt, ps.Tensors(), bad, 1); err != ErrNotFinite {
			t.Errorf("%s: non-finite data: error %v, want ErrNotFinite", name, err)
		}
		for i, v := range nn.Flatten(ps.Tensors()) {
			if v != kept[i] {
				t.Fatalf("%s: a rejected step changed parameter %d", name, i)
			}
		}
	}
	for _, mean := range [][]float64{{1, 2}, {0, math.NaN(), 1}} {
		if _, err := NewGaussianModel(newRNG(1), Config{Data: 3, Latent: 2}, mean); err == nil {
			t.Errorf("mean %v: no error", mean)
		}
	}
}

// TestDataSNISEvalAuthors: with scripted draws (the same z for every
// proposal sample, one candidate set), the authors' evaluation equals the
// training objective at β = 1 at those draws, for S = 1 and S = 3.
func TestDataSNISEvalAuthors(t *testing.T) {
	p := newBinaryLV()
	m := &DataSNIS{Proposal: p, Energy: tinyEnergy(newRNG(3)), Mean: dataMean, K: 3}
	x := ad.New(binaryPoints, 4, 2)
	c := []float64{0, 1, 1, 1}
	for _, S := range []int{1, 3} {
		p.Z = 2
		p.Cands = [][]float64{c}
		got, err := m.EvalAuthors(context.Background(), newRNG(1), x, S)
		if err != nil {
			t.Fatal(err)
		}
		p.Cands = [][]float64{c}
		want := m.Objective(nil, x, 1).Data()
		for i := range want {
			if math.Abs(got[i]-want[i]) > exactTol {
				t.Errorf("S = %d, x = %v: %.15g, want %.15g", S, binaryPoints[2*i:2*i+2], got[i], want[i])
			}
		}
	}
}
