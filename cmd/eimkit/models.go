package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Model names accepted by -model, in the order of the results table.
var modelNames = []string{"trs", "snis", "his", "lars"}

// model is what the synthetic experiment needs from a family: a training
// objective, exact samples and a test-time estimate of log p(x). Each
// family of eimfamily is wrapped by a small adapter below.
type model interface {
	// objective returns the per-point training objective, [n], for the
	// batch x [n, 2]; the training loop maximizes its mean. For TRS, SNIS
	// and HIS it is the family's lower bound; for LARS it is LARS's own
	// objective.
	objective(rng *rand.Rand, x *ad.Tensor) *ad.Tensor
	// sample draws n exact samples from the model, [n, 2]. It may stop
	// early, returning nil, once ctx is cancelled.
	sample(ctx context.Context, rng *rand.Rand, n int) *ad.Tensor
	// evaluate returns, for each point of x [n, 2], the test-time estimate
	// of log p(x) described by evalMethod.
	evaluate(ctx context.Context, rng *rand.Rand, x *ad.Tensor, ev evalSettings) (evalOutput, error)
	// evalMethod describes evaluate's estimate for the results table.
	evalMethod(ev evalSettings) string
}

// stateful is a model with training state beyond its parameters (LARS's
// moving average of Z). commit is called after each optimizer step;
// MarshalText and UnmarshalText carry the state through a checkpoint
// exactly (it is the run's experiment.Run.State).
type stateful interface {
	commit()
	MarshalText() ([]byte, error)
	UnmarshalText(b []byte) error
}

// evalOutput is the result of model.evaluate.
type evalOutput struct {
	values []float64 // per-point estimates of log p(x)
	// z and zStdErr are LARS's estimate of Z = E_π[σ(−U)] and its
	// standard error (zero for the other models).
	z, zStdErr float64
}

// modelSettings are the flags that define a model and its training run:
// two runs with equal settings (and seed) are the same computation.
type modelSettings struct {
	K           int     // SNIS and LARS candidates
	TRST        int     // truncation of the TRS and LARS samplers
	HIST        int     // HIS leapfrog steps
	Hidden      []int   // energy (and HIS's q) hidden widths
	ProposalVar float64 // variance of the fixed proposal N(0, v·I)
	Batch       int
	LR          float64
}

// evalSettings are the flags of the held-out evaluation.
type evalSettings struct {
	Points       int // held-out points from the target
	Samples      int // S of the S-sample bound (TRS, SNIS, HIS)
	LARSZSamples int // proposal draws for LARS's estimate of Z
	PlotSamples  int // exact samples for the learned-density panel
}

// newModel builds the named model with parameters initialized from rng
// and returns it with its parameters: the family's Params, in its order,
// under the model's name (snis.0, snis.1, …), which is what checkpoints
// store.
func newModel(name string, rng *rand.Rand, ms modelSettings) (model, *nn.Params, error) {
	const d = 2
	proposal := eimfamily.NewStdNormal(d, ms.ProposalVar)
	energy := eimfamily.NewMLPEnergy(rng, d, 0, ms.Hidden...)
	var (
		m      model
		params []*ad.Tensor
	)
	switch name {
	case "snis":
		f := &eimfamily.SNIS{Proposal: proposal, Energy: energy, K: ms.K}
		// A draw is K − 1 candidates shared by all points.
		perCall := func(n int) int { return max(1, (1<<16)/ms.K) }
		m, params = &snisModel{boundModel{fam: f, perCall: perCall}, f}, f.Params()
	case "trs":
		f := eimfamily.NewTRS(proposal, energy, ms.TRST)
		// A draw is up to T − 1 rejected candidates shared by all points,
		// and Integrands masks them with an [s, T − 1, n] tensor.
		perCall := func(n int) int { return max(1, (1<<22)/(ms.TRST*n)) }
		m, params = &boundModel{fam: f, perCall: perCall}, f.Params()
	case "his":
		f := eimfamily.NewHIS(rng, proposal, energy, ms.HIST, 0, ms.Hidden...)
		// A draw is T + 1 gradients of U at each point.
		perCall := func(n int) int { return max(1, (1<<16)/(n*(ms.HIST+1))) }
		m, params = &boundModel{fam: f, perCall: perCall}, f.Params()
	case "lars":
		f := eimfamily.NewLARS(proposal, energy, ms.TRST, ms.K)
		m, params = &larsModel{m: f}, f.Params()
	default:
		return nil, nil, fmt.Errorf("unknown model %q (want one of %v)", name, modelNames)
	}
	ps := new(nn.Params)
	ps.Add(name, params...)
	return m, ps, nil
}

