package vae

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/eimfamily"
)

// Stream kinds: every random number of an evaluation comes from a stream
// named by (kind, i, j), derived from two seeds drawn from the caller's
// generator, so that no chunking changes which number is used where.
const (
	streamEncoder = 1 + iota // (image): the draws z_s ~ q(z | x_image), s in order
	streamSNIS               // (sample s): SNIS's K − 1 candidates of sample s, shared by the images
	streamTRS                // (sample s, image): the index and rejected draws of TRS
	streamHIS                // (image): ρ_T ~ q(ρ_T | z_s) for s in order
	streamLARS               // (): the proposal draws behind the plug-in Z
)

type streams struct{ a, b uint64 }

// splitmix64 is the finalizer of SplitMix64 (Steele, Lea, Flood 2014), a
// bijection of uint64 that spreads neighbouring inputs apart.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s streams) rng(kind, i, j int) *rand.Rand {
	hi := splitmix64(s.a ^ splitmix64(uint64(kind)<<56^uint64(i)))
	lo := splitmix64(s.b ^ splitmix64(uint64(kind)<<56^uint64(j)^0x5bd1e995<<20))
	return rand.New(rand.NewPCG(hi, lo))
}

// LogWeights returns the S log importance weights of each image of x
// ([n, dx]) under the nested estimator of the package doc, [S, n]:
//
//	log w_s = log p(x | z_s) + log p̂(z_s) − log q(z_s | x),   z_s ~ q(z | x),
//
// with log p̂(z) the prior's unbiased density estimate (the log-density
// itself for N(0, I), LARS's plug-in log-density). (1/S) Σ_s w_s is an
// unbiased estimate of p(x) (for LARS, of its plug-in likelihood). The
// work is done in chunks of SampleChunk samples of ImageChunk images
// with no gradient graph; the result is the same for any chunk sizes.
// For LARS it first estimates Z from Prior.EvalDraws proposal draws,
// unless an estimate at the current parameters exists. It returns ctx's
// error if ctx is done before the end. It panics if S < 1 or x is not
// [n, dx].
func (m *Model) LogWeights(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error) {
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

// Eval returns the S-sample bound of each image of x ([n, dx]),
//
//	log (1/S) Σ_s w_s,   w_s as in LogWeights,
//
// whose expectation is a lower bound on log p(x) (Jensen, since E (1/S)
// Σ_s w_s = p(x)); for LARS it is the plug-in estimate of Bauer & Mnih.
// It holds the S weights of ImageChunk images at a time, and the
// log-sum-exp runs over s in order, so the numbers do not depend on the
// chunk sizes. It returns ctx's error if ctx is done before the end. It
// panics if S < 1 or x is not [n, dx].
func (m *Model) Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
	n := m.check("Eval", x)
	out := make([]float64, n)
	logS := math.Log(float64(S))
	err := m.walk(ctx, rng, x, S, func(i0, nc int, w []float64) {
		for i := range nc {
			mx := math.Inf(-1)
			for s := range S {
				mx = max(mx, w[s*nc+i])
			}
			if math.IsInf(mx, 0) || math.IsNaN(mx) {
				out[i0+i] = mx
				continue
			}
			sum := 0.0
			for s := range S {
				sum += math.Exp(w[s*nc+i] - mx)
			}
			out[i0+i] = mx + math.Log(sum) - logS
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walk computes the log weights of LogWeights for each chunk of images
// and hands visit the weights of images i0, …, i0+nc−1 as w[s·nc + i].
func (m *Model) walk(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int, visit func(i0, nc int, w []float64)) error {
	if S < 1 {
		panic(fmt.Sprintf("vae: Model.Eval: S = %d, want S ≥ 1", S))
	}
	n := x.Dim(0)
	sc, ic := m.SampleChunk, m.ImageChunk
	if ic <= 0 {
		ic = 100
	}
	if sc <= 0 {
		sc = max(1, 4096/ic)
	}
	st := streams{rng.Uint64(), rng.Uint64()}
	x = x.Detach()
	enc := m.Encoder
	if e, ok := enc.(*Encoder); ok {
		enc = &Encoder{Net: detachMLP(e.Net), Mean: e.Mean, ScaleMin: e.ScaleMin}
	}
	dec := &Decoder{Net: detachMLP(m.Decoder.Net)}
	prior := evalPrior(m.Prior)
	if l, ok := m.Prior.(*LARSPrior); ok {
		if err := l.ensureZ(ctx, st.rng(streamLARS, 0, 0)); err != nil {
			return err
		}
		z, _ := l.EvalZ()
		lm := *l.Model
		lm.Energy = detachEnergy(lm.Energy)
		prior = larsEval{&lm, z}
	}
	for i0 := 0; i0 < n; i0 += ic {
		nc := min(ic, n-i0)
		xc := ad.Slice(x, 0, i0, i0+nc)
		encR := make([]*rand.Rand, nc)
		var hisR []*rand.Rand
		if _, ok := prior.(HISPrior); ok {
			hisR = make([]*rand.Rand, nc)
		}
		for i := range nc {
			encR[i] = st.rng(streamEncoder, i0+i, 0)
			if hisR != nil {
				hisR[i] = st.rng(streamHIS, i0+i, 0)
			}
		}
		var qc *dist.Normal
		if e, ok := enc.(*Encoder); ok {
			qc = e.Dist(xc)
		}
		w := make([]float64, S*nc)
		for s0 := 0; s0 < S; s0 += sc {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(sc, S-s0)
			z, logq := drawPosterior(enc, qc, encR, xc, k)
			lw := ad.Sub(dec.LogProb(xc, z), logq) // [k, nc]
			lp, err := priorEstimates(ctx, prior, st, hisR, s0, i0, z)
			if err != nil {
				return err
			}
			lw = ad.Add(lw, lp)
			copy(w[s0*nc:(s0+k)*nc], lw.Data())
		}
		visit(i0, nc, w)
	}
	return nil
}

// drawPosterior draws k samples z ~ q(z | x_i) for each image i of the
// chunk xc ([nc, dx]) from the image's own stream, and returns z
// [k, nc, dz] and log q(z | x) [k, nc]. With the package's Encoder, q is
// computed once per chunk (qc) and only the noise is drawn per image.
func drawPosterior(enc eimfamily.Proposal, qc *dist.Normal, encR []*rand.Rand, xc *ad.Tensor, k int) (z, logq *ad.Tensor) {
	nc, d := xc.Dim(0), enc.Dim()
	if qc != nil {
		eps := make([]float64, k*nc*d)
		for i, r := range encR {
			for s := range k {
				row := eps[(s*nc+i)*d : (s*nc+i+1)*d]
				for j := range row {
					row[j] = r.NormFloat64()
				}
			}
		}
		z = ad.Add(qc.Loc(), ad.Mul(qc.Scale(), ad.New(eps, k, nc, d)))
		return z, qc.LogProb(z)
	}
	zs := make([]*ad.Tensor, nc)
	lqs := make([]*ad.Tensor, nc)
	for i, r := range encR {
		xi := ad.Slice(xc, 0, i, i+1)
		zs[i] = enc.Sample(r, xi, k) // [k, 1, d]
		lqs[i] = enc.LogProb(xi, zs[i])
	}
	return ad.Concat(1, zs...), ad.Concat(1, lqs...)
}

// larsEval is LARS at a fixed plug-in Z, for the evaluation.
type larsEval struct {
	m *eimfamily.LARS
	z eimfamily.ZEstimate
}

func (l larsEval) Kind() PriorKind                              { return LARS }
func (l larsEval) Dim() int                                     { return l.m.Proposal.Dim() }
func (l larsEval) Params() []*ad.Tensor                         { return nil }
func (l larsEval) Sample(rng *rand.Rand, n int) *ad.Tensor      { return l.m.Sample(rng, nil, n) }
func (l larsEval) TrainBound(*rand.Rand, *ad.Tensor) *ad.Tensor { panic("vae: larsEval.TrainBound") }

// priorEstimates returns log p̂(z) for z [k, nc, dz] of samples s0, …,
// s0+k−1 and images i0, …, i0+nc−1, [k, nc], each from the streams that
// make it independent of the chunking (see the package doc for which
// draws are shared).
func priorEstimates(ctx context.Context, p Prior, st streams, hisR []*rand.Rand, s0, i0 int, z *ad.Tensor) (*ad.Tensor, error) {
	k, nc, d := z.Dim(0), z.Dim(1), z.Dim(2)
	switch p := p.(type) {
	case GaussianPrior:
		return stdNormalLogProb(z), nil
	case larsEval:
		return ad.Reshape(p.m.LogProb(nil, ad.Reshape(z, k*nc, d), p.z), k, nc), nil
	case SNISPrior:
		rows := make([]*ad.Tensor, k)
		for s := range k {
			zs := ad.Reshape(ad.Slice(z, 0, s, s+1), nc, d)
			rows[s] = p.Model.Integrands(st.rng(streamSNIS, s0+s, 0), nil, zs, 1) // [1, nc]
		}
		return ad.Concat(0, rows...), nil
	case TRSPrior:
		zd := z.Data()
		out := make([]float64, k*nc)
		for s := range k {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for i := range nc {
				zi := ad.New(zd[(s*nc+i)*d:(s*nc+i+1)*d], 1, d)
				out[s*nc+i] = p.Model.Integrands(st.rng(streamTRS, s0+s, i0+i), nil, zi, 1).Item()
			}
		}
		return ad.New(out, k, nc), nil
	case HISPrior:
		cols := make([]*ad.Tensor, nc)
		for i := range nc {
			zi := ad.Reshape(ad.Slice(z, 1, i, i+1), k, d)
			cols[i] = ad.Reshape(p.Model.Integrands(hisR[i], nil, zi, 1), k, 1)
		}
		return ad.Concat(1, cols...), nil
	}
	return nil, fmt.Errorf("vae: no evaluation for prior of type %T", p)
}
