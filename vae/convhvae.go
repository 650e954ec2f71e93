package vae

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/nn"
)

// ConvConfig holds a ConvHVAE's sizes. The zero value is the authors'
// ConvBernoulliVAE on 28×28 images (eim/models/vae.py in
// google-research/google-research): every zero field means the default
// given beside it.
//
// The embedded Config sets the prior over the top layer z₂ exactly as for
// Model (Prior, EnergyHidden, K, TRST, LARST, HIST, HISQHidden,
// HISInitAlpha, LARSEvalDraws), the size of z₁ and z₂ (Latent, 0 means
// 50), ScaleMin, the evaluation's chunks and SharedCandidates; its Data,
// EncoderHidden and DecoderHidden are not used (Data must be 0 or
// Height·Width).
type ConvConfig struct {
	Config
	// Height and Width are the image size; 0 means 28.
	Height, Width int
	// Filters is the number of filters of every convolution but the
	// decoder's last (which has one); 0 means 32 (the authors' base_depth).
	Filters int
	// Kernel is the convolutions' kernel size; 0 means 4. Every
	// convolution has stride 2 and SAME padding.
	Kernel int
	// Hidden is the width of the dense tanh layers (p(z₁ | z₂)'s two,
	// q(z₁ | x, z₂)'s last, the decoder's embeddings of z₁ and z₂); 0
	// means 300.
	Hidden int
}

func (c ConvConfig) withDefaults() ConvConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Height, 28)
	def(&c.Width, 28)
	def(&c.Filters, 32)
	def(&c.Kernel, 4)
	def(&c.Hidden, 300)
	data := c.Data
	c.Config.Data = c.Height * c.Width
	c.Config = c.Config.withDefaults()
	if data != 0 {
		c.Config.Data = data // validate reports a mismatch
	}
	return c
}

func (c ConvConfig) validate() error {
	if c.Height < 1 || c.Width < 1 || c.Filters < 1 || c.Kernel < 1 || c.Hidden < 1 {
		return fmt.Errorf("vae: ConvConfig: sizes must be positive: %d×%d images, %d filters, kernel %d, hidden %d",
			c.Height, c.Width, c.Filters, c.Kernel, c.Hidden)
	}
	if c.Data != c.Height*c.Width {
		return fmt.Errorf("vae: ConvConfig: Data = %d, but the images are %d×%d", c.Data, c.Height, c.Width)
	}
	return c.Config.validate()
}

// ConvLayer is a stride-2, SAME-padded convolution (Conv2D, W [k, k,
// c_in, c_out]) or transposed convolution (ConvTranspose2D, W [k, k,
// c_out, c_in], the Keras layout) with bias B [c_out], NHWC.
type ConvLayer struct{ W, B *ad.Tensor }

// Params returns W and B.
func (l *ConvLayer) Params() []*ad.Tensor { return []*ad.Tensor{l.W, l.B} }

func (l *ConvLayer) detach() *ConvLayer { return &ConvLayer{W: l.W.Detach(), B: l.B.Detach()} }

// newConvLayer initializes W Glorot-uniform with Keras's fans for a
// convolution kernel (k²·c_in and k²·c_out) and B at zero.
func newConvLayer(rng *rand.Rand, k, a, b int) *ConvLayer {
	lim := math.Sqrt(6 / float64(k*k*(a+b)))
	w := make([]float64, k*k*a*b)
	for i := range w {
		w[i] = lim * (2*rng.Float64() - 1)
	}
	return &ConvLayer{W: ad.New(w, k, k, a, b).RequireGrad(), B: ad.Zeros(b).RequireGrad()}
}

