package vae

import (
	"fmt"
	"slices"
)

// PriorKind names the prior p(z) of a Model.
type PriorKind string

// The priors of Table 1's VAE rows.
const (
	Gaussian PriorKind = "gaussian" // N(0, I)
	TRS      PriorKind = "trs"      // truncated rejection sampling, Sec. 3.1
	SNIS     PriorKind = "snis"     // self-normalized importance sampling, Sec. 3.2
	HIS      PriorKind = "his"      // Hamiltonian importance sampling, Sec. 3.3
	LARS     PriorKind = "lars"     // learned accept/reject sampling (Bauer & Mnih 2018)
)

// PriorKinds lists every prior, in the order of Table 1.
var PriorKinds = []PriorKind{Gaussian, LARS, TRS, SNIS, HIS}

// ParsePriorKind returns the PriorKind named s, or an error listing the
// valid names.
func ParsePriorKind(s string) (PriorKind, error) {
	for _, k := range PriorKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("vae: unknown prior %q (want one of gaussian, lars, trs, snis, his)", s)
}

// Config holds a Model's sizes. The zero value is the paper's MNIST model
// (App. D.2, with the authors' code for what the text leaves open); every
// zero field means the default given beside it.
type Config struct {
	// Prior is the prior over z; "" means Gaussian.
	Prior PriorKind
	// Data is the data dimension; 0 means 784 (28×28 images).
	Data int
	// Latent is the dimension of z; 0 means 50.
	Latent int
	// EncoderHidden and DecoderHidden are the hidden widths of the tanh
	// MLPs of q(z | x) and p(x | z); nil means 300, 300.
	EncoderHidden, DecoderHidden []int
	// EnergyHidden are the hidden widths of the energy MLP U(z) of the
	// EIM priors; nil means 100, 100.
	EnergyHidden []int
	// K is SNIS's number of candidates and the number of proposal draws
	// behind LARS's per-step estimate of Z; 0 means 1024.
	K int
	// TRST is TRS's truncation T; 0 means 1024: the authors' code sets it
	// to the same flag as SNIS's K (rejection_sampling T = FLAGS.K), which
	// the paper's runs set to 1024.
	TRST int
	// LARST is LARS's truncation T; 0 means 100 (the authors' lars_T).
	LARST int
	// HIST is HIS's number of leapfrog steps; 0 means 5.
	HIST int
	// HISQHidden are the hidden widths of HIS's q(ρ_T | z) network; nil
	// means 300, 300 (the authors' code uses the q_hidden_sizes flag here,
	// the encoder's widths).
	HISQHidden []int
	// HISInitAlpha is the initial temperature α_t (t ≥ 1) of HIS; 0 means
	// 0.9995 (the authors' his_init_alpha). The step size starts at 0.1.
	HISInitAlpha float64
	// LARSEvalDraws is the number of proposal draws behind the plug-in Z
	// with which LARS is evaluated; 0 means 10⁸ (Bauer & Mnih used 10¹⁰).
	LARSEvalDraws int
	// ScaleMin is the smallest standard deviation of q(z | x); 0 means
	// 10⁻⁵ (the authors' scale_min).
	ScaleMin float64
	// SampleChunk and ImageChunk bound the work of one step of the
	// evaluation: SampleChunk samples of ImageChunk images at a time.
	// 0 means ImageChunk = 100 and SampleChunk = max(1, 4096/ImageChunk);
	// with a HIS prior SampleChunk is rounded up to a multiple of 40. The
	// results are the same bits for any chunk sizes. Peak memory grows
	// with SampleChunk·ImageChunk (217 MB of resident memory in all for
	// the paper's model at the defaults, S = 1000 and 100 images).
	SampleChunk, ImageChunk int
	// SharedCandidates makes the evaluation of an SNIS prior draw one set
	// of K − 1 candidates for all S samples (and all images), as the
	// authors' code does, instead of one set per sample index. Both are
	// unbiased (see the package doc); the shared set gives a looser bound
	// and costs K − 1 energy evaluations instead of S·(K − 1).
	SharedCandidates bool
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Prior == "" {
		c.Prior = Gaussian
	}
	def(&c.Data, 784)
	def(&c.Latent, 50)
	def(&c.K, 1024)
	def(&c.TRST, 1024)
	def(&c.LARST, 100)
	def(&c.HIST, 5)
	def(&c.LARSEvalDraws, 100_000_000)
	def(&c.ImageChunk, 100)
	def(&c.SampleChunk, max(1, 4096/c.ImageChunk))
	if c.EncoderHidden == nil {
		c.EncoderHidden = []int{300, 300}
	}
	if c.DecoderHidden == nil {
		c.DecoderHidden = []int{300, 300}
	}
	if c.EnergyHidden == nil {
		c.EnergyHidden = []int{100, 100}
	}
	if c.HISQHidden == nil {
		c.HISQHidden = []int{300, 300}
	}
	if c.HISInitAlpha == 0 {
		c.HISInitAlpha = 0.9995
	}
	if c.ScaleMin == 0 {
		c.ScaleMin = 1e-5
	}
	c.EncoderHidden = slices.Clone(c.EncoderHidden)
	c.DecoderHidden = slices.Clone(c.DecoderHidden)
	c.EnergyHidden = slices.Clone(c.EnergyHidden)
	c.HISQHidden = slices.Clone(c.HISQHidden)
	return c
}

// validate returns an error naming the first setting that cannot work.
func (c Config) validate() error {
	if _, err := ParsePriorKind(string(c.Prior)); err != nil {
		return err
	}
	pos := []struct {
		name string
		v    int
	}{{"Data", c.Data}, {"Latent", c.Latent}, {"K", c.K}, {"TRST", c.TRST}, {"LARST", c.LARST},
		{"HIST", c.HIST}, {"LARSEvalDraws", c.LARSEvalDraws}, {"SampleChunk", c.SampleChunk}, {"ImageChunk", c.ImageChunk}}
	for _, p := range pos {
		if p.v < 1 {
			return fmt.Errorf("vae: Config.%s = %d, want ≥ 1", p.name, p.v)
		}
	}
	widths := []struct {
		name string
		hs   []int
	}{{"EncoderHidden", c.EncoderHidden}, {"DecoderHidden", c.DecoderHidden},
		{"EnergyHidden", c.EnergyHidden}, {"HISQHidden", c.HISQHidden}}
	for _, w := range widths {
		for _, h := range w.hs {
			if h < 1 {
				return fmt.Errorf("vae: Config.%s = %v, want widths ≥ 1", w.name, w.hs)
			}
		}
	}
	if !(c.HISInitAlpha > 0 && c.HISInitAlpha < 1) {
		return fmt.Errorf("vae: Config.HISInitAlpha = %v, want 0 < α < 1", c.HISInitAlpha)
	}
	if !(c.ScaleMin > 0) {
		return fmt.Errorf("vae: Config.ScaleMin = %v, want > 0", c.ScaleMin)
	}
	return nil
}
