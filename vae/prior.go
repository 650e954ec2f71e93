package vae

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
)

// Prior is the prior p(z) of a Model: exact samples, and the term that
// replaces log p(z) in the training objective. How each prior is
// evaluated (the unbiased density estimate p̂(z) of the S-sample bound)
// is fixed by its concrete type; see Model.LogWeights.
type Prior interface {
	// Kind names the prior.
	Kind() PriorKind
	// Dim returns dz.
	Dim() int
	// Params returns the learnable tensors (none for N(0, I)).
	Params() []*ad.Tensor
	// Sample draws n exact samples, [n, dz], as constants.
	Sample(rng *rand.Rand, n int) *ad.Tensor
	// TrainBound returns the prior's term of the training objective for
	// z [n, dz], [n], differentiable in z and the prior's parameters: log
	// N(z; 0, I), the EIM's lower-bound integrand, or LARS's plug-in
	// log-density.
	TrainBound(rng *rand.Rand, z *ad.Tensor) *ad.Tensor
}

// GaussianPrior is N(0, I) in D dimensions.
type GaussianPrior struct{ D int }

// SNISPrior is SNIS(π, U, K) over z (Sec. 3.2); training uses the
// Eq. (3) integrand with K − 1 candidates shared by the batch.
type SNISPrior struct{ Model *eimfamily.SNIS }

// TRSPrior is TRS(π, U, T) over z (Sec. 3.1); training uses TRS.Bound,
// the integrand averaged over the index exactly.
type TRSPrior struct{ Model *eimfamily.TRS }

// HISPrior is HIS(π, U, T) over z (Sec. 3.3); training uses the
// one-sample integrand with ρ_T ~ q(ρ_T | z).
type HISPrior struct{ Model *eimfamily.HIS }

// LARSPrior is LARS (Bauer & Mnih 2018) over z: trained on the plug-in
// log-density with the moving-average Z of eimfamily.LARS.TrainBound,
// evaluated with a plug-in Z from EvalDraws proposal draws.
type LARSPrior struct {
	Model *eimfamily.LARS
	// EvalDraws is the number of proposal draws behind the plug-in Z of
	// the evaluation.
	EvalDraws int

	pending float64 // Z_smooth of the last TrainBound, stored by Commit
	z       *eimfamily.ZEstimate
	zKey    uint64 // hash of the parameters z was estimated at
}

var (
	_ Prior = GaussianPrior{}
	_ Prior = SNISPrior{}
	_ Prior = TRSPrior{}
	_ Prior = HISPrior{}
	_ Prior = (*LARSPrior)(nil)
)

// NewPrior returns the prior c.Prior with c's sizes (defaults applied),
// its networks initialized from rng: proposal N(0, I) over z and energy
// MLP dz-EnergyHidden-1 (tanh) for every EIM.
func NewPrior(rng *rand.Rand, c Config) (Prior, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return newPrior(rng, c), nil
}

func newPrior(rng *rand.Rand, c Config) Prior {
	d := c.Latent
	if c.Prior == Gaussian {
		return GaussianPrior{D: d}
	}
	prop := eimfamily.NewStdNormal(d, 1)
	energy := eimfamily.NewMLPEnergy(rng, d, 0, c.EnergyHidden...)
	switch c.Prior {
	case SNIS:
		return SNISPrior{&eimfamily.SNIS{Proposal: prop, Energy: energy, K: c.K}}
	case TRS:
		return TRSPrior{eimfamily.NewTRS(prop, energy, c.TRST)}
	case HIS:
		h := eimfamily.NewHIS(rng, prop, energy, c.HIST, 0, c.HISQHidden...)
		raw := h.RawAlpha.Data()
		for i := range raw {
			raw[i] = math.Log(c.HISInitAlpha) - math.Log1p(-c.HISInitAlpha)
		}
		return HISPrior{h}
	case LARS:
		return &LARSPrior{Model: eimfamily.NewLARS(prop, energy, c.LARST, c.K), EvalDraws: c.LARSEvalDraws}
	}
	panic(fmt.Sprintf("vae: unknown prior %q", c.Prior))
}