// ConvHVAE is the convolutional hierarchical VAE of Table 1 (the
// authors' ConvBernoulliVAE), two stochastic layers z₁, z₂ with a prior
// p(z₂) that is N(0, I) or any EIM:
//
//	p(x, z₁, z₂) = p(z₂) · p(z₁ | z₂) · Π_d Bernoulli(x_d; σ(l_d(z₁, z₂)))
//	q(z₁, z₂ | x) = q(z₂ | x) · q(z₁ | x, z₂)
//
// Every conditional Gaussian is N(μ, diag σ²) with (μ, ρ) from a network
// and σ = max(ScaleMin, softplus(ρ)). The networks (NHWC, all
// convolutions 4×4, stride 2, SAME; F = 32 filters; x̄ the training mean;
// on 28×28 images the maps are 28 → 14 → 7 → 4):
//
//	q(z₂ | x):      x − x̄ → 3 × (conv F, ReLU) → flatten → dense 2·dz
//	q(z₁ | x, z₂):  [ 3 × (conv F, ReLU)(x − x̄) flattened,  tanh(dense 4·4·F (z₂)) ]
//	                → dense 300 tanh → dense 2·dz
//	p(z₁ | z₂):     dense 300 tanh → dense 300 tanh → dense 2·dz
//	p(x | z₁, z₂):  [ tanh(dense 300 (z₁)), tanh(dense 300 (z₂)) ] → dense 4·4·F tanh
//	                → reshape 4×4×F → deconv F ReLU (to 7×7) → deconv F ReLU (14×14)
//	                → deconv 1 (28×28) → + logit(clip(x̄, 10⁻⁴, 1 − 10⁻⁴)) → flatten
//
// q(z₁ | x, z₂) has its own convolutions (not shared with q(z₂ | x)), as
// in the authors' code. The transposed convolutions have the sizes of the
// encoder's maps in reverse; the authors' 4 → 8 layer followed by a crop
// to 7×7 is the same map as ConvTranspose2D to 7×7 (docs/conv.md). The
// offset is a constant (Keras's Lambda), not a trained bias; the last
// deconvolution keeps its own one-channel bias.
//
// Images are flattened rows: x is [n, H·W], as from package data.
type ConvHVAE struct {
	// Height and Width are the image size.
	Height, Width int
	// QZ2Conv and QZ2Out are q(z₂ | x)'s convolutions and dense layer.
	QZ2Conv []*ConvLayer
	QZ2Out  *nn.Linear
	// QZ1Conv, QZ1Z2 and QZ1Out are q(z₁ | x, z₂)'s convolutions on x,
	// dense tanh embedding of z₂ and the MLP on their concatenation.
	QZ1Conv []*ConvLayer
	QZ1Z2   *nn.Linear
	QZ1Out  *nn.MLP
	// PZ1 is p(z₁ | z₂)'s MLP.
	PZ1 *nn.MLP
	// PXZ1, PXZ2 and PXMid are the decoder's dense tanh layers (the
	// embeddings of z₁ and z₂, and the layer to the first map), PXDeconv
	// its transposed convolutions.
	PXZ1, PXZ2, PXMid *nn.Linear
	PXDeconv          []*ConvLayer
	// Mean is x̄ ([H·W], a constant) subtracted from the encoders' input;
	// nil means no centering.
	Mean *ad.Tensor
	// Offset is the constant added to the decoder's logits ([H·W]); nil
	// means none.
	Offset *ad.Tensor
	// Prior is p(z₂).
	Prior Prior
	// ScaleMin is the floor of every σ.
	ScaleMin float64
	// SampleChunk, ImageChunk and SharedCandidates: see Config.
	SampleChunk, ImageChunk int
	SharedCandidates        bool
}

