package proofs_test

// The S-sample evaluation of package vae with the Gaussian prior is the
// IWAE bound of package iwae (Burda et al. 2016, Eq. 5 of Lawson et al.
// 2019), sample for sample: a small VAE (8 pixels, 3 latents) is
// evaluated with vae.Model.LogWeights and vae.Model.Eval through an
// encoder that records its draws; at those draws iwae.IntegrandAt with
// the model's log p(x, z) = log p(x | z) + log N(z; 0, I) (written here
// with dist, not with vae's own code) and the encoder as q̃ gives, per
// sample (K = 1), each log weight, and over all S samples (K = S), Eval's
// value.

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/iwae"
	"github.com/eimkit/eimkit/vae"
)

// recording passes Sample and LogProb to the VAE's encoder and keeps
// every draw of Sample. It is not a *vae.Encoder, so the evaluation calls
// it once per image and sample chunk.
type recording struct {
	*vae.Encoder
	draws []*ad.Tensor
}

func (r *recording) Sample(rng *rand.Rand, x *ad.Tensor, k int) *ad.Tensor {
	z := r.Encoder.Sample(rng, x, k)
	r.draws = append(r.draws, z.Detach())
	return z
}

// gaussianJoint is log p(x, z) = log p(x | z) + log N(z; 0, I) for
// iwae.Model.
type gaussianJoint struct{ dec *vae.Decoder }

func (g gaussianJoint) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	d := z.Dim(-1)
	prior := dist.NewNormal(ad.Zeros(d), ad.Ones(d))
	return ad.Add(g.dec.LogProb(x, z), prior.LogProb(z))
}

func TestVAEGaussianIsIWAE(t *testing.T) {
	const S, n, dx, dz = 7, 3, 8, 3
	rng := rand.New(rand.NewPCG(4, 2))
	m, err := vae.NewModel(rng, vae.Config{Data: dx, Latent: dz, EncoderHidden: []int{5}, DecoderHidden: []int{5}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	xs := make([]float64, n*dx)
	for i := range xs {
		if rng.Float64() < 0.5 {
			xs[i] = 1
		}
	}
	x := ad.New(xs, n, dx)
	enc := m.Encoder.(*vae.Encoder)
	rec := &recording{Encoder: enc}
	m.Encoder = rec
	m.SampleChunk, m.ImageChunk = 3, 2 // several chunks of each kind
	w, err := m.LogWeights(context.Background(), rand.New(rand.NewPCG(9, 9)), x, S)
	if err != nil {
		t.Fatal(err)
	}
	bound, err := m.Eval(context.Background(), rand.New(rand.NewPCG(9, 9)), x, S)
	if err != nil {
		t.Fatal(err)
	}
	// The draws arrive per image chunk, then per sample chunk, then per
	// image (each [k, 1, dz]); LogWeights and Eval drew the same ones.
	rec.draws = rec.draws[:len(rec.draws)/2]
	z := make([]float64, S*n*dz)
	at := 0
	for i0 := 0; i0 < n; i0 += 2 {
		for s0 := 0; s0 < S; s0 += 3 {
			for i := i0; i < min(i0+2, n); i++ {
				d := rec.draws[at]
				at++
				for s := range d.Dim(0) {
					copy(z[((s0+s)*n+i)*dz:((s0+s)*n+i+1)*dz], d.Data()[s*dz:(s+1)*dz])
				}
			}
		}
	}
	if at != len(rec.draws) {
		t.Fatalf("%d draws used of %d", at, len(rec.draws))
	}
	p := gaussianJoint{m.Decoder}
	for s := range S {
		zs := ad.New(z[s*n*dz:(s+1)*n*dz], 1, n, dz)
		want := iwae.IntegrandAt(p, enc, x, zs).Data() // K = 1: one log weight per image
		for i := range n {
			if got := w.Data()[s*n+i]; math.Abs(got-want[i]) > 1e-12*(1+math.Abs(want[i])) {
				t.Errorf("sample %d, image %d: log weight %.15g, iwae %.15g", s, i, got, want[i])
			}
		}
	}
	want := iwae.IntegrandAt(p, enc, x, ad.New(z, S, n, dz)).Data()
	for i := range n {
		if math.Abs(bound[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Errorf("image %d: Eval %.15g, iwae.IntegrandAt with K = %d %.15g", i, bound[i], S, want[i])
		}
	}
}
