package ad

import "math"

// mapValues applies f to every entry, unrecorded.
func mapValues(x *Tensor, f func(float64) float64) *Tensor {
	out := filledLater(x.shape)
	inHalves(len(x.data), len(x.data), func(lo, hi int) {
		dst := out.data[lo:hi]
		for i, v := range x.data[lo:hi] {
			dst[i] = f(v)
		}
	})
	return out
}

// Neg returns −x.
func Neg(x *Tensor) *Tensor { return MulScalar(x, -1) }

// AddScalar returns x + s.
func AddScalar(x *Tensor, s float64) *Tensor {
	out := fromShape(x.shape)
	binScalarR(kAdd, out.data, x.data, s)
	return record(out, func(g *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{g}
	}, x)
}

// MulScalar returns s·x.
func MulScalar(x *Tensor, s float64) *Tensor {
	out := fromShape(x.shape)
	binScalarR(kMul, out.data, x.data, s)
	return record(out, func(g *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{MulScalar(g, s)}
	}, x)
}

// mapVec applies the vector kernel f to x, unrecorded: into a buffer it
// overwrites, split over the helper goroutine when large (the kernels'
// results do not depend on an entry's position, so the split does not
// change them).
func mapVec(x *Tensor, f func(dst, src []float64)) *Tensor {
	out := filledLater(x.shape)
	inHalves(len(x.data), len(x.data), func(lo, hi int) {
		f(out.data[lo:hi], x.data[lo:hi])
	})
	return out
}

// Exp returns eˣ.
func Exp(x *Tensor) *Tensor {
	return record(mapVec(x, expVec), func(g *Tensor, _ []*Tensor, out *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, out)}
	}, x)
}

// Log returns the natural logarithm.
func Log(x *Tensor) *Tensor {
	return record(mapVec(x, logVec), func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Div(g, ins[0])}
	}, x)
}

// Log1p returns log(1 + x), accurate for small x.
func Log1p(x *Tensor) *Tensor {
	return record(mapVec(x, log1pVec), func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Div(g, AddScalar(ins[0], 1))}
	}, x)
}

// Expm1 returns eˣ − 1, accurate for small x.
func Expm1(x *Tensor) *Tensor {
	return record(mapValues(x, math.Expm1), func(g *Tensor, _ []*Tensor, out *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, AddScalar(out, 1))}
	}, x)
}

// Tanh returns the hyperbolic tangent.
func Tanh(x *Tensor) *Tensor {
	out := filledLater(x.shape)
	tanhInto(out.data, x.data)
	return record(out, func(g *Tensor, _ []*Tensor, out *Tensor, _ []bool) []*Tensor {
		return []*Tensor{tanhBack(g, out)}
	}, x)
}

// tanhInto sets dst = tanh(src); dst and src may be the same slice.
func tanhInto(dst, src []float64) {
	dst = dst[:len(src)]
	inHalves(len(src), len(src), func(lo, hi int) {
		tanhVec(dst[lo:hi], src[lo:hi])
	})
}

// tanhBack returns g ⊙ (1 − y²), the backward of y = tanh(x), as one
// differentiable operation so that second-order passes stay cheap.
func tanhBack(g, y *Tensor) *Tensor {
	out := filledLater(y.shape)
	tanhBackInto(out.data, g.data, y.data)
	return record(out, func(G *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = tanhBack(G, ins[1])
		}
		if need[1] {
			r[1] = mul3(G, ins[0], ins[1], -2)
		}
		return r
	}, g, y)
}

// tanhBackLoop is tanhBackInto without the vector kernel (and its
// reference in the tests).
func tanhBackLoop(out, g, y []float64) {
	g, y = g[:len(out)], y[:len(out)]
	for i := range out {
		out[i] = g[i] * (1 - y[i]*y[i])
	}
}

// mul3 returns s·a⊙b⊙c for tensors of one shape: one pass and one buffer
// where three multiplications would take three (the second-order term of
// tanh's backward).
func mul3(a, b, c *Tensor, s float64) *Tensor {
	out := filledLater(a.shape)
	ad, bd, cd := a.data, b.data[:len(a.data)], c.data[:len(a.data)]
	for i := range out.data {
		out.data[i] = s * ad[i] * bd[i] * cd[i]
	}
	return record(out, func(G *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 3)
		for i := range r {
			if need[i] {
				r[i] = mul3(G, ins[(i+1)%3], ins[(i+2)%3], s)
			}
		}
		return r
	}, a, b, c)
}