// NewConvHVAE returns the ConvHVAE of c (zero fields: the authors'
// model) with its networks initialized from rng (Glorot-uniform weights,
// zero biases) and the decoder's logit offset at logit(clip(mean, 10⁻⁴,
// 1 − 10⁻⁴)), mean the per-pixel training mean ([H·W] values in [0, 1]),
// which also centers the encoders' input. A nil mean means no offset and
// no centering. It returns an error if a setting cannot work or mean has
// the wrong length or a value outside [0, 1].
func NewConvHVAE(rng *rand.Rand, c ConvConfig, mean []float64) (*ConvHVAE, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	dx := c.Height * c.Width
	if mean != nil && len(mean) != dx {
		return nil, fmt.Errorf("vae: NewConvHVAE: training mean of length %d, want %d", len(mean), dx)
	}
	for i, v := range mean {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("vae: NewConvHVAE: training mean[%d] = %v, want a value in [0, 1]", i, v)
		}
	}
	m := &ConvHVAE{Height: c.Height, Width: c.Width, ScaleMin: c.ScaleMin,
		SampleChunk: c.SampleChunk, ImageChunk: c.ImageChunk, SharedCandidates: c.SharedCandidates}
	hs, ws := convSizes(c.Height), convSizes(c.Width)
	flat := hs[3] * ws[3] * c.Filters
	F, k, L, H := c.Filters, c.Kernel, c.Latent, c.Hidden
	stack := func() []*ConvLayer {
		return []*ConvLayer{newConvLayer(rng, k, 1, F), newConvLayer(rng, k, F, F), newConvLayer(rng, k, F, F)}
	}
	m.QZ2Conv = stack()
	m.QZ2Out = nn.NewLinear(rng, flat, 2*L)
	m.QZ1Conv = stack()
	m.QZ1Z2 = nn.NewLinear(rng, L, flat)
	m.QZ1Out = nn.NewMLP(rng, 2*flat, H, 2*L)
	m.PZ1 = nn.NewMLP(rng, L, H, H, 2*L)
	m.PXZ1 = nn.NewLinear(rng, L, H)
	m.PXZ2 = nn.NewLinear(rng, L, H)
	m.PXMid = nn.NewLinear(rng, 2*H, flat)
	// Transposed kernels are [k, k, c_out, c_in]; Glorot's limit is
	// symmetric in the two.
	m.PXDeconv = []*ConvLayer{newConvLayer(rng, k, F, F), newConvLayer(rng, k, F, F), newConvLayer(rng, k, 1, F)}
	m.PXDeconv[2].B = ad.Zeros(1).RequireGrad() // one output channel
	if mean != nil {
		m.Mean = ad.New(append([]float64(nil), mean...), dx)
		off := make([]float64, dx)
		for i, v := range mean {
			off[i] = logit(v)
		}
		m.Offset = ad.New(off, dx)
	}
	m.Prior = newPrior(rng, c.Config)
	return m, nil
}

// convSizes returns the map sizes n, ⌈n/2⌉, ⌈n/4⌉, ⌈n/8⌉ of three
// stride-2 SAME convolutions.
func convSizes(n int) [4]int {
	var s [4]int
	s[0] = n
	for i := 1; i < 4; i++ {
		s[i] = (s[i-1] + 1) / 2
	}
	return s
}

// Latent returns the size of z₁ and of z₂.
func (m *ConvHVAE) Latent() int { return m.QZ2Out.Out() / 2 }

// Params returns every learnable tensor, named: encoder.* (q(z₂ | x),
// then q(z₁ | x, z₂)), decoder.* (p(z₁ | z₂), then p(x | z₁, z₂)) and
// prior.*, the order Adam and checkpoints need.
func (m *ConvHVAE) Params() *nn.Params {
	var enc, dec []*ad.Tensor
	for _, l := range m.QZ2Conv {
		enc = append(enc, l.Params()...)
	}
	enc = append(enc, m.QZ2Out.Params()...)
	for _, l := range m.QZ1Conv {
		enc = append(enc, l.Params()...)
	}
	enc = append(enc, m.QZ1Z2.Params()...)
	enc = append(enc, m.QZ1Out.Params()...)
	dec = append(dec, m.PZ1.Params()...)
	dec = append(dec, m.PXZ1.Params()...)
	dec = append(dec, m.PXZ2.Params()...)
	dec = append(dec, m.PXMid.Params()...)
	for _, l := range m.PXDeconv {
		dec = append(dec, l.Params()...)
	}
	var ps nn.Params
	ps.Add("encoder", enc...)
	ps.Add("decoder", dec...)
	if p := m.Prior.Params(); len(p) > 0 {
		ps.Add("prior", p...)
	}
	return &ps
}

