package vae

import (
	"context"
	"math"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
)

// TestPixelLogLikExact checks the change of variables from logit space
// to the 8-bit pixel scale on a case with a closed form: independent
// pixels with logit-space density N(s_d; μ_d, σ_d²). On [0, 256)ᴰ the
// pixel-scale density must integrate to the Gaussian mass of the logit
// range [logit λ, logit(1 − λ)]ᴰ, Π_d (Φ(b_d) − Φ(a_d)); checked by
// Gauss–Legendre quadrature over x̃ ∈ [0, 256)ᴰ for D = 1 and D = 2 with λ
// = 0.05 (λ = 10⁻⁶ puts almost all the mass in thin layers at the
// edges). Also checks PixelLogLik against the density written out:
// N(s; μ, σ²) (1 − 2λ)/(p(1 − p)) / 256 per pixel.
func TestPixelLogLikExact(t *testing.T) {
	tr := data.LogitTransform{Lambda: 0.05}
	mu := []float64{0.3, -1.1}
	sd := []float64{1.2, 0.7}
	logN := func(s, m, v float64) float64 {
		e := (s - m) / v
		return -0.5*e*e - math.Log(v) - 0.5*math.Log(2*math.Pi)
	}
	pixel := func(y []float64) float64 {
		s := make([]float64, len(y))
		tr.Forward(s, y)
		ll := 0.0
		for d := range y {
			ll += logN(s[d], mu[d], sd[d])
		}
		return PixelLogLik([]float64{ll}, ad.New(append([]float64(nil), y...), 1, len(y)), tr)[0]
	}
	// Written out for one pixel.
	for _, y := range []float64{0.01, 0.3, 0.77, 0.999} {
		p := 0.05 + 0.9*y
		s := math.Log(p / (1 - p))
		want := logN(s, mu[0], sd[0]) + math.Log(0.9/(p*(1-p))) - math.Log(256)
		if got := pixel([]float64{y}); math.Abs(got-want) > 1e-12 {
			t.Errorf("y = %v: %.15g, want %.15g", y, got, want)
		}
	}
	lo, hi := math.Log(0.05/0.95), math.Log(0.95/0.05)
	phi := func(v float64) float64 { return 0.5 * math.Erfc(-v/math.Sqrt2) }
	mass := func(d int) float64 { return phi((hi-mu[d])/sd[d]) - phi((lo-mu[d])/sd[d]) }
	const nodes = 400
	xs, ws := make([]float64, nodes), make([]float64, nodes)
	quad.Legendre{}.FixedLocations(xs, ws, 0, 256)
	one := 0.0
	for i := range nodes {
		one += ws[i] * math.Exp(pixel([]float64{xs[i] / 256}))
	}
	if want := mass(0); math.Abs(one-want) > 1e-9 {
		t.Errorf("D = 1: ∫ p(x̃) dx̃ = %.12g, want %.12g", one, want)
	}
	const nodes2 = 150
	xs2, ws2 := make([]float64, nodes2), make([]float64, nodes2)
	quad.Legendre{}.FixedLocations(xs2, ws2, 0, 256)
	two := 0.0
	for i := range nodes2 {
		for j := range nodes2 {
			two += ws2[i] * ws2[j] * math.Exp(pixel([]float64{xs2[i] / 256, xs2[j] / 256}))
		}
	}
	if want := mass(0) * mass(1); math.Abs(two-want) > 1e-9 {
		t.Errorf("D = 2: ∫ p(x̃) dx̃ = %.12g, want %.12g", two, want)
	}
}

// TestGaussianModel: the Gaussian decoder's log-likelihood is the
// diagonal normal's (σ = softplus(RawScale), starting at 1), the
// evaluation's weights with S = 1 are the training objective's at β = 1
// in distribution (their means agree within 5 standard errors), and a
// Gaussian decoder's SampleData is differentiable in the decoder.
func TestGaussianModel(t *testing.T) {
	m := tinyGaussianVAE(t, Gaussian)
	dec := m.Decoder
	if got := math.Log1p(math.Exp(dec.RawScale.Data()[0])); math.Abs(got-1) > 1e-4 {
		t.Errorf("initial σ = %v, want ≈ 1", got)
	}
	dec.RawScale.Data()[1] = -0.4
	z := ad.New([]float64{0.2, -0.3, 1.1, 0.5}, 2, 2)
	x := ad.New([]float64{0.3, -1.1, 0.8, 1.4, 0.2, -0.6}, 2, 3)
	got := dec.LogProb(x, z).Data()
	mu := dec.Net.Forward(z).Data()
	for i := range 2 {
		want := 0.0
		for d := range 3 {
			sig := max(dec.ScaleMin, math.Log1p(math.Exp(dec.RawScale.Data()[d])))
			e := (x.Data()[i*3+d] - mu[i*3+d]) / sig
			want += -0.5*e*e - math.Log(sig) - 0.5*math.Log(2*math.Pi)
		}
		if math.Abs(got[i]-want) > 1e-12 {
			t.Errorf("row %d: log p(x | z) = %.15g, want %.15g", i, got[i], want)
		}
	}
	const S = 4000
	lw, err := m.LogWeights(context.Background(), newRNG(20), x, S)
	if err != nil {
		t.Fatal(err)
	}
	xs := ad.BroadcastTo(ad.Unsqueeze(x, 0), S, 2, 3)
	obj := m.Objective(newRNG(21), ad.Reshape(xs, 2*S, 3), 1).Data()
	for i := range 2 {
		var a, a2, b, b2 float64
		for s := range S {
			u, v := lw.Data()[s*2+i], obj[s*2+i]
			a, a2, b, b2 = a+u, a2+u*u, b+v, b2+v*v
		}
		a, b = a/S, b/S
		se := math.Sqrt((a2/S-a*a)/S + (b2/S-b*b)/S)
		if math.Abs(a-b) > mcSigmas*se {
			t.Errorf("image %d: mean log weight %.4f, mean objective %.4f (± %.4f)", i, a, b, se)
		}
	}
	xd := m.SampleData(newRNG(22), 3)
	g := ad.Grad(ad.Sum(xd), dec.Net.Layers[len(dec.Net.Layers)-1].B)[0].Data()
	for d, v := range g {
		if v != 3 {
			t.Errorf("∂Σx/∂b_%d = %v, want 3 (x = μ(z) + σε)", d, v)
		}
	}
}
