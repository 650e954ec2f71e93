package ad

// Relu returns max(x, 0) elementwise, the rectifier of the ConvHVAE's
// convolutional layers. NaN passes through. Its derivative is taken as
//
//	∂ Relu(x)/∂x = 1{x > 0},
//
// 0 at x = 0 as in TensorFlow. (Maximum(x, Scalar(0)) has the same values
// but sends the gradient at a tie to its first argument, so it would give
// 1 at 0, and it builds a comparison mask and a product in its backward.)
// The derivative of the mask is zero almost everywhere, so the backward
// is linear in the incoming gradient and its own backward is itself.
func Relu(x *Tensor) *Tensor {
	out := filledLater(cloneInts(x.shape)) // every entry is written
	inHalves(len(x.data), len(x.data), func(lo, hi int) {
		for i, v := range x.data[lo:hi] {
			out.data[lo+i] = max(v, 0) // NaN if v is NaN; +0 for −0
		}
	})
	return record(out, func(g *Tensor, _ []*Tensor, out *Tensor, _ []bool) []*Tensor {
		return []*Tensor{reluMask(g, out.Detach())}
	}, x)
}

// reluMask returns g where the constant y (Relu's output) is positive and
// 0 elsewhere: Relu's vector–Jacobian product, 1{x > 0} ⊙ g.
func reluMask(g, y *Tensor) *Tensor {
	out := filledLater(cloneInts(g.shape))
	inHalves(len(y.data), len(y.data), func(lo, hi int) {
		for i, v := range y.data[lo:hi] {
			if v > 0 {
				out.data[lo+i] = g.data[lo+i]
			} else {
				out.data[lo+i] = 0
			}
		}
	})
	return record(out, func(G *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{reluMask(G, y)}
	}, g)
}