// Sigmoid returns σ(x) = 1/(1 + e⁻ˣ).
func Sigmoid(x *Tensor) *Tensor {
	out := mapVec(x, func(dst, src []float64) { sigmoidVec(dst, src, false) })
	return record(out, func(g *Tensor, _ []*Tensor, out *Tensor, _ []bool) []*Tensor {
		return []*Tensor{sigmoidBack(g, out)}
	}, x)
}

// sigmoidBack returns g ⊙ s ⊙ (1 − s), the backward of s = σ(x).
func sigmoidBack(g, s *Tensor) *Tensor {
	out := fromShape(s.shape)
	gd, sd := g.data[:len(out.data)], s.data[:len(out.data)]
	for i := range out.data {
		out.data[i] = gd[i] * sd[i] * (1 - sd[i])
	}
	return record(out, func(G *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = sigmoidBack(G, ins[1])
		}
		if need[1] {
			// ∂/∂s [g s (1−s)] = g (1 − 2s)
			r[1] = Mul(Mul(G, ins[0]), AddScalar(MulScalar(ins[1], -2), 1))
		}
		return r
	}, g, s)
}

// LogSigmoid returns log σ(x) = −softplus(−x), stable for large |x|.
func LogSigmoid(x *Tensor) *Tensor {
	out := mapVec(x, func(dst, src []float64) { softplusVec(dst, src, true) })
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{mulSigmoid(g, ins[0], true)}
	}, x)
}

// Softplus returns log(1 + eˣ), stable for large |x|.
func Softplus(x *Tensor) *Tensor {
	out := mapVec(x, func(dst, src []float64) { softplusVec(dst, src, false) })
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{mulSigmoid(g, ins[0], false)}
	}, x)
}

// mulSigmoid returns g ⊙ σ(s·x), s = −1 if neg and 1 otherwise, in one
// pass: the backward of Softplus (σ(x)) and of LogSigmoid (σ(−x)). g has
// x's shape.
func mulSigmoid(g, x *Tensor, neg bool) *Tensor {
	out := filledLater(x.shape)
	inHalves(len(x.data), len(x.data), func(lo, hi int) {
		mulSigmoidVec(out.data[lo:hi], g.data[lo:hi], x.data[lo:hi], neg)
	})
	return record(out, func(G *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = mulSigmoid(G, ins[1], neg)
		}
		if need[1] {
			// ∂/∂x σ(s·x) = s·σ(s·x)(1 − σ(s·x))
			sx := ins[1]
			if neg {
				sx = Neg(sx)
			}
			d := sigmoidBack(Mul(G, ins[0]), Sigmoid(sx))
			if neg {
				d = Neg(d)
			}
			r[1] = d
		}
		return r
	}, g, x)
}

// Square returns x².
func Square(x *Tensor) *Tensor {
	out := fromShape(x.shape)
	binLoop(kMul, out.data, x.data, x.data)
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, MulScalar(ins[0], 2))}
	}, x)
}

// Sqrt returns √x.
func Sqrt(x *Tensor) *Tensor {
	return record(mapValues(x, math.Sqrt), func(g *Tensor, _ []*Tensor, out *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Div(MulScalar(g, 0.5), out)}
	}, x)
}

// Pow returns xᵖ for a constant exponent p.
func Pow(x *Tensor, p float64) *Tensor {
	out := mapValues(x, func(v float64) float64 { return math.Pow(v, p) })
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, MulScalar(Pow(ins[0], p-1), p))}
	}, x)
}

// Abs returns |x|; its gradient at 0 is taken as 0.
func Abs(x *Tensor) *Tensor {
	return record(mapValues(x, math.Abs), func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		sign := mapValues(ins[0], func(v float64) float64 {
			switch {
			case v > 0:
				return 1
			case v < 0:
				return -1
			}
			return 0
		})
		return []*Tensor{Mul(g, sign)}
	}, x)
}

// Clamp limits x to [lo, hi]; the gradient is zero where x is outside.
func Clamp(x *Tensor, lo, hi float64) *Tensor {
	out := mapValues(x, func(v float64) float64 { return math.Min(math.Max(v, lo), hi) })
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		inside := mapValues(ins[0], func(v float64) float64 {
			if v >= lo && v <= hi {
				return 1
			}
			return 0
		})
		return []*Tensor{Mul(g, inside)}
	}, x)
}