func checkZ(who string, z *ad.Tensor, d int) {
	if z == nil || z.Rank() != 2 || z.Dim(1) != d {
		panic(fmt.Sprintf("vae: %s: z shape %v, want [n, %d]", who, shapeOf(z), d))
	}
}

// Kind returns Gaussian.
func (GaussianPrior) Kind() PriorKind { return Gaussian }

// Dim returns D.
func (p GaussianPrior) Dim() int { return p.D }

// Params returns nil.
func (GaussianPrior) Params() []*ad.Tensor { return nil }

// Sample draws n standard normal vectors.
func (p GaussianPrior) Sample(rng *rand.Rand, n int) *ad.Tensor { return ad.Randn(rng, n, p.D) }

// TrainBound returns log N(z; 0, I).
func (p GaussianPrior) TrainBound(_ *rand.Rand, z *ad.Tensor) *ad.Tensor {
	checkZ("GaussianPrior.TrainBound", z, p.D)
	return stdNormalLogProb(z)
}

// stdNormalLogProb returns Σ_j log N(z_j; 0, 1) over the last axis.
func stdNormalLogProb(z *ad.Tensor) *ad.Tensor {
	d := z.Dim(-1)
	return ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(z), -1), -0.5), -0.5*float64(d)*math.Log(2*math.Pi))
}

// Kind returns SNIS.
func (SNISPrior) Kind() PriorKind { return SNIS }

// Dim returns dz.
func (p SNISPrior) Dim() int { return p.Model.Proposal.Dim() }

// Params returns the energy's (and a learned proposal's) parameters.
func (p SNISPrior) Params() []*ad.Tensor { return p.Model.Params() }

// Sample draws n exact samples by Alg. 2.
func (p SNISPrior) Sample(rng *rand.Rand, n int) *ad.Tensor { return p.Model.Sample(rng, nil, n) }

// TrainBound returns the Eq. (3) integrand, candidates shared by the batch.
func (p SNISPrior) TrainBound(rng *rand.Rand, z *ad.Tensor) *ad.Tensor {
	checkZ("SNISPrior.TrainBound", z, p.Dim())
	return p.Model.Bound(rng, nil, z)
}

// Kind returns TRS.
func (TRSPrior) Kind() PriorKind { return TRS }

// Dim returns dz.
func (p TRSPrior) Dim() int { return p.Model.Proposal.Dim() }

// Params returns the energy's parameters and LogitZ.
func (p TRSPrior) Params() []*ad.Tensor { return p.Model.Params() }

// Sample draws n exact samples by Alg. 1.
func (p TRSPrior) Sample(rng *rand.Rand, n int) *ad.Tensor { return p.Model.Sample(rng, nil, n) }

// TrainBound returns TRS.Bound, rejected draws shared by the batch.
func (p TRSPrior) TrainBound(rng *rand.Rand, z *ad.Tensor) *ad.Tensor {
	checkZ("TRSPrior.TrainBound", z, p.Dim())
	return p.Model.Bound(rng, nil, z)
}

// Kind returns HIS.
func (HISPrior) Kind() PriorKind { return HIS }

// Dim returns dz.
func (p HISPrior) Dim() int { return p.Model.Dim() }

// Params returns the energy's, the step size's, the temperatures' and
// q(ρ_T | z)'s parameters.
func (p HISPrior) Params() []*ad.Tensor { return p.Model.Params() }

// Sample draws n exact samples by Alg. 3.
func (p HISPrior) Sample(rng *rand.Rand, n int) *ad.Tensor { return p.Model.Sample(rng, nil, n) }

// TrainBound returns one draw of the HIS integrand.
func (p HISPrior) TrainBound(rng *rand.Rand, z *ad.Tensor) *ad.Tensor {
	checkZ("HISPrior.TrainBound", z, p.Dim())
	return p.Model.Bound(rng, nil, z)
}

// Kind returns LARS.
func (*LARSPrior) Kind() PriorKind { return LARS }

// Dim returns dz.
func (p *LARSPrior) Dim() int { return p.Model.Proposal.Dim() }

