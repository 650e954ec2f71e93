package vae

// Fixtures of the package's tests: a tiny VAE over 4 binary pixels whose
// latent space is finite (a Discrete proposal over three points in 2-D,
// used both as q(z | x) and as the EIM's proposal π), and scripted
// proposals that return prescribed draws, so that expectations over every
// draw of an estimator are computed by enumeration.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

const (
	tinyDx = 4
	tinyDz = 2
	// exactTol is for two exact computations of one quantity (sums of at
	// most a few hundred terms of size ≤ 10 in float64).
	exactTol = 1e-12
	// mcSigmas is the width of Monte Carlo checks in standard errors.
	mcSigmas = 5
)

var (
	tinyPoints = []float64{-1.0, 0.5, 0.3, -0.8, 1.2, 1.1}
	tinyLogits = []float64{0.2, -0.4, 0.1}
	tinyX      = []float64{1, 0, 1, 1}
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// scripted is a Discrete proposal whose Sample returns prescribed points
// instead of random ones: unconditionally the first k rows of Next
// ([≥k, d]), or, if Queue is not empty, the first k rows of its next
// entry (one entry per call); with a context [n, c], row s % (len(Next)/d)
// of Next as draw s for every context row. LogProb is the Discrete's.
type scripted struct {
	*eimfamily.Discrete
	Next  []float64
	Queue [][]float64
}

func (p *scripted) Sample(_ *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	d := p.Dim()
	if ctx == nil {
		next := p.Next
		if len(p.Queue) > 0 {
			next, p.Queue = p.Queue[0], p.Queue[1:]
		}
		if len(next) < k*d {
			panic(fmt.Sprintf("scripted: %d draws asked, %d scripted", k, len(next)/d))
		}
		return ad.New(append([]float64(nil), next[:k*d]...), k, d)
	}
	n, rows := ctx.Dim(0), len(p.Next)/d
	out := make([]float64, 0, k*n*d)
	for s := range k {
		for range n {
			out = append(out, p.Next[(s%rows)*d:(s%rows+1)*d]...)
		}
	}
	return ad.New(out, k, n, d)
}

func newDiscrete() *eimfamily.Discrete {
	return eimfamily.NewDiscrete(ad.New(tinyPoints, 3, tinyDz), ad.New(tinyLogits, 3))
}

// tinyEnergy returns a 2-3-1 energy whose output layer is scaled by 3, so
// that the energies of the support points spread over a few nats.
func tinyEnergy(rng *rand.Rand) *eimfamily.MLPEnergy {
	e := eimfamily.NewMLPEnergy(rng, tinyDz, 0, 3)
	l := e.Net.Layers[len(e.Net.Layers)-1]
	for i := range l.W.Data() {
		l.W.Data()[i] *= 3
	}
	l.B.Data()[0] = 0.2
	return e
}

func tinyDecoder(rng *rand.Rand) *Decoder {
	d := &Decoder{Net: nn.NewMLP(rng, tinyDz, 3, tinyDx)}
	for i, v := range []float64{0.3, -0.2, 0.5, -0.1} {
		d.Net.Layers[1].B.Data()[i] = v
	}
	return d
}

// finiteModel is the tiny VAE with a scripted encoder over the three
// support points and the given prior.
func finiteModel(rng *rand.Rand, prior Prior) (*Model, *scripted) {
	enc := &scripted{Discrete: newDiscrete(), Next: tinyPoints[:tinyDz]}
	return &Model{Encoder: enc, Decoder: tinyDecoder(rng), Prior: prior}, enc
}

// logLik returns log p(x | z) of the decoder for one x and z.
func logLik(d *Decoder, x, z []float64) float64 {
	return d.LogProb(ad.New(x, 1, len(x)), ad.New(z, 1, len(z))).Item()
}

// negU returns −U at the support points.
func negU(e eimfamily.Energy) []float64 {
	return ad.Neg(e.Energy(nil, ad.New(tinyPoints, 3, tinyDz))).Detach().Data()
}

// tuples calls f with every k-tuple of support indices and its
// probability Π π(j).
func tuples(k int, logPi []float64, f func(idx []int, logP float64)) {
	idx := make([]int, k)
	var rec func(pos int, lp float64)
	rec = func(pos int, lp float64) {
		if pos == k {
			f(idx, lp)
			return
		}
		for j := range logPi {
			idx[pos] = j
			rec(pos+1, lp+logPi[j])
		}
	}
	rec(0, 0)
}

func pointsOf(idx []int) []float64 {
	out := make([]float64, 0, len(idx)*tinyDz)
	for _, j := range idx {
		out = append(out, tinyPoints[j*tinyDz:(j+1)*tinyDz]...)
	}
	return out
}

// snisDensity returns p_SNIS(s_j) for the support points by enumerating
// Alg. 2's generative process: K candidates from π, index ∝ exp(−U).
func snisDensity(logPi, negU []float64, K int) []float64 {
	p := make([]float64, len(logPi))
	tuples(K, logPi, func(idx []int, lp float64) {
		total := 0.0
		for _, j := range idx {
			total += math.Exp(negU[j])
		}
		for _, j := range idx {
			p[j] += math.Exp(lp) * math.Exp(negU[j]) / total
		}
	})
	return p
}

// trsDensity returns p_TRS(s_j) by summing Alg. 1 over the step of
// acceptance: accept at t < T with probability (1 − Z)^{t−1} π a, forced
// at T with (1 − Z)^{T−1} π. a = σ(−U).
func trsDensity(logPi, negU []float64, T int) []float64 {
	a := make([]float64, len(negU))
	Z := 0.0
	for j, v := range negU {
		a[j] = 1 / (1 + math.Exp(-v))
		Z += math.Exp(logPi[j]) * a[j]
	}
	p := make([]float64, len(logPi))
	for j := range p {
		pi := math.Exp(logPi[j])
		for t := 1; t < T; t++ {
			p[j] += math.Pow(1-Z, float64(t-1)) * pi * a[j]
		}
		p[j] += math.Pow(1-Z, float64(T-1)) * pi
	}
	return p
}

// marginal returns p(x) = Σ_j p(x | s_j) p(s_j).
func marginal(d *Decoder, x []float64, prior []float64) float64 {
	px := 0.0
	for j, pz := range prior {
		px += math.Exp(logLik(d, x, tinyPoints[j*tinyDz:(j+1)*tinyDz])) * pz
	}
	return px
}