// family is the part of eimfamily's TRS, SNIS and HIS that boundModel uses.
type family interface {
	Bound(rng *rand.Rand, ctx, x *ad.Tensor) *ad.Tensor
	Integrands(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor
	Sample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor
}

var (
	_ family = (*eimfamily.SNIS)(nil)
	_ family = (*eimfamily.TRS)(nil)
	_ family = (*eimfamily.HIS)(nil)
)

// boundModel trains on a family's lower bound and evaluates its S-sample
// (IWAE-style) bound
//
//	log (1/S) Σ_{s=1}^{S} exp(ℓ_s(x)),   ℓ_s i.i.d. draws of the integrand,
//
// in chunks of draws. SNIS and TRS share each draw's proposal candidates
// across the held-out points (the families' default for unconditional
// models): every point's S draws are still independent, so every
// per-point estimate is a valid S-sample bound; only the errors of
// different points are correlated, which leaves their average an unbiased
// estimate of the mean bound. One draw then costs K − 1 (SNIS) or up to
// T − 1 (TRS) energy evaluations for all points together instead of for
// each point.
//
// perCall(n) is the number of draws per Integrands call for n points,
// chosen so that a call makes about 2¹⁶ energy evaluations (or, for TRS,
// holds a mask of about 2²² entries): enough to amortize the calls, little
// enough memory.
type boundModel struct {
	fam     family
	perCall func(n int) int
}

func (m *boundModel) objective(rng *rand.Rand, x *ad.Tensor) *ad.Tensor {
	return m.fam.Bound(rng, nil, x)
}

func (m *boundModel) sample(_ context.Context, rng *rand.Rand, n int) *ad.Tensor {
	return m.fam.Sample(rng, nil, n)
}

func (m *boundModel) evalMethod(ev evalSettings) string {
	return fmt.Sprintf("S = %d sample bound", ev.Samples)
}

func (m *boundModel) evaluate(ctx context.Context, rng *rand.Rand, x *ad.Tensor, ev evalSettings) (evalOutput, error) {
	const block = 1000 // points per block; blocks draw their own candidates
	n, S := x.Dim(0), ev.Samples
	var out evalOutput
	for lo := 0; lo < n; lo += block {
		xb := ad.Slice(x, 0, lo, min(lo+block, n))
		nb := xb.Dim(0)
		chunk := m.perCall(nb)
		w := make([]float64, 0, S*nb) // row-major [S, nb]
		for done := 0; done < S; done += chunk {
			if err := ctx.Err(); err != nil {
				return evalOutput{}, err
			}
			ints := m.fam.Integrands(rng, nil, xb, min(chunk, S-done))
			w = append(w, ints.Data()...)
			// The call's graph (HIS records every leapfrog step's gradient)
			// goes back to ad's pool for the next call: without it each
			// call's tensors wait for the garbage collector, which at
			// GOGC=400 lets them pile up to hundreds of megabytes.
			ad.Release(ints)
		}
		out.values = append(out.values, logMeanExpRows(w, S, nb)...)
	}
	return out, nil
}

// snisModel is SNIS with a cheaper sampler for the density picture.
type snisModel struct {
	boundModel
	f *eimfamily.SNIS
}

// snisDrawsPerSet is how many of the density picture's samples share one
// set of K candidates.
const snisDrawsPerSet = 10

// sample draws n samples of Alg. 2 for the density picture, taking
// snisDrawsPerSet independent draws of the index from each set of K
// candidates. Every sample is an exact draw from p_SNIS; samples of one
// set are dependent, which adds variance to the histogram but no bias,
// at a tenth of the cost of eimfamily.SNIS.Sample's independent draws
// (K energy evaluations per sample: 10⁸ for the default 10⁵ samples, over
// a minute of the five-minute budget).
func (m *snisModel) sample(ctx context.Context, rng *rand.Rand, n int) *ad.Tensor {
	const d = 2
	K := m.f.K
	sets := (n + snisDrawsPerSet - 1) / snisDrawsPerSet
	perCall := max(1, (1<<16)/K) // sets per energy call
	out := make([]float64, 0, n*d)
	cum := make([]float64, K)
	for done := 0; done < sets; done += perCall {
		if ctx.Err() != nil {
			return nil // the caller sees ctx.Err()
		}
		c := min(perCall, sets-done)
		// cand[k, j] is candidate k of set j, as eimfamily.SNIS.Sample lays them out.
		cand := ad.Reshape(m.f.Proposal.Sample(rng, nil, K*c).Detach(), K, c, d)
		negU := ad.Neg(m.f.Energy.Energy(nil, cand)).Detach().Data()
		cd := cand.Data()
		for j := range c {
			top := math.Inf(-1)
			for k := range K {
				top = max(top, negU[k*c+j])
			}
			total := 0.0
			for k := range K {
				total += math.Exp(negU[k*c+j] - top)
				cum[k] = total
			}
			for range min(snisDrawsPerSet, n-len(out)/d) {
				u := rng.Float64() * total
				k := min(sort.Search(K, func(i int) bool { return cum[i] > u }), K-1)
				out = append(out, cd[(k*c+j)*d:(k*c+j+1)*d]...)
			}
		}
	}
	return ad.New(out, n, d)
}

// logMeanExpRows returns, for each column j of the row-major [S, n]
// matrix w, log (1/S) Σ_s exp(w[s, j]), max-shifted (a column of −Inf
// gives −Inf).
func logMeanExpRows(w []float64, S, n int) []float64 {
	out := make([]float64, n)
	for j := range n {
		m := math.Inf(-1)
		for s := range S {
			m = max(m, w[s*n+j])
		}
		if math.IsInf(m, 0) || math.IsNaN(m) {
			out[j] = m
			continue
		}
		sum := 0.0
		for s := range S {
			sum += math.Exp(w[s*n+j] - m)
		}
		out[j] = m + math.Log(sum/float64(S))
	}
	return out
}

// larsModel is LARS: trained on its own objective (the closed-form
// log-likelihood with Z estimated from K draws and smoothed by a moving
// average, which is training state) and evaluated with Z estimated from
// evalSettings.LARSZSamples proposal draws.
type larsModel struct {
	m       *eimfamily.LARS
	pending float64 // Z_smooth of the last objective, committed after the step
}

var _ stateful = (*larsModel)(nil)

func (l *larsModel) objective(rng *rand.Rand, x *ad.Tensor) *ad.Tensor {
	b, z := l.m.TrainBound(rng, nil, x)
	l.pending = z
	return b
}

func (l *larsModel) commit() { l.m.ZAvg = l.pending }

// MarshalText gives ZAvg in the shortest decimal form that parses back to
// the same float64.
func (l *larsModel) MarshalText() ([]byte, error) {
	return strconv.AppendFloat(nil, l.m.ZAvg, 'g', -1, 64), nil
}

func (l *larsModel) UnmarshalText(b []byte) error {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("LARS moving average of Z: %w", err)
	}
	l.m.ZAvg = v
	return nil
}

func (l *larsModel) sample(_ context.Context, rng *rand.Rand, n int) *ad.Tensor {
	return l.m.Sample(rng, nil, n)
}

func (l *larsModel) evalMethod(ev evalSettings) string {
	return fmt.Sprintf("log-likelihood with Z from %d draws (not a bound)", ev.LARSZSamples)
}

func (l *larsModel) evaluate(ctx context.Context, rng *rand.Rand, x *ad.Tensor, ev evalSettings) (evalOutput, error) {
	lp, z, err := l.m.Eval(ctx, rng, nil, x, ev.LARSZSamples)
	if err != nil {
		return evalOutput{}, err
	}
	return evalOutput{values: lp.Detach().Data(), z: z.Z[0], zStdErr: z.StdErr[0]}, nil
}
