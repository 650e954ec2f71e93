package dist

import (
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Uniform is the uniform distribution on the box Π_d [a_d, b_d] over the
// last axis:
//
//	log p(x) = −Σ_d log(b_d − a_d)   if a_d ≤ x_d ≤ b_d for every d,
//	log p(x) = −Inf                  otherwise,
//	x = a + (b − a) ⊙ u,   u ~ U[0, 1)ᵈ   (the reparameterization).
//
// Low (a) and High (b) broadcast against each other to the shape of one
// draw, Shape(), whose last axis is the event axis. High must exceed Low;
// it is not checked.
//
// A Uniform is immutable and may be shared between goroutines, each with
// its own *rand.Rand.
type Uniform struct {
	low, high *ad.Tensor
	shape     []int
}

var (
	_ LogProber        = (*Uniform)(nil)
	_ Sampler          = (*Uniform)(nil)
	_ RSampler         = (*Uniform)(nil)
	_ SampleLogProber  = (*Uniform)(nil)
	_ RSampleLogProber = (*Uniform)(nil)
)

// NewUniform returns the uniform distribution on the box [low, high].
// It panics if low and high do not broadcast to a shape of rank ≥ 1.
func NewUniform(low, high *ad.Tensor) *Uniform {
	s := paramShape("NewUniform", "low", "high", low, high)
	return &Uniform{low: low, high: high, shape: s}
}

// Low returns the lower corner a.
func (u *Uniform) Low() *ad.Tensor { return u.low }

// High returns the upper corner b.
func (u *Uniform) High() *ad.Tensor { return u.high }

// Shape returns the shape of one draw, the broadcast shape of Low and High;
// its last entry is the event dimension. The caller must not modify it.
func (u *Uniform) Shape() []int { return u.shape }

// RSample returns low + (high − low) ⊙ u with u of shape
// append(sampleShape, Shape()...) drawn with rng.Float64 in row-major
// order. The result is recorded, so gradients flow to Low and High.
// It panics if rng is nil or sampleShape has a negative entry.
func (u *Uniform) RSample(rng *rand.Rand, sampleShape ...int) *ad.Tensor {
	checkSample("Uniform.RSample", rng, sampleShape)
	v := ad.Zeros(join(sampleShape, u.shape)...)
	vd := v.Data()
	for i := range vd {
		vd[i] = rng.Float64()
	}
	return ad.Add(u.low, ad.Mul(ad.Sub(u.high, u.low), v))
}

// Sample returns draws of shape append(sampleShape, Shape()...) as a
// constant. It consumes rng exactly as RSample does and returns bitwise the
// same values.
// It panics if rng is nil or sampleShape has a negative entry.
func (u *Uniform) Sample(rng *rand.Rand, sampleShape ...int) *ad.Tensor {
	checkSample("Uniform.Sample", rng, sampleShape)
	d := &Uniform{low: u.low.Detach(), high: u.high.Detach(), shape: u.shape}
	return d.RSample(rng, sampleShape...)
}

// LogProb returns log p(x): −Σ_d log(b_d − a_d) where x lies in the closed
// box, −Inf where it does not, and NaN where an entry of x is NaN. x has
// the event dimension last and leading dimensions that broadcast with
// those of Shape(); the result has their broadcast shape without the last
// axis. The gradient flows to Low and High inside the box; with respect
// to x it is 0.
// It panics if x's shape does not fit.
func (u *Uniform) LogProb(x *ad.Tensor) *ad.Tensor {
	s := checkEventX("Uniform.LogProb", x, u.shape)
	d := s[len(s)-1]
	xd := ad.BroadcastTo(x.Detach(), s...).Data()
	ld := ad.BroadcastTo(u.low.Detach(), s...).Data()
	hd := ad.BroadcastTo(u.high.Detach(), s...).Data()
	out := s[:len(s)-1]
	inside := ad.Zeros(out...)
	outside := ad.Zeros(out...)
	in, od := inside.Data(), outside.Data()
	for i := range in {
		ok, v := true, math.Inf(-1)
		for j := i * d; j < (i+1)*d; j++ {
			if math.IsNaN(xd[j]) {
				ok, v = false, math.NaN()
				break
			}
			ok = ok && ld[j] <= xd[j] && xd[j] <= hd[j]
		}
		if ok {
			in[i] = 1
		}
		od[i] = v
	}
	logVol := ad.Sum(ad.BroadcastTo(ad.Log(ad.Sub(u.high, u.low)), u.shape...), -1)
	return ad.Where(inside, ad.Neg(logVol), outside)
}
