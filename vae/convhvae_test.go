package vae

import (
	"context"
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/integrate/quad"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// tinyConv returns a ConvHVAE of h×w images with 2 filters, latent size
// d and hidden width 3, its biases moved off zero so that the tests see
// them, and mean-centering and logit offset from a fixed mean.
func tinyConv(t testing.TB, h, w, d int, prior PriorKind, seed uint64) *ConvHVAE {
	t.Helper()
	mean := make([]float64, h*w)
	for i := range mean {
		mean[i] = 0.05 + 0.9*float64((i*7)%11)/10
	}
	c := ConvConfig{Height: h, Width: w, Filters: 2, Hidden: 3,
		Config: Config{Prior: prior, Latent: d, EnergyHidden: []int{3}, K: 5, TRST: 4, LARST: 3, HIST: 2,
			HISQHidden: []int{3}, LARSEvalDraws: 2000}}
	m, err := NewConvHVAE(newRNG(seed), c, mean)
	if err != nil {
		t.Fatal(err)
	}
	r := newRNG(seed + 1)
	for _, p := range m.Params().Tensors() {
		if p.Rank() == 1 {
			for i := range p.Data() {
				p.Data()[i] = 0.3 * r.NormFloat64()
			}
		}
	}
	return m
}

func binaryImages(seed uint64, n, dx int) *ad.Tensor {
	r := newRNG(seed)
	x := make([]float64, n*dx)
	for i := range x {
		if r.Float64() < 0.4 {
			x[i] = 1
		}
	}
	return ad.New(x, n, dx)
}

// Plain-loop reference layers (NHWC, row-major), written from the
// definitions in docs/conv.md, independent of ad's im2col.

type img struct {
	h, w, c int
	v       []float64 // [h][w][c]
}

func (a img) at(i, j, c int) float64 {
	if i < 0 || j < 0 || i >= a.h || j >= a.w {
		return 0
	}
	return a.v[(i*a.w+j)*a.c+c]
}

// samePad returns TensorFlow's SAME padding before the first row of a
// stride-s convolution of an axis of length n with kernel k.
func samePad(n, k, s int) int {
	out := (n + s - 1) / s
	return max((out-1)*s+k-n, 0) / 2
}

func loopConv(x img, wt, b []float64, k, f int) img {
	oh, ow := (x.h+1)/2, (x.w+1)/2
	pt, pl := samePad(x.h, k, 2), samePad(x.w, k, 2)
	out := img{oh, ow, f, make([]float64, oh*ow*f)}
	for i := range oh {
		for j := range ow {
			for o := range f {
				s := b[o]
				for p := range k {
					for q := range k {
						for c := range x.c {
							s += x.at(2*i-pt+p, 2*j-pl+q, c) * wt[((p*k+q)*x.c+c)*f+o]
						}
					}
				}
				out.v[(i*ow+j)*f+o] = s
			}
		}
	}
	return out
}

// loopConvT is the transposed convolution to oh×ow with c output
// channels, kernel [k][k][c][f]: each input pixel scatters into the
// output window a convolution of the output size would read it from.
func loopConvT(y img, wt, b []float64, k, c, oh, ow int) img {
	pt, pl := samePad(oh, k, 2), samePad(ow, k, 2)
	out := img{oh, ow, c, make([]float64, oh*ow*c)}
	for u := range y.h {
		for v := range y.w {
			for p := range k {
				for q := range k {
					i, j := 2*u-pt+p, 2*v-pl+q
					if i < 0 || j < 0 || i >= oh || j >= ow {
						continue
					}
					for cc := range c {
						for o := range y.c {
							out.v[(i*ow+j)*c+cc] += y.v[(u*y.w+v)*y.c+o] * wt[((p*k+q)*c+cc)*y.c+o]
						}
					}
				}
			}
		}
	}
	for i := range out.v {
		out.v[i] += b[i%c]
	}
	return out
}

func loopDense(x, wt, b []float64, act func(float64) float64) []float64 {
	out := len(b)
	y := make([]float64, out)
	for o := range out {
		s := b[o]
		for i, xi := range x {
			s += xi * wt[i*out+o]
		}
		y[o] = act(s)
	}
	return y
}

func ident(v float64) float64 { return v }
func relu(v float64) float64  { return max(v, 0) }

func loopMLP(m *nn.MLP, x []float64) []float64 {
	for i, l := range m.Layers {
		act := math.Tanh
		if i == len(m.Layers)-1 {
			act = ident
		}
		x = loopDense(x, l.W.Data(), l.B.Data(), act)
	}
	return x
}

func loopLinear(l *nn.Linear, x []float64, act func(float64) float64) []float64 {
	return loopDense(x, l.W.Data(), l.B.Data(), act)
}

// loopGauss returns μ, σ of a network output and log N(z; μ, σ²) at
// z = μ + σ ε.
func loopGauss(out, eps []float64, smin float64) (z []float64, logq float64) {
	d := len(out) / 2
	z = make([]float64, d)
	for j := range d {
		sp := math.Log1p(math.Exp(out[d+j]))
		sig := max(smin, sp)
		z[j] = out[j] + sig*eps[j]
		logq += -0.5*eps[j]*eps[j] - math.Log(sig) - 0.5*math.Log(2*math.Pi)
	}
	return z, logq
}

func loopLogGauss(out, z []float64, smin float64) float64 {
	d := len(out) / 2
	lp := 0.0
	for j := range d {
		sig := max(smin, math.Log1p(math.Exp(out[d+j])))
		e := (z[j] - out[j]) / sig
		lp += -0.5*e*e - math.Log(sig) - 0.5*math.Log(2*math.Pi)
	}
	return lp
}

func loopFeatures(m *ConvHVAE, stack []*ConvLayer, x []float64) []float64 {
	a := img{m.Height, m.Width, 1, make([]float64, len(x))}
	for i := range x {
		a.v[i] = x[i] - m.Mean.Data()[i]
	}
	for _, l := range stack {
		f := l.B.Dim(0)
		a = loopConv(a, l.W.Data(), l.B.Data(), l.W.Dim(0), f)
		for i := range a.v {
			a.v[i] = relu(a.v[i])
		}
	}
	return a.v
}

// loopLogits is p(x | z₁, z₂)'s logits with plain loops.
func loopLogits(m *ConvHVAE, z1, z2 []float64) []float64 {
	h := append(loopLinear(m.PXZ1, z1, math.Tanh), loopLinear(m.PXZ2, z2, math.Tanh)...)
	hs, ws := convSizes(m.Height), convSizes(m.Width)
	mid := loopLinear(m.PXMid, h, math.Tanh)
	a := img{hs[3], ws[3], len(mid) / (hs[3] * ws[3]), mid}
	for i, l := range m.PXDeconv {
		a = loopConvT(a, l.W.Data(), l.B.Data(), l.W.Dim(0), l.W.Dim(2), hs[2-i], ws[2-i])
		if i < len(m.PXDeconv)-1 {
			for j := range a.v {
				a.v[j] = relu(a.v[j])
			}
		}
	}
	for i := range a.v {
		a.v[i] += m.Offset.Data()[i]
	}
	return a.v
}

// loopObjective is the Gaussian-prior objective of one image at the
// draws e2, e1, with plain loops.
func loopObjective(m *ConvHVAE, x, e2, e1 []float64, beta float64) float64 {
	z2, lq2 := loopGauss(loopLinear(m.QZ2Out, loopFeatures(m, m.QZ2Conv, x), ident), e2, m.ScaleMin)
	emb := loopLinear(m.QZ1Z2, z2, math.Tanh)
	z1, lq1 := loopGauss(loopMLP(m.QZ1Out, append(loopFeatures(m, m.QZ1Conv, x), emb...)), e1, m.ScaleMin)
	lpz1 := loopLogGauss(loopMLP(m.PZ1, z2), z1, m.ScaleMin)
	lpz2 := 0.0
	for _, v := range z2 {
		lpz2 += -0.5*v*v - 0.5*math.Log(2*math.Pi)
	}
	ll := 0.0
	for i, l := range loopLogits(m, z1, z2) {
		// log σ(l) = −log(1 + e^{−l}), log σ(−l) = −log(1 + e^{l}).
		ll += x[i]*-math.Log1p(math.Exp(-l)) + (1-x[i])*-math.Log1p(math.Exp(l))
	}
	return ll + beta*(lpz2+lpz1-lq2-lq1)
}

// TestConvHVAEForwardLoops: the training objective at fixed draws
// (Gaussian prior, β = 0.7) equals the same network written with plain
// loops, on 8×8 images (maps 8 → 4 → 2 → 1) and on 7×5 images (odd sizes:
// 7 → 4 → 2 → 1 and 5 → 3 → 2 → 1, SAME padding uneven, the
// transposed convolutions to sizes that are not twice their input).
func TestConvHVAEForwardLoops(t *testing.T) {
	for _, sz := range [][2]int{{8, 8}, {7, 5}, {28, 28}} {
		h, w := sz[0], sz[1]
		t.Run(fmt.Sprintf("%dx%d", h, w), func(t *testing.T) {
			m := tinyConv(t, h, w, 3, Gaussian, 21)
			n, d := 3, 3
			x := binaryImages(22, n, h*w)
			e2, e1 := ad.Randn(newRNG(23), n, d), ad.Randn(newRNG(24), n, d)
			got := m.objectiveAt(nil, x, e2, e1, 0.7).Data()
			for i := range n {
				want := loopObjective(m, x.Data()[i*h*w:(i+1)*h*w], e2.Data()[i*d:(i+1)*d], e1.Data()[i*d:(i+1)*d], 0.7)
				if math.Abs(got[i]-want) > 1e-10*(1+math.Abs(want)) {
					t.Errorf("image %d: objective %.15g, loops %.15g", i, got[i], want)
				}
			}
		})
	}
}

// TestConvHVAEGradients compares the gradient of the batch-mean
// objective (β = 0.7, fixed draws) with respect to every parameter with
// central finite differences, for every prior, on 8×8 images.
func TestConvHVAEGradients(t *testing.T) {
	for _, k := range PriorKinds {
		t.Run(string(k), func(t *testing.T) {
			m := tinyConv(t, 8, 8, 2, k, 31)
			x := binaryImages(32, 3, 64)
			ps := m.Params().Tensors()
			f := func(theta []float64) float64 {
				saved := nn.Flatten(ps)
				nn.SetFlat(ps, theta)
				v := ad.Mean(m.Objective(newRNG(33), x, 0.7)).Item()
				nn.SetFlat(ps, saved)
				return v
			}
			theta := nn.Flatten(ps)
			want := fd.Gradient(nil, f, theta, &fd.Settings{Formula: fd.Central, Step: 1e-6})
			got := nn.Flatten(ad.Grad(ad.Mean(m.Objective(newRNG(33), x, 0.7)), ps...))
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

// convMarginal returns p(x) of a ConvHVAE with a Gaussian prior and
// one-dimensional z₁ and z₂ by Gauss–Hermite quadrature in (z₂, u), z₁ =
// μ(z₂) + σ(z₂) u:
//
//	p(x) = ∫∫ N(z₂; 0, 1) N(u; 0, 1) p(x | μ(z₂) + σ(z₂) u, z₂) du dz₂.
func convMarginal(m *ConvHVAE, x []float64, nodes int) float64 {
	loc, wt := make([]float64, nodes), make([]float64, nodes)
	quad.Hermite{}.FixedLocations(loc, wt, math.Inf(-1), math.Inf(1))
	// ∫ N(v; 0, 1) g(v) dv = Σ_k (w_k/√π) g(√2 x_k).
	p := 0.0
	for a := range nodes {
		z2 := math.Sqrt2 * loc[a]
		out := loopMLP(m.PZ1, []float64{z2})
		sig := max(m.ScaleMin, math.Log1p(math.Exp(out[1])))
		for b := range nodes {
			z1 := out[0] + sig*math.Sqrt2*loc[b]
			ll := 0.0
			for i, l := range loopLogits(m, []float64{z1}, []float64{z2}) {
				ll += x[i]*-math.Log1p(math.Exp(-l)) + (1-x[i])*-math.Log1p(math.Exp(l))
			}
			p += wt[a] * wt[b] / math.Pi * math.Exp(ll)
		}
	}
	return p
}

// TestConvHVAEGaussianUnbiased: with the Gaussian prior the evaluation's
// weights are unbiased for p(x), computed by quadrature on a model with
// one-dimensional z₁ and z₂ (4×4 images): the mean of w_s/p(x) over S
// draws is 1 within 5 standard errors, the mean log weight (the ELBO)
// is below log p(x), and the quadrature has converged (60 and 80 nodes
// agree to a hundredth of the standard error).
func TestConvHVAEGaussianUnbiased(t *testing.T) {
	m := tinyConv(t, 4, 4, 1, Gaussian, 41)
	// q's scales start at softplus(1.5) ≈ 1.7, wider than p(z₂) and
	// p(z₁ | z₂), so that the weights are bounded and the standard error
	// is small enough for the check to mean something.
	m.QZ2Out.B.Data()[1] = 1.5
	m.QZ1Out.Layers[len(m.QZ1Out.Layers)-1].B.Data()[1] = 1.5
	x := binaryImages(42, 2, 16)
	const S = 20000
	lw, err := m.LogWeights(context.Background(), newRNG(43), x, S)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		xi := x.Data()[i*16 : (i+1)*16]
		px := convMarginal(m, xi, 80)
		p60 := convMarginal(m, xi, 60)
		var sum, sum2, elbo float64
		for s := range S {
			v := lw.Data()[s*2+i]
			r := math.Exp(v - math.Log(px))
			sum += r
			sum2 += r * r
			elbo += v / S
		}
		mean := sum / S
		se := math.Sqrt((sum2/S - mean*mean) / (S - 1))
		// The decoder's ReLUs make the integrand only piecewise smooth,
		// so the quadrature converges slowly; it must be far more
		// accurate than the Monte Carlo check.
		if q := math.Abs(p60-px) / px; q > se/100 {
			t.Fatalf("image %d: quadrature not converged: relative change %.3g from 60 to 80 nodes, s.e. %.3g", i, q, se)
		}
		if math.Abs(mean-1) > mcSigmas*se {
			t.Errorf("image %d: E w/p(x) = %.5f ± %.5f, want 1", i, mean, se)
		}
		if elbo > math.Log(px) {
			t.Errorf("image %d: mean log weight %.6f above log p(x) = %.6f", i, elbo, math.Log(px))
		}
		t.Logf("image %d: log p(x) = %.6f, ELBO ≈ %.6f, E w/p = %.4f ± %.4f", i, math.Log(px), elbo, mean, se)
	}
}

// TestConvHVAEChunkingBitwise: Eval gives the same bits for any sample
// and image chunk sizes and the same seed the same bits, for the
// Gaussian, SNIS and HIS priors.
func TestConvHVAEChunkingBitwise(t *testing.T) {
	for _, k := range []PriorKind{Gaussian, SNIS, HIS} {
		t.Run(string(k), func(t *testing.T) {
			m := tinyConv(t, 8, 8, 2, k, 51)
			x := binaryImages(52, 4, 64)
			var ref []float64
			for _, ch := range [][2]int{{0, 0}, {7, 3}, {1, 1}, {40, 2}} {
				m.SampleChunk, m.ImageChunk = ch[0], ch[1]
				got, err := m.Eval(context.Background(), newRNG(53), x, 45)
				if err != nil {
					t.Fatal(err)
				}
				if ref == nil {
					ref = got
					continue
				}
				for i := range ref {
					if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
						t.Errorf("chunks %v: image %d: %v, want %v", ch, i, got[i], ref[i])
					}
				}
			}
		})
	}
}

// TestConvHVAEIWAEOrder: the S-sample bound averaged over repeated
// evaluations does not decrease with S (1, 10, 100), and every weight is
// finite (SNIS prior).
func TestConvHVAEIWAEOrder(t *testing.T) {
	m := tinyConv(t, 8, 8, 2, SNIS, 61)
	x := binaryImages(62, 4, 64)
	prev := math.Inf(-1)
	for _, S := range []int{1, 10, 100} {
		sum := 0.0
		const reps = 10
		for r := range reps {
			v, err := m.Eval(context.Background(), newRNG(uint64(100*S+r)), x, S)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range v {
				if math.IsNaN(b) || math.IsInf(b, 0) {
					t.Fatalf("S = %d: bound %v", S, b)
				}
				sum += b / float64(reps*len(v))
			}
		}
		if sum < prev {
			t.Errorf("S = %d: mean bound %.4f below the previous %.4f", S, sum, prev)
		}
		prev = sum
	}
}

// TestNewConvHVAE checks the default geometry (28×28 → 14 → 7 → 4, the
// dense layer to 4·4·32 = 512, 50-d latents, 300 hidden), the logit
// offset, and the errors of bad settings.
func TestNewConvHVAE(t *testing.T) {
	mean := make([]float64, 784)
	mean[3] = 1
	m, err := NewConvHVAE(newRNG(1), ConvConfig{}, mean)
	if err != nil {
		t.Fatal(err)
	}
	if m.Latent() != 50 || m.PXMid.Out() != 512 || m.QZ2Out.In() != 512 || m.PZ1.Layers[0].Out() != 300 {
		t.Errorf("sizes: latent %d, mid %d, q(z₂) in %d, p(z₁|z₂) hidden %d", m.Latent(), m.PXMid.Out(), m.QZ2Out.In(), m.PZ1.Layers[0].Out())
	}
	if got, want := m.Offset.Data()[3], math.Log(0.9999/0.0001); math.Abs(got-want) > 1e-12 {
		t.Errorf("offset of a pixel of mean 1: %v, want %v", got, want)
	}
	x := binaryImages(2, 2, 784)
	if got := m.Logits(ad.Zeros(2, 50), ad.Zeros(2, 50)).Shape(); !sameShape(got, []int{2, 784}) {
		t.Errorf("logits shape %v", got)
	}
	if got := m.Objective(newRNG(3), x, 1).Shape(); !sameShape(got, []int{2}) {
		t.Errorf("objective shape %v", got)
	}
	for _, c := range []ConvConfig{{Height: -1}, {Config: Config{Data: 100}}, {Config: Config{Prior: "x"}}} {
		if _, err := NewConvHVAE(newRNG(1), c, nil); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if _, err := NewConvHVAE(newRNG(1), ConvConfig{}, mean[:10]); err == nil {
		t.Error("short mean: no error")
	}
	bad := ad.New(append([]float64{math.NaN()}, make([]float64, 63)...), 1, 64)
	if _, err := tinyConv(t, 8, 8, 2, Gaussian, 5).Eval(context.Background(), newRNG(1), bad, 2); err == nil {
		t.Error("NaN pixel: no error")
	}
}

// TestConvHVAEThreadsBitwise: the evaluation and a training step of a
// ConvHVAE (28×28, 4 filters, SNIS prior) give the same bits with one
// thread and with ad's default.
func TestConvHVAEThreadsBitwise(t *testing.T) {
	run := func(threads int) ([]float64, []float64) {
		prev := ad.SetMaxThreads(threads)
		defer ad.SetMaxThreads(prev)
		m, err := NewConvHVAE(newRNG(81), ConvConfig{Filters: 4, Hidden: 20,
			Config: Config{Prior: SNIS, Latent: 5, EnergyHidden: []int{8}, K: 10}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		x := binaryImages(82, 12, 784)
		e, err := m.Eval(context.Background(), newRNG(83), x, 6)
		if err != nil {
			t.Fatal(err)
		}
		ps := m.Params().Tensors()
		if _, err := m.TrainStep(newRNG(84), &nn.Adam{LR: 1e-3}, ps, x, 1); err != nil {
			t.Fatal(err)
		}
		return e, nn.Flatten(ps)
	}
	e1, p1 := run(1)
	e2, p2 := run(0)
	for i := range e1 {
		if math.Float64bits(e1[i]) != math.Float64bits(e2[i]) {
			t.Fatalf("Eval depends on the number of threads: image %d: %v vs %v", i, e1[i], e2[i])
		}
	}
	for i := range p1 {
		if math.Float64bits(p1[i]) != math.Float64bits(p2[i]) {
			t.Fatalf("TrainStep depends on the number of threads: parameter %d", i)
		}
	}
}
