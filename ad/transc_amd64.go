//go:build amd64 && !purego

package ad

import "golang.org/x/sys/cpu"

// haveTranscAVX2 reports whether the vector kernels of transc_amd64.s run.
// It is a variable so tests can force the portable loops.
var haveTranscAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// signFlip is the sign bit, the flip argument of the kernels that compute
// a function of −x.
const signFlip = 1 << 63

// The kernels below compute dst[i] = f(src[i]) for i < len(src), four
// lanes at a time with a masked final block, so the result for an input
// does not depend on its position; len(dst) ≥ len(src) is the caller's
// responsibility, and dst may be src. Accuracy: docs/ad.md and
// transc_test.go.

//go:noescape
func expAVX2(dst, src []float64)

//go:noescape
func logAVX2(dst, src []float64)

//go:noescape
func log1pAVX2(dst, src []float64)

// softplusAVX2 computes softplus (flip 0) or log-sigmoid (flip signFlip).
//
//go:noescape
func softplusAVX2(dst, src []float64, flip uint64)

// sigmoidAVX2 computes σ(x) (flip 0) or σ(−x) (flip signFlip).
//
//go:noescape
func sigmoidAVX2(dst, src []float64, flip uint64)

// mulSigmoidAVX2 computes gs[i]·σ(±src[i]); len(gs) ≥ len(src).
//
//go:noescape
func mulSigmoidAVX2(dst, gs, src []float64, flip uint64)

// bernoulliRowAVX2 returns Σᵢ bernoulliTerm(x[i], l[i]) over i < len(l),
// in four lanes (i mod 4) added as (s₀ + s₁) + (s₂ + s₃); len(x) ≥ len(l).
//
//go:noescape
func bernoulliRowAVX2(x, l []float64) float64

// bernoulliGradRowAVX2 sets dl[i] = scale·bernoulliDeriv(x[i], l[i]) for
// i < len(l); len(dl), len(x) ≥ len(l).
//
//go:noescape
func bernoulliGradRowAVX2(dl, x, l []float64, scale float64)

func flipOf(neg bool) uint64 {
	if neg {
		return signFlip
	}
	return 0
}

// expVec sets dst = exp(src); dst and src may be the same slice. It
// panics if len(dst) < len(src), as do the functions below.
func expVec(dst, src []float64) {
	dst = dst[:len(src)]
	if haveTranscAVX2 {
		expAVX2(dst, src)
		return
	}
	expLoop(dst, src)
}

// logVec sets dst = log(src).
func logVec(dst, src []float64) {
	dst = dst[:len(src)]
	if haveTranscAVX2 {
		logAVX2(dst, src)
		return
	}
	logLoop(dst, src)
}

// log1pVec sets dst = log1p(src).
func log1pVec(dst, src []float64) {
	dst = dst[:len(src)]
	if haveTranscAVX2 {
		log1pAVX2(dst, src)
		return
	}
	log1pLoop(dst, src)
}

// softplusVec sets dst = softplus(src), or log σ(src) if neg.
func softplusVec(dst, src []float64, neg bool) {
	dst = dst[:len(src)]
	if haveTranscAVX2 {
		softplusAVX2(dst, src, flipOf(neg))
		return
	}
	softplusLoop(dst, src, neg)
}

// sigmoidVec sets dst = σ(src), or σ(−src) if neg.
func sigmoidVec(dst, src []float64, neg bool) {
	dst = dst[:len(src)]
	if haveTranscAVX2 {
		sigmoidAVX2(dst, src, flipOf(neg))
		return
	}
	sigmoidLoop(dst, src, neg)
}

// mulSigmoidVec sets dst = g ⊙ σ(±src).
func mulSigmoidVec(dst, g, src []float64, neg bool) {
	dst, g = dst[:len(src)], g[:len(src)]
	if haveTranscAVX2 {
		mulSigmoidAVX2(dst, g, src, flipOf(neg))
		return
	}
	mulSigmoidLoop(dst, g, src, neg)
}

// bernoulliRow returns Σᵢ bernoulliTerm(x[i], l[i]).
func bernoulliRow(x, l []float64) float64 {
	x = x[:len(l)]
	if haveTranscAVX2 {
		return bernoulliRowAVX2(x, l)
	}
	return bernoulliRowLoop(x, l)
}

// bernoulliGradRow sets dl = g·(x − σ(l)).
func bernoulliGradRow(dl, x, l []float64, g float64) {
	dl, x = dl[:len(l)], x[:len(l)]
	if haveTranscAVX2 {
		bernoulliGradRowAVX2(dl, x, l, g)
		return
	}
	bernoulliGradRowLoop(dl, x, l, g)
}
