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
	streamEncoder     = 1 + iota // (image): the draws z_s ~ q(z | x_image), s in order
	streamSNIS                   // (sample s): SNIS's K − 1 candidates of sample s, shared by the images
	streamTRS                    // (sample s, image): TRS's index i ~ q(i | z)
	streamHIS                    // (image, block of hisBlock samples): ρ_T ~ q(ρ_T | z_s)
	streamLARS                   // (): the proposal draws behind the plug-in Z
	streamTRSRejected            // (sample s): TRS's T − 1 rejected draws of sample s, shared by the images
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
	return rand.New(rand.NewPCG(s.seed(kind, i, j)))
}

// seed returns the PCG seed of stream (kind, i, j); reseeding one PCG with
// it gives the numbers of rng(kind, i, j) without allocating, for streams
// used once per (sample, image).
func (s streams) seed(kind, i, j int) (hi, lo uint64) {
	hi = splitmix64(s.a ^ splitmix64(uint64(kind)<<56^uint64(i)))
	lo = splitmix64(s.b ^ splitmix64(uint64(kind)<<56^uint64(j)^0x5bd1e995<<20))
	return hi, lo
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
// error if ctx is done before the end, and an error if an entry of x is
// not finite or the prior is not one of the package's types. It panics if
// S < 1 or x is not [n, dx].
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
// chunk sizes. It returns errors as LogWeights does and panics if S < 1
// or x is not [n, dx].
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

// rowBlock is the number of rows of every network evaluation in the
// evaluation: inputs are cut into blocks of exactly rowBlock rows, the
// last padded with zero rows. ad chooses its product kernels by the
// operands' sizes, and different kernels round differently; with one
// shape per layer every row is computed by the same kernel whatever the
// chunking, and each row's result depends on that row alone (a product
// kernel's entries do not depend on the other rows). 192 is a multiple
// of the common micro-kernel heights (4, 6, 8, 12, 16).
const rowBlock = 192

// hisBlock is the number of samples of one image per call of HIS's
// integrand (its draws of ρ_T come from a stream per image and block);
// with a HIS prior SampleChunk is rounded up to a multiple of it.
const hisBlock = 40

// rowwise returns f applied to x ([r, c], a constant) in blocks of
// rowBlock rows, the outputs' first r rows concatenated. f maps
// [rowBlock, c] to [rowBlock, ...].
func rowwise(x *ad.Tensor, f func(*ad.Tensor) *ad.Tensor) *ad.Tensor {
	r, c := x.Dim(0), x.Dim(1)
	xd := x.Data()
	var outs []*ad.Tensor
	for lo := 0; lo < r; lo += rowBlock {
		hi := min(lo+rowBlock, r)
		buf := make([]float64, rowBlock*c)
		copy(buf, xd[lo*c:hi*c])
		y := f(ad.New(buf, rowBlock, c))
		if hi-lo < rowBlock {
			y = ad.Slice(y, 0, 0, hi-lo)
		}
		outs = append(outs, y)
	}
	if len(outs) == 1 {
		return outs[0]
	}
	return ad.Concat(0, outs...)
}

// decoderLogLik returns log p(x_{r mod nc} | z_r) for the rows r of z
// ([R, dz]; row s·nc + i is sample s of image i of x, [nc, D]). The
// decoder runs in blocks of rowBlock rows, as rowwise runs it, and each
// block's log-likelihood is taken at once: the block's output ([rowBlock,
// D], 1.2 MB for MNIST) is still in the core's cache when it is summed,
// and the outputs of all R rows (25 MB for a chunk of 40 samples of 100
// images) are never held. The numbers are rowwise's: the same blocks, and
// each row's log-likelihood a sum over that row alone.
func decoderLogLik(dec *Decoder, z, x *ad.Tensor) []float64 {
	r, dz := z.Dim(0), z.Dim(1)
	nc, d := x.Dim(0), x.Dim(1)
	zd, xd := z.Data(), x.Data()
	out := make([]float64, r)
	// One pair of input blocks for every block: the network's output and
	// the log-likelihood are new tensors (the product and the sum make
	// them), so nothing refers to the inputs once a block is done.
	zb := make([]float64, rowBlock*dz)
	xb := make([]float64, rowBlock*d)
	for lo := 0; lo < r; lo += rowBlock {
		hi := min(lo+rowBlock, r)
		copy(zb, zd[lo*dz:hi*dz])
		clear(zb[(hi-lo)*dz:]) // padding rows are zero, as in rowwise
		for j := lo; j < hi; j++ {
			i := j % nc
			copy(xb[(j-lo)*d:(j-lo+1)*d], xd[i*d:(i+1)*d])
		}
		logits := dec.Net.Forward(ad.New(zb, rowBlock, dz))
		ll := dec.logProbOut(logits, ad.New(xb, rowBlock, d))
		copy(out[lo:hi], ll.Data())
		ad.Free(logits, ll) // for the next block
	}
	return out
}

// walk computes the log weights of LogWeights for each chunk of images
// and hands visit the weights of images i0, …, i0+nc−1 as w[s·nc + i].
func (m *Model) walk(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int, visit func(i0, nc int, w []float64)) error {
	if S < 1 {
		panic(fmt.Sprintf("vae: Model.Eval: S = %d, want S ≥ 1", S))
	}
	n := x.Dim(0)
	for j, v := range x.Data() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("vae: Model.Eval: image %d, pixel %d is %v", j/x.Dim(1), j%x.Dim(1), v)
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
	enc := m.Encoder
	if e, ok := enc.(*Encoder); ok {
		enc = &Encoder{Net: detachMLP(e.Net), Mean: e.Mean, ScaleMin: e.ScaleMin}
	}
	dec := m.Decoder.detach()
	pe, err := m.newPriorEval(ctx, st, S)
	if err != nil {
		return err
	}
	for i0 := 0; i0 < n; i0 += ic {
		nc := min(ic, n-i0)
		xc := ad.Slice(x, 0, i0, i0+nc)
		encR := make([]*rand.Rand, nc)
		for i := range nc {
			encR[i] = st.rng(streamEncoder, i0+i, 0)
		}
		var qc *dist.Normal
		if e, ok := enc.(*Encoder); ok {
			in := xc
			if e.Mean != nil {
				in = ad.Sub(xc, e.Mean)
			}
			qc = e.fromOutput(rowwise(in, e.Net.Forward))
		}
		w := make([]float64, S*nc)
		for s0 := 0; s0 < S; s0 += sc {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(sc, S-s0)
			z, logq := drawPosterior(enc, qc, encR, xc, k)
			ll := decoderLogLik(dec, ad.Reshape(z, k*nc, z.Dim(2)), xc)
			lw := ad.Sub(ad.New(ll, k, nc), logq) // [k, nc]
			lp, err := pe.estimates(ctx, s0, i0, z)
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

// priorEval computes log p̂(z) for the evaluation; its fields are the
// prior as constants and, for SNIS, the candidates' log-sum-exp of each
// sample index, computed once per evaluation.
type priorEval struct {
	st    streams
	prior Prior
	lars  *eimfamily.LARS
	z     eimfamily.ZEstimate
	lse   []float64 // SNIS: log Σ_c exp(−U(c)) over the K − 1 candidates of sample s; NaN until computed
	share bool      // SNIS, TRS: one set of candidates (rejected draws) for every sample
	// TRS: cum[s][j] = Σ_{t ≤ j} (ℓ(c_t) − log r) over the first j + 1 of
	// the T − 1 rejected draws c_t of sample s (ℓ = log σ(U)); nil until
	// computed.
	cum    [][]float64
	trsIdx eimfamily.TRSIndex
}

func (m *Model) newPriorEval(ctx context.Context, st streams, S int) (*priorEval, error) {
	return newPriorEvalFor(ctx, st, S, m.Prior, m.SharedCandidates)
}

// newPriorEvalFor returns the evaluation of prior's density estimates
// (shared by Model and ConvHVAE).
func newPriorEvalFor(ctx context.Context, st streams, S int, prior Prior, shared bool) (*priorEval, error) {
	pe := &priorEval{st: st, prior: evalPrior(prior), share: shared}
	switch p := prior.(type) {
	case *LARSPrior:
		if err := p.ensureZ(ctx, st.rng(streamLARS, 0, 0)); err != nil {
			return nil, err
		}
		pe.z, _ = p.EvalZ()
		lm := *p.Model
		lm.Energy = detachEnergy(lm.Energy)
		pe.lars = &lm
	case SNISPrior:
		pe.lse = make([]float64, S)
		for i := range pe.lse {
			pe.lse[i] = math.NaN()
		}
	case TRSPrior:
		if p.Model.T >= 2 {
			pe.trsIdx = p.Model.Index()
			pe.cum = make([][]float64, S)
		}
	case GaussianPrior, HISPrior:
	default:
		return nil, fmt.Errorf("vae: no evaluation for a prior of type %T", prior)
	}
	return pe, nil
}

// estimates returns log p̂(z) for z [k, nc, dz] of samples s0, …, s0+k−1
// and images i0, …, i0+nc−1, [k, nc], each from the streams that make it
// independent of the chunking (see the package doc for which draws are
// shared).
func (pe *priorEval) estimates(ctx context.Context, s0, i0 int, z *ad.Tensor) (*ad.Tensor, error) {
	k, nc, d := z.Dim(0), z.Dim(1), z.Dim(2)
	flat := ad.Reshape(z, k*nc, d)
	if pe.lars != nil {
		lp := rowwise(flat, func(b *ad.Tensor) *ad.Tensor { return pe.lars.LogProb(nil, b, pe.z) })
		return ad.Reshape(lp, k, nc), nil
	}
	switch p := pe.prior.(type) {
	case GaussianPrior:
		return stdNormalLogProb(z), nil
	case SNISPrior:
		return pe.snis(p.Model, s0, z), nil
	case TRSPrior:
		return pe.trs(ctx, p.Model, s0, i0, z)
	case HISPrior:
		// Per image, blocks of hisBlock samples (the chunk starts at a
		// multiple of hisBlock), padded to hisBlock rows, each with the
		// stream of its (image, block).
		zd := z.Data()
		out := make([]float64, k*nc)
		for i := range nc {
			for b0 := 0; b0 < k; b0 += hisBlock {
				rows := min(hisBlock, k-b0)
				buf := make([]float64, hisBlock*d)
				for s := range rows {
					copy(buf[s*d:(s+1)*d], zd[((b0+s)*nc+i)*d:((b0+s)*nc+i+1)*d])
				}
				r := pe.st.rng(streamHIS, i0+i, (s0+b0)/hisBlock)
				v := p.Model.Integrands(r, nil, ad.New(buf, hisBlock, d), 1).Data()
				for s := range rows {
					out[(b0+s)*nc+i] = v[s]
				}
			}
		}
		return ad.New(out, k, nc), nil
	}
	panic("vae: unreachable")
}

// snis returns the Eq. (3) integrand of every z [k, nc, dz], [k, nc],
//
//	log π(z) − U(z) − log( (1/K) (e^{−U(z)} + Σ_{c ∈ C_s} e^{−U(c)}) ),
//
// with C_s the K − 1 candidates of sample s, drawn from the stream of s
// and shared by the images. The candidates' log-sum-exp is computed once
// per sample index and evaluation.
func (pe *priorEval) snis(m *eimfamily.SNIS, s0 int, z *ad.Tensor) *ad.Tensor {
	k, nc, d := z.Dim(0), z.Dim(1), z.Dim(2)
	flat := ad.Reshape(z, k*nc, d)
	logPi := ad.Reshape(m.Proposal.LogProb(nil, flat), k, nc)
	if m.K == 1 {
		return logPi
	}
	if pe.share && math.IsNaN(pe.lse[0]) {
		c := m.Proposal.Sample(pe.st.rng(streamSNIS, 0, 0), nil, m.K-1).Detach()
		negU := ad.Neg(rowwise(c, func(b *ad.Tensor) *ad.Tensor { return m.Energy.Energy(nil, b) }))
		v := ad.LogSumExp(negU, 0).Item()
		for s := range pe.lse {
			pe.lse[s] = v
		}
	}
	var todo []int
	for s := range k {
		if math.IsNaN(pe.lse[s0+s]) {
			todo = append(todo, s0+s)
		}
	}
	if len(todo) > 0 {
		cands := make([]*ad.Tensor, len(todo))
		for j, s := range todo {
			cands[j] = m.Proposal.Sample(pe.st.rng(streamSNIS, s, 0), nil, m.K-1).Detach()
		}
		negU := ad.Neg(rowwise(ad.Concat(0, cands...), func(b *ad.Tensor) *ad.Tensor { return m.Energy.Energy(nil, b) }))
		lse := ad.LogSumExp(ad.Reshape(negU, len(todo), m.K-1), 1).Data()
		for j, s := range todo {
			pe.lse[s] = lse[j]
		}
	}
	negUz := ad.Reshape(ad.Neg(rowwise(flat, func(b *ad.Tensor) *ad.Tensor { return m.Energy.Energy(nil, b) })), k, nc)
	lse := ad.BroadcastTo(ad.New(append([]float64(nil), pe.lse[s0:s0+k]...), k, 1), k, nc)
	logZ := ad.AddScalar(ad.LogSumExp(ad.Stack(0, negUz, lse), 0), -math.Log(float64(m.K)))
	return ad.Sub(ad.Add(logPi, negUz), logZ)
}

// trs returns the TRS integrand of every z [k, nc, dz], [k, nc] (see
// eimfamily.TRS),
//
//	ℓ_λ(z) = log π(z) + log Q(z) + Σ_{t<i} (ℓ(c_t) − log r),   i ~ q(i | z),
//
// with i drawn from the stream of (sample, image) and c_1, …, c_{T−1} the
// rejected draws of sample s, drawn from the stream of s and shared by the
// images: image i uses the first i − 1 of them. Their partial sums are
// computed once per sample index and evaluation, so an image costs one
// energy evaluation per sample instead of i − 1 (up to T − 1 = 1023). For
// each image the S estimates stay independent, as with the draws made
// per (sample, image), so each image's bound has the same distribution.
func (pe *priorEval) trs(ctx context.Context, m *eimfamily.TRS, s0, i0 int, z *ad.Tensor) (*ad.Tensor, error) {
	k, nc, d := z.Dim(0), z.Dim(1), z.Dim(2)
	flat := ad.Reshape(z, k*nc, d)
	logPi := m.Proposal.LogProb(nil, flat).Data()
	if m.T == 1 {
		return ad.New(logPi, k, nc), nil
	}
	qi := pe.trsIdx
	for s := s0; s < s0+k; s++ {
		src := s // the sample whose rejected draws s uses
		if pe.share {
			src = 0
		}
		if pe.cum[src] == nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			c := m.Proposal.Sample(pe.st.rng(streamTRSRejected, src, 0), nil, m.T-1).Detach()
			ell := ad.LogSigmoid(rowwise(c, func(b *ad.Tensor) *ad.Tensor { return m.Energy.Energy(nil, b) })).Data()
			cum := make([]float64, m.T-1)
			acc := 0.0
			for t, v := range ell {
				acc += v - qi.LogR
				cum[t] = acc
			}
			pe.cum[src] = cum
		}
		pe.cum[s] = pe.cum[src]
	}
	logA := ad.LogSigmoid(ad.Neg(rowwise(flat, func(b *ad.Tensor) *ad.Tensor { return m.Energy.Energy(nil, b) }))).Data()
	out := make([]float64, k*nc)
	pcg := rand.NewPCG(0, 0)
	r := rand.New(pcg) // reseeded per (sample, image): no allocation in the loop
	for s := range k {
		cum := pe.cum[s0+s]
		for i := range nc {
			pcg.Seed(pe.st.seed(streamTRS, s0+s, i0+i))
			lq := qi.LogQ(logA[s*nc+i])
			v := logPi[s*nc+i] + lq
			if idx := qi.Sample(r, lq); idx > 1 {
				v += cum[idx-2]
			}
			out[s*nc+i] = v
		}
	}
	return ad.New(out, k, nc), nil
}
