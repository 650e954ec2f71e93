package vae

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
)

// NewGaussianModel returns the VAE of c with a Gaussian decoder, for the
// continuous (logit-space) data of Table 2:
//
//	p(x | z) = N(x; Net(z), diag σ²),   σ = max(ScaleMin, softplus(RawScale)),
//
// with a learned per-dimension RawScale that starts at σ = 1, as the
// authors' GaussianVAE with decoder_nn_scale false
// (softplus⁻¹(1) + ScaleMin inside the log, their raw_scale_init).
// Encoder, prior and sizes are NewModel's. mean ([Data] finite values,
// in the data's space) if not nil centers the encoder's input and starts
// the decoder's output bias at mean; the authors instead center the
// logit-space data before the model sees it (SquashedDistribution), which
// is this model at mean nil on centered data (CenterLogits). It returns
// NewModel's errors and an error if mean has the wrong length or a value
// that is not finite.
func NewGaussianModel(rng *rand.Rand, c Config, mean []float64) (*Model, error) {
	m, err := NewModel(rng, c, nil)
	if err != nil {
		return nil, err
	}
	c = c.withDefaults()
	if mean != nil && len(mean) != c.Data {
		return nil, fmt.Errorf("vae: NewGaussianModel: mean of length %d, want %d", len(mean), c.Data)
	}
	for i, v := range mean {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("vae: NewGaussianModel: mean[%d] = %v", i, v)
		}
	}
	raw := make([]float64, c.Data)
	for i := range raw {
		raw[i] = math.Log(math.E - 1 + c.ScaleMin)
	}
	m.Decoder.RawScale = ad.New(raw, c.Data).RequireGrad()
	m.Decoder.ScaleMin = c.ScaleMin
	if mean != nil {
		m.Encoder.(*Encoder).Mean = ad.New(append([]float64(nil), mean...), c.Data)
		copy(m.Decoder.Net.Layers[len(m.Decoder.Net.Layers)-1].B.Data(), mean)
	}
	return m, nil
}

// SmallContinuousConfig is the "small VAE" of Table 2 (App. D.3) with a
// Gaussian decoder: one tanh layer of 20 units in the encoder and the
// decoder and a 10-dimensional latent, prior N(0, I). The full VAE is
// Config's zero value with NewGaussianModel.
func SmallContinuousConfig() Config {
	return Config{Latent: 10, EncoderHidden: []int{20}, DecoderHidden: []int{20}}
}

// Table 2's EIM sizes over continuous data (App. D.3): SNIS with K = 128
// candidates and HIS with T = 5 leapfrog steps.
const (
	ContinuousSNISK = 128
	ContinuousHIST  = 5
)

// CenterLogits returns s − s̄ for logit-space images s ([n, D]) and the
// logit-space mean s̄ ([D]): the authors' SquashedDistribution fits its
// model to the logit of the data minus the logit of the data mean (a
// shift, so no change to the log-determinant).
func CenterLogits(s *ad.Tensor, mean []float64) *ad.Tensor {
	if s.Rank() != 2 || s.Dim(1) != len(mean) {
		panic(fmt.Sprintf("vae: CenterLogits: s shape %v, mean of length %d", s.Shape(), len(mean)))
	}
	return ad.Sub(s, ad.New(append([]float64(nil), mean...), len(mean))).Detach()
}

// PixelLogLik converts log-likelihoods of logit-space images to the
// 8-bit pixel scale on which Table 2 reports them. With y ∈ [0, 1]ᴰ the
// dequantized intensities ((x + u)/256, u ~ U[0, 1)ᴰ), s = t(y) the
// logit transform (possibly shifted by a constant, CenterLogits) and
// x̃ = 256·y the dequantized 8-bit image,
//
//	log p(x̃) = log p_S(s) + log |ds/dy| − D·log 256,
//
// (data.LogitTransform.LogDet and data.LogPixelLevels), which is the
// authors' SquashedDistribution.log_prob: the inverse log-determinant of
// their bijector 256·((1 + ε)σ(s) − ε/2) (data.LogitTransform's doc),
// a density on [0, 256)ᴰ whose expectation over u lower-bounds log P(x)
// of the integer image. logitLL has one value per row of y ([n, D]); a
// bound in logit space stays a bound, since the terms added do not
// depend on the model. It panics if the lengths disagree.
func PixelLogLik(logitLL []float64, y *ad.Tensor, t data.LogitTransform) []float64 {
	if y.Rank() != 2 || y.Dim(0) != len(logitLL) {
		panic(fmt.Sprintf("vae: PixelLogLik: %d values for images %v", len(logitLL), y.Shape()))
	}
	n, d := y.Dim(0), y.Dim(1)
	out := make([]float64, n)
	for i := range n {
		out[i] = logitLL[i] + t.LogDet(y.Data()[i*d:(i+1)*d]) - float64(d)*data.LogPixelLevels
	}
	return out
}