func (m *ConvHVAE) check(who string, x *ad.Tensor) int {
	if m.Prior == nil {
		panic(fmt.Sprintf("vae: ConvHVAE.%s: nil Prior", who))
	}
	dx := m.Height * m.Width
	if x == nil || x.Rank() != 2 || x.Dim(1) != dx {
		panic(fmt.Sprintf("vae: ConvHVAE.%s: x shape %v, want [n, %d]", who, shapeOf(x), dx))
	}
	if m.Prior.Dim() != m.Latent() {
		panic(fmt.Sprintf("vae: ConvHVAE.%s: prior over %d dimensions, z₂ has %d", who, m.Prior.Dim(), m.Latent()))
	}
	return x.Dim(0)
}

// convFeatures runs a stack of stride-2 SAME convolutions with ReLU on
// the centered images x [n, H·W] and returns the last map flattened, [n,
// h₃·w₃·F].
func (m *ConvHVAE) convFeatures(stack []*ConvLayer, x *ad.Tensor) *ad.Tensor {
	n := x.Dim(0)
	if m.Mean != nil {
		x = ad.Sub(x, m.Mean)
	}
	h := ad.Reshape(x, n, m.Height, m.Width, 1)
	for _, l := range stack {
		h = ad.Relu(ad.Add(ad.Conv2D(h, l.W, 2, ad.PadSame), l.B))
	}
	return ad.Reshape(h, n, -1)
}

// gaussian returns N(μ, diag σ²) of a network output [..., 2·dz]: μ the
// first half, σ = max(ScaleMin, softplus(second half)).
func (m *ConvHVAE) gaussian(out *ad.Tensor) *dist.Normal {
	d := out.Dim(-1) / 2
	return dist.NewNormal(ad.Slice(out, -1, 0, d),
		ad.Clamp(ad.Softplus(ad.Slice(out, -1, d, 2*d)), m.ScaleMin, math.Inf(1)))
}

// qz2 returns q(z₂ | x) from the features of QZ2Conv, [n, dz].
func (m *ConvHVAE) qz2(feat *ad.Tensor) *dist.Normal { return m.gaussian(m.QZ2Out.Forward(feat)) }

// qz1 returns q(z₁ | x, z₂) from the features of QZ1Conv ([..., flat],
// broadcast against z₂'s leading axes) and z₂ [..., dz].
func (m *ConvHVAE) qz1(feat, z2 *ad.Tensor) *dist.Normal {
	e := ad.Tanh(m.QZ1Z2.Forward(z2))
	if !sameShape(feat.Shape(), e.Shape()) {
		feat = ad.BroadcastTo(feat, e.Shape()...)
	}
	return m.gaussian(m.QZ1Out.Forward(ad.Concat(-1, feat, e)))
}

// pz1 returns p(z₁ | z₂).
func (m *ConvHVAE) pz1(z2 *ad.Tensor) *dist.Normal { return m.gaussian(m.PZ1.Forward(z2)) }

