package vae

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Model is a VAE with a Bernoulli decoder p(x | z), a prior p(z) (N(0, I)
// or an EIM) and an amortized posterior q(z | x):
//
//	p(x) = ∫ p(x | z) p(z) dz.
//
// The fields may be set directly (tests plug in finite-support encoders
// and priors); NewModel builds the paper's model.
type Model struct {
	// Encoder is q(z | x), conditioned on x as its context: Sample(rng, x,
	// k) is [k, n, dz] and LogProb(x, z) is [k, n]. NewModel sets an
	// *Encoder.
	Encoder eimfamily.Proposal
	Decoder *Decoder
	Prior   Prior
	// SampleChunk and ImageChunk bound the work of one step of LogWeights
	// and Eval (see Config); 0 means the defaults.
	SampleChunk, ImageChunk int
	// SharedCandidates: see Config.
	SharedCandidates bool
}

// NewModel returns the model of c (zero fields: App. D.2's sizes) with
// networks initialized from rng (Glorot-uniform weights, zero biases)
// and the decoder's output bias at logit(clip(mean, 10⁻⁴, 1 − 10⁻⁴)),
// mean the per-pixel training mean ([Data] values in [0, 1]); mean also
// centers the encoder's input. A nil mean means zero biases and no
// centering. It returns an error if a setting cannot work or mean has the
// wrong length or a value outside [0, 1].
func NewModel(rng *rand.Rand, c Config, mean []float64) (*Model, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if mean != nil && len(mean) != c.Data {
		return nil, fmt.Errorf("vae: NewModel: training mean of length %d, want %d", len(mean), c.Data)
	}
	for i, v := range mean {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("vae: NewModel: training mean[%d] = %v, want a value in [0, 1]", i, v)
		}
	}
	enc := &Encoder{Net: nn.NewMLP(rng, mlpSizes(c.Data, c.EncoderHidden, 2*c.Latent)...), ScaleMin: c.ScaleMin}
	dec := &Decoder{Net: nn.NewMLP(rng, mlpSizes(c.Latent, c.DecoderHidden, c.Data)...)}
	if mean != nil {
		enc.Mean = ad.New(append([]float64(nil), mean...), c.Data)
		b := dec.Net.Layers[len(dec.Net.Layers)-1].B.Data()
		for i, v := range mean {
			b[i] = logit(v)
		}
	}
	return &Model{Encoder: enc, Decoder: dec, Prior: newPrior(rng, c), SampleChunk: c.SampleChunk, ImageChunk: c.ImageChunk,
		SharedCandidates: c.SharedCandidates}, nil
}

// Params returns every learnable tensor, named: encoder.*, decoder.* and
// prior.* (in that order, the order Adam and checkpoints need).
func (m *Model) Params() *nn.Params {
	var ps nn.Params
	if e := m.Encoder.Params(); len(e) > 0 {
		ps.Add("encoder", e...)
	}
	ps.Add("decoder", m.Decoder.Params()...)
	if p := m.Prior.Params(); len(p) > 0 {
		ps.Add("prior", p...)
	}
	return &ps
}

func (m *Model) check(who string, x *ad.Tensor) int {
	if m.Encoder == nil || m.Decoder == nil || m.Prior == nil {
		panic(fmt.Sprintf("vae: Model.%s: nil Encoder, Decoder or Prior", who))
	}
	dx := m.Decoder.Net.Layers[len(m.Decoder.Net.Layers)-1].Out()
	if x == nil || x.Rank() != 2 || x.Dim(1) != dx {
		panic(fmt.Sprintf("vae: Model.%s: x shape %v, want [n, %d]", who, shapeOf(x), dx))
	}
	if d := m.Encoder.Dim(); d != m.Prior.Dim() || d != m.Decoder.Net.Layers[0].In() {
		panic(fmt.Sprintf("vae: Model.%s: latent sizes differ: encoder %d, prior %d, decoder %d",
			who, d, m.Prior.Dim(), m.Decoder.Net.Layers[0].In()))
	}
	return x.Dim(0)
}

// Objective returns the training objective for each image of x ([n, dx],
// entries in [0, 1]), [n], to be maximized: with one reparameterized
// z ~ q(z | x) and the KL weight β,
//
//	log p(x | z) + β · ( B(z) − log q(z | x) ),
//
// where B(z) is Prior.TrainBound: log N(z; 0, I), or a draw of the EIM's
// lower-bound integrand, E B(z) ≤ log p(z). At β = 1 its expectation is
// therefore a lower bound on log p(x) (for LARS, whose B is a plug-in
// estimate, it is an estimate). It is differentiable in the encoder's,
// the decoder's and the prior's parameters.
func (m *Model) Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor {
	n := m.check("Objective", x)
	var z, logq *ad.Tensor
	if e, ok := m.Encoder.(*Encoder); ok {
		q := e.Dist(x) // one encoder pass for the draw and its density
		z = ad.Reshape(q.RSample(rng, 1), n, e.Dim())
		logq = q.LogProb(z)
	} else {
		z = ad.Reshape(m.Encoder.Sample(rng, x, 1), n, m.Encoder.Dim())
		logq = m.Encoder.LogProb(x, z)
	}
	ll := m.Decoder.LogProb(x, z)
	kl := ad.Sub(m.Prior.TrainBound(rng, z), logq)
	if beta != 1 {
		kl = ad.MulScalar(kl, beta)
	}
	return ad.Add(ll, kl)
}

// TrainStep takes one training step on the batch x: the loss −mean
// Objective, its gradient with respect to params (m.Params().Tensors(),
// built once by the caller), an Adam step, and for LARS the update of the
// moving average of Z. The step's graph is handed back with ad.Release
// and the gradients, once Adam has used them, with ad.Recycle.
// It returns the batch mean of the objective before the step, and an
// error (changing nothing) if it is not finite.
func (m *Model) TrainStep(rng *rand.Rand, opt *nn.Adam, params []*ad.Tensor, x *ad.Tensor, beta float64) (float64, error) {
	obj := ad.Mean(m.Objective(rng, x, beta))
	v := obj.Item()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		ad.Release(obj)
		return v, ErrNotFinite
	}
	loss := ad.Neg(obj)
	grads := ad.Grad(loss, params...)
	ad.Release(loss)
	opt.Step(params, grads)
	ad.Free(grads...)
	if l, ok := m.Prior.(*LARSPrior); ok {
		l.Commit()
	}
	return v, nil
}

// ErrNotFinite is returned by TrainStep when the objective is NaN or
// infinite; the parameters are then left as they were.
var ErrNotFinite = errors.New("vae: training objective is not finite")

// SampleMeans draws n exact samples z ~ p(z) from the prior and returns
// the decoder's Bernoulli means σ(l(z)), [n, dx] (for sample grids); for
// a Gaussian decoder, its means.
func (m *Model) SampleMeans(rng *rand.Rand, n int) *ad.Tensor {
	if n < 0 {
		panic(fmt.Sprintf("vae: Model.SampleMeans: n = %d", n))
	}
	z := evalPrior(m.Prior).Sample(rng, n)
	return m.Decoder.detach().means(z.Detach())
}
