package data

import (
	"fmt"
	"math"

	"github.com/eimkit/eimkit/ad"
)

// DefaultLogitLambda is the λ of the continuous preprocessing of Sec. 4.3
// (following Dinh et al.'s Real NVP), used when LogitTransform.Lambda is 0.
const DefaultLogitLambda = 1e-6

// LogPixelLevels is log 256. Dequantized images y = (x + u)/256 live on
// [0, 1)^D; a log-density there minus D·LogPixelLevels is the log-density
// of x + u on the 8-bit scale [0, 256)^D, whose expectation over u lower-
// bounds the log-probability of the integer image x (Jensen's inequality:
// P(x) = ∫ p(x + u) du over the unit cube). Continuous-data likelihoods in
// the literature the paper compares with (Table 2) are on that scale.
const LogPixelLevels = 8 * math.Ln2

// LogitTransform is the map from dequantized intensities y ∈ [0, 1] to the
// logit space in which the continuous models of Table 2 are fitted,
//
//	p = λ + (1 − 2λ) y,
//	s = logit(p) = log p − log(1 − p),
//
// with the log-determinant of its Jacobian, which is diagonal,
//
//	log |ds/dy| = Σ_j [ log(1 − 2λ) − log p_j − log(1 − p_j) ],
//
// so that a density fitted to s gives the density of y:
//
//	log p_Y(y) = log p_S(s) + log |ds/dy|.
//
// The zero value uses λ = DefaultLogitLambda. The authors' code
// (eim/models/base.py, get_squash) writes the same map on the 8-bit scale
// as y₂₅₆ = 256((1 + ε) σ(s) − ε/2) with ε = 10⁻⁶, which is this transform
// with y = y₂₅₆/256 and λ = ε / (2(1 + ε)); their likelihoods are then on
// the 8-bit scale (see LogPixelLevels).
type LogitTransform struct {
	// Lambda keeps p away from 0 and 1 so that s is finite; it must lie in
	// [0, ½), and 0 means DefaultLogitLambda.
	Lambda float64
}

func (t LogitTransform) lambda() float64 {
	l := t.Lambda
	if l == 0 {
		return DefaultLogitLambda
	}
	if !(l > 0 && l < 0.5) {
		panic(fmt.Sprintf("data: LogitTransform: Lambda %v outside [0, 0.5)", l))
	}
	return l
}

// Forward fills dst with s = logit(λ + (1 − 2λ) y) for every value of y
// and returns Σ log |ds/dy| over all of them. For y ∈ [0, 1] every s and
// the log-determinant are finite. It panics if len(dst) != len(y) or
// Lambda is out of range; dst may be y.
func (t LogitTransform) Forward(dst, y []float64) (logDet float64) {
	if len(dst) != len(y) {
		panic(fmt.Sprintf("data: LogitTransform.Forward: dst has %d values, y %d", len(dst), len(y)))
	}
	l := t.lambda()
	log12l := math.Log1p(-2 * l)
	for j, v := range y {
		p := l + (1-2*l)*v
		lp, l1p := math.Log(p), math.Log1p(-p)
		dst[j] = lp - l1p
		logDet += log12l - lp - l1p
	}
	return logDet
}

// LogDet returns Σ log |ds/dy| at y without computing s.
// It panics if Lambda is out of range.
func (t LogitTransform) LogDet(y []float64) float64 {
	l := t.lambda()
	log12l := math.Log1p(-2 * l)
	var logDet float64
	for _, v := range y {
		p := l + (1-2*l)*v
		logDet += log12l - math.Log(p) - math.Log1p(-p)
	}
	return logDet
}

// Inverse fills dst with y = (σ(s) − λ)/(1 − 2λ) for every value of s, the
// inverse of Forward (a model's logit-space sample back to intensities).
// It panics if len(dst) != len(s) or Lambda is out of range; dst may be s.
func (t LogitTransform) Inverse(dst, s []float64) {
	if len(dst) != len(s) {
		panic(fmt.Sprintf("data: LogitTransform.Inverse: dst has %d values, s %d", len(dst), len(s)))
	}
	l := t.lambda()
	for j, v := range s {
		var sig float64
		if v >= 0 {
			sig = 1 / (1 + math.Exp(-v))
		} else {
			e := math.Exp(v)
			sig = e / (1 + e)
		}
		dst[j] = (sig - l) / (1 - 2*l)
	}
}

// Batch applies Forward to each row of y, a [n, D] tensor of dequantized
// intensities, and returns s as a new [n, D] tensor and the per-image
// log-determinants as an [n] tensor. Both are constants to the gradient
// graph (data carry no gradient). It panics if y is not of rank 2.
func (t LogitTransform) Batch(y *ad.Tensor) (s, logDet *ad.Tensor) {
	if y.Rank() != 2 {
		panic(fmt.Sprintf("data: LogitTransform.Batch: y has shape %v, want [n, D]", y.Shape()))
	}
	n, d := y.Dim(0), y.Dim(1)
	sv := make([]float64, n*d)
	ld := make([]float64, n)
	yv := y.Data()
	for i := 0; i < n; i++ {
		ld[i] = t.Forward(sv[i*d:(i+1)*d], yv[i*d:(i+1)*d])
	}
	return ad.New(sv, n, d), ad.New(ld, n)
}