// Logits returns the decoder's logits l(z₁, z₂) for z₁, z₂ [r, dz], as
// [r, H·W].
func (m *ConvHVAE) Logits(z1, z2 *ad.Tensor) *ad.Tensor {
	r := z1.Dim(0)
	h := ad.Concat(-1, ad.Tanh(m.PXZ1.Forward(z1)), ad.Tanh(m.PXZ2.Forward(z2)))
	hs, ws := convSizes(m.Height), convSizes(m.Width)
	f := m.PXMid.Out() / (hs[3] * ws[3])
	y := ad.Reshape(ad.Tanh(m.PXMid.Forward(h)), r, hs[3], ws[3], f)
	for i, l := range m.PXDeconv {
		y = ad.Add(ad.ConvTranspose2D(y, l.W, 2, ad.PadSame, hs[2-i], ws[2-i]), l.B)
		if i < len(m.PXDeconv)-1 {
			y = ad.Relu(y)
		}
	}
	y = ad.Reshape(y, r, m.Height*m.Width)
	if m.Offset != nil {
		y = ad.Add(y, m.Offset)
	}
	return y
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Objective returns the training objective for each image of x ([n,
// H·W], entries in [0, 1]), [n], to be maximized: with one
// reparameterized draw z₂ ~ q(z₂ | x), z₁ ~ q(z₁ | x, z₂) and the KL
// weight β (applied, as in the authors' HVAE, to every term but the
// likelihood),
//
//	log p(x | z₁, z₂) + β · ( B(z₂) + log p(z₁ | z₂) − log q(z₂ | x) − log q(z₁ | x, z₂) ),
//
// where B(z₂) is Prior.TrainBound (E B ≤ log p(z₂) for the EIM priors).
// At β = 1 its expectation is a lower bound on log p(x) (for LARS, an
// estimate). It is differentiable in every parameter.
func (m *ConvHVAE) Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor {
	n := m.check("Objective", x)
	d := m.Latent()
	e2 := ad.Randn(rng, n, d)
	e1 := ad.Randn(rng, n, d)
	return m.objectiveAt(rng, x, e2, e1, beta)
}

// objectiveAt is Objective at the standard normal draws e2, e1 [n, dz]
// behind z₂ and z₁ (the prior's randomness still from rng).
func (m *ConvHVAE) objectiveAt(rng *rand.Rand, x, e2, e1 *ad.Tensor, beta float64) *ad.Tensor {
	q2 := m.qz2(m.convFeatures(m.QZ2Conv, x))
	z2 := ad.Add(q2.Loc(), ad.Mul(q2.Scale(), e2))
	q1 := m.qz1(m.convFeatures(m.QZ1Conv, x), z2)
	z1 := ad.Add(q1.Loc(), ad.Mul(q1.Scale(), e1))
	ll := dist.NewBernoulli(m.Logits(z1, z2)).LogProb(x)
	kl := ad.Sub(ad.Add(m.Prior.TrainBound(rng, z2), m.pz1(z2).LogProb(z1)), ad.Add(q2.LogProb(z2), q1.LogProb(z1)))
	if beta != 1 {
		kl = ad.MulScalar(kl, beta)
	}
	return ad.Add(ll, kl)
}

// TrainStep takes one training step on the batch x, as Model.TrainStep
// does: the loss −mean Objective, its gradient with respect to params
// (m.Params().Tensors(), built once by the caller), an Adam step, for
// LARS the update of the moving average of Z, and ad.Release of the
// step's graph. It returns the batch mean of the objective before the
// step, and ErrNotFinite (changing nothing) if it is not finite.
func (m *ConvHVAE) TrainStep(rng *rand.Rand, opt *nn.Adam, params []*ad.Tensor, x *ad.Tensor, beta float64) (float64, error) {
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

// SampleMeans draws n exact samples z₂ ~ p(z₂), z₁ ~ p(z₁ | z₂) and
// returns the decoder's Bernoulli means σ(l(z₁, z₂)), [n, H·W] (for
// sample grids).
func (m *ConvHVAE) SampleMeans(rng *rand.Rand, n int) *ad.Tensor {
	if n < 0 {
		panic(fmt.Sprintf("vae: ConvHVAE.SampleMeans: n = %d", n))
	}
	c := m.detached()
	z2 := evalPrior(m.Prior).Sample(rng, n).Detach()
	z1 := c.pz1(z2).Sample(rng)
	return ad.Sigmoid(c.Logits(z1, z2))
}

// detached returns a copy of m whose networks share m's weights as
// constants (the prior is not copied: the evaluation handles it).
func (m *ConvHVAE) detached() *ConvHVAE {
	c := *m
	dl := func(ls []*ConvLayer) []*ConvLayer {
		out := make([]*ConvLayer, len(ls))
		for i, l := range ls {
			out[i] = l.detach()
		}
		return out
	}
	dlin := func(l *nn.Linear) *nn.Linear { return &nn.Linear{W: l.W.Detach(), B: l.B.Detach()} }
	c.QZ2Conv, c.QZ1Conv, c.PXDeconv = dl(m.QZ2Conv), dl(m.QZ1Conv), dl(m.PXDeconv)
	c.QZ2Out, c.QZ1Z2, c.PXZ1, c.PXZ2, c.PXMid = dlin(m.QZ2Out), dlin(m.QZ1Z2), dlin(m.PXZ1), dlin(m.PXZ2), dlin(m.PXMid)
	c.QZ1Out, c.PZ1 = detachMLP(m.QZ1Out), detachMLP(m.PZ1)
	return &c
}

// Stream kinds of the ConvHVAE's evaluation, beside those of eval.go: the
// normal draws behind z₂ and z₁ of each image, s in order.
const (
	streamZ2 = 101 + iota // (image): ε behind z₂ ~ q(z₂ | x_image)
	streamZ1              // (image): ε behind z₁ ~ q(z₁ | x_image, z₂)
)

// LogWeights returns the S log importance weights of each image of x
// ([n, H·W]), [S, n]:
//
//	log w_s = log p(x | z₁ˢ, z₂ˢ) + log p̂(z₂ˢ) + log p(z₁ˢ | z₂ˢ) − log q(z₂ˢ | x) − log q(z₁ˢ | x, z₂ˢ),
//
// (z₂ˢ, z₁ˢ) ~ q(z₂ | x) q(z₁ | x, z₂), with log p̂(z₂) the prior's
// unbiased density estimate, exactly as Model.LogWeights (see the
// package doc: E w_s = p(x), since p̂(z₂) is drawn given z₂ and nothing
// else depends on its randomness). The work is chunked as Model's, with
// no gradient graph, and the result is the same bits for any chunk
// sizes. Errors and panics as Model.LogWeights.
func (m *ConvHVAE) LogWeights(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error) {
	n := m.check("LogWeights", x)
	out := make([]float64, S*n)
	err := m.walk(ctx, rng, x, S, func(i0, nc int, w []float64) {
		for s := range S {
			copy(out[s*n+i0:s*n+i0+nc], w[s*nc:(s+1)*nc])
		}
	})
	if err != nil {
		return nil, err
	}
	return ad.New(out, S, n), nil
}

// Eval returns the S-sample bound log (1/S) Σ_s w_s of each image of x
// ([n, H·W]), w_s as in LogWeights: in expectation a lower bound on
// log p(x) (for LARS, the plug-in estimate). Chunks, errors and panics
// as Model.Eval.
func (m *ConvHVAE) Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
	n := m.check("Eval", x)
	out := make([]float64, n)
	err := m.walk(ctx, rng, x, S, func(i0, nc int, w []float64) { logMeanExpColumns(w, S, nc, out[i0:i0+nc]) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// logMeanExpColumns sets out[i] = log (1/S) Σ_s exp w[s·nc + i], the sum
// over s in order.
func logMeanExpColumns(w []float64, S, nc int, out []float64) {
	logS := math.Log(float64(S))
	for i := range nc {
		mx := math.Inf(-1)
		for s := range S {
			mx = max(mx, w[s*nc+i])
		}
		if math.IsInf(mx, 0) || math.IsNaN(mx) {
			out[i] = mx
			continue
		}
		sum := 0.0
		for s := range S {
			sum += math.Exp(w[s*nc+i] - mx)
		}
		out[i] = mx + math.Log(sum) - logS
	}
}

// normals fills a [k, nc, d] tensor with the next k·d standard normals of
// each image's stream, sample by sample.
func normals(rs []*rand.Rand, k, d int) *ad.Tensor {
	nc := len(rs)
	eps := make([]float64, k*nc*d)
	for i, r := range rs {
		for s := range k {
			row := eps[(s*nc+i)*d : (s*nc+i+1)*d]
			for j := range row {
				row[j] = r.NormFloat64()
			}
		}
	}
	return ad.New(eps, k, nc, d)
}

func (m *ConvHVAE) walk(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int, visit func(i0, nc int, w []float64)) error {
	if S < 1 {
		panic(fmt.Sprintf("vae: ConvHVAE.Eval: S = %d, want S ≥ 1", S))
	}
	n, dx := x.Dim(0), x.Dim(1)
	for j, v := range x.Data() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("vae: ConvHVAE.Eval: image %d, pixel %d is %v", j/dx, j%dx, v)
		}
	}
	sc, ic := m.SampleChunk, m.ImageChunk
	if ic <= 0 {
		ic = 100
	}
	if sc <= 0 {
		sc = max(1, 4096/ic)
	}
	if _, ok := m.Prior.(HISPrior); ok {
		sc = (sc + hisBlock - 1) / hisBlock * hisBlock
	}
	st := streams{rng.Uint64(), rng.Uint64()}
	x = x.Detach()
	c := m.detached()
	d := m.Latent()
	pe, err := newPriorEvalFor(ctx, st, S, m.Prior, m.SharedCandidates)
	if err != nil {
		return err
	}
	for i0 := 0; i0 < n; i0 += ic {
		nc := min(ic, n-i0)
		xc := ad.Slice(x, 0, i0, i0+nc)
		q2 := c.qz2(rowwise(xc, func(b *ad.Tensor) *ad.Tensor { return c.convFeatures(c.QZ2Conv, b) }))
		f1 := rowwise(xc, func(b *ad.Tensor) *ad.Tensor { return c.convFeatures(c.QZ1Conv, b) })
		flat := f1.Dim(1)
		r2, r1 := make([]*rand.Rand, nc), make([]*rand.Rand, nc)
		for i := range nc {
			r2[i], r1[i] = st.rng(streamZ2, i0+i, 0), st.rng(streamZ1, i0+i, 0)
		}
		w := make([]float64, S*nc)
		for s0 := 0; s0 < S; s0 += sc {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(sc, S-s0)
			z2 := ad.Add(q2.Loc(), ad.Mul(q2.Scale(), normals(r2, k, d))) // [k, nc, d]
			lq2 := q2.LogProb(z2)
			z2f := ad.Reshape(z2, k*nc, d)
			in1 := ad.Concat(-1, ad.Reshape(ad.BroadcastTo(f1, k, nc, flat), k*nc, flat), z2f)
			q1 := c.gaussian(rowwise(in1, func(b *ad.Tensor) *ad.Tensor {
				return c.QZ1Out.Forward(ad.Concat(-1, ad.Slice(b, -1, 0, flat), ad.Tanh(c.QZ1Z2.Forward(ad.Slice(b, -1, flat, flat+d)))))
			}))
			z1 := ad.Add(q1.Loc(), ad.Mul(q1.Scale(), ad.Reshape(normals(r1, k, d), k*nc, d)))
			lq1 := q1.LogProb(z1)
			lpz1 := c.gaussian(rowwise(z2f, c.PZ1.Forward)).LogProb(z1)
			zz := ad.Concat(-1, z1, z2f)
			logits := rowwise(zz, func(b *ad.Tensor) *ad.Tensor {
				return c.Logits(ad.Slice(b, -1, 0, d), ad.Slice(b, -1, d, 2*d))
			})
			ll := dist.NewBernoulli(ad.Reshape(logits, k, nc, dx)).LogProb(xc)
			lp, err := pe.estimates(ctx, s0, i0, z2)
			if err != nil {
				return err
			}
			lw := ad.Add(ad.Sub(ad.Add(ll, lp), lq2), ad.Reshape(ad.Sub(lpz1, lq1), k, nc))
			copy(w[s0*nc:(s0+k)*nc], lw.Data())
		}
		visit(i0, nc, w)
	}
	return nil
}