// Params returns the energy's parameters.
func (p *LARSPrior) Params() []*ad.Tensor { return p.Model.Params() }

// Sample draws n exact samples of the TRS process with truncation T.
func (p *LARSPrior) Sample(rng *rand.Rand, n int) *ad.Tensor { return p.Model.Sample(rng, nil, n) }

// TrainBound returns LARS's training objective (the plug-in log-density
// at the smoothed Z) and keeps Z_smooth for Commit.
func (p *LARSPrior) TrainBound(rng *rand.Rand, z *ad.Tensor) *ad.Tensor {
	checkZ("LARSPrior.TrainBound", z, p.Dim())
	obj, zs := p.Model.TrainBound(rng, nil, z)
	p.pending = zs
	return obj
}

// Commit stores the Z_smooth of the last TrainBound as the moving
// average (eimfamily.LARS.ZAvg); call it after the optimizer step, as
// Model.TrainStep does.
func (p *LARSPrior) Commit() {
	if p.pending > 0 {
		p.Model.ZAvg = p.pending
	}
}

// EvalZ returns the plug-in estimate of Z used by the evaluation, if one
// was computed at the current parameters.
func (p *LARSPrior) EvalZ() (eimfamily.ZEstimate, bool) {
	if p.z == nil || p.zKey != paramsKey(p.Params()) {
		return eimfamily.ZEstimate{}, false
	}
	return *p.z, true
}

// SetEvalZ sets the plug-in estimate of Z for the current parameters (a
// value saved with a checkpoint, or an exact Z in tests).
func (p *LARSPrior) SetEvalZ(z eimfamily.ZEstimate) {
	if len(z.Z) != 1 || !(z.Z[0] > 0 && z.Z[0] <= 1) {
		panic(fmt.Sprintf("vae: LARSPrior.SetEvalZ: Z = %v, want one value in (0, 1]", z.Z))
	}
	p.z, p.zKey = &z, paramsKey(p.Params())
}

// ensureZ estimates Z from EvalDraws proposal draws unless an estimate at
// the current parameters exists.
func (p *LARSPrior) ensureZ(ctx context.Context, rng *rand.Rand) error {
	if _, ok := p.EvalZ(); ok {
		return nil
	}
	m := *p.Model // the energy's weights as constants: no graph is recorded
	m.Energy = detachEnergy(m.Energy)
	z, err := m.EstimateZ(ctx, rng, nil, p.EvalDraws)
	if err != nil {
		return err
	}
	p.SetEvalZ(z)
	return nil
}

// paramsKey is an FNV-1a hash of the parameters' bits: a cached estimate
// of Z is used only at the parameters it was computed at.
func paramsKey(ps []*ad.Tensor) uint64 {
	h := uint64(14695981039346656037)
	for _, t := range ps {
		for _, v := range t.Data() {
			u := math.Float64bits(v)
			for range 8 {
				h ^= u & 0xff
				h *= 1099511628211
				u >>= 8
			}
		}
	}
	return h
}

// evalPrior returns a copy of p whose networks share p's weights as
// constants, so that the evaluation records no graph. Priors with
// networks of other types are returned as they are.
func evalPrior(p Prior) Prior {
	switch p := p.(type) {
	case SNISPrior:
		m := *p.Model
		m.Energy = detachEnergy(m.Energy)
		return SNISPrior{&m}
	case TRSPrior:
		m := *p.Model
		m.Energy = detachEnergy(m.Energy)
		if m.LogitZ != nil {
			m.LogitZ = m.LogitZ.Detach()
		}
		return TRSPrior{&m}
	case HISPrior:
		m := *p.Model
		m.Energy = detachEnergy(m.Energy)
		m.RawEps, m.RawAlpha, m.Q = m.RawEps.Detach(), m.RawAlpha.Detach(), detachMLP(m.Q)
		return HISPrior{&m}
	}
	return p
}

func detachEnergy(e eimfamily.Energy) eimfamily.Energy {
	if m, ok := e.(*eimfamily.MLPEnergy); ok {
		return &eimfamily.MLPEnergy{Net: detachMLP(m.Net)}
	}
	return e
}
