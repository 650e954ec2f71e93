package ad

import "fmt"

// Padding selects how a convolution treats the image border, as
// TensorFlow defines it (tf.nn.conv2d, Keras Conv2D). The zero value is
// PadValid, Keras's default.
type Padding int

const (
	// PadValid uses no padding: a window is placed only where it fits,
	// and trailing rows or columns that no stride reaches are dropped.
	// Along an axis of length n with kernel size k and stride s,
	//
	//	out = ⌊(n − k)/s⌋ + 1   (= ⌈(n − k + 1)/s⌉),   n ≥ k.
	PadValid Padding = iota
	// PadSame pads with zeros so that out = ⌈n/s⌉, splitting the padding
	// as evenly as possible with the odd row or column at the end:
	//
	//	total  = max((out − 1)·s + k − n, 0)
	//	before = ⌊total/2⌋,  after = total − before.
	PadSame
)

func (p Padding) String() string {
	switch p {
	case PadValid:
		return "VALID"
	case PadSame:
		return "SAME"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// convAxis returns the output length and the padding before the first
// entry along one spatial axis of length n, or out ≤ 0 when no window fits.
func convAxis(n, k, s int, p Padding) (out, before int) {
	if p == PadSame {
		out = (n + s - 1) / s
		total := max((out-1)*s+k-n, 0)
		return out, total / 2
	}
	if n < k {
		return 0, 0
	}
	return (n-k)/s + 1, 0
}

// transposeAxis is the output length of a transposed convolution along
// one axis when the caller gives none, Keras's Conv2DTranspose convention
// (output_padding=None): n·s for SAME, n·s + max(k − s, 0) for VALID. A
// Conv2D of that length gives back n.
func transposeAxis(n, k, s int, p Padding) int {
	if p == PadSame {
		return n * s
	}
	return n*s + max(k-s, 0)
}

// convGeom is the index arithmetic of one convolution: an input of shape
// [n, h, w, c] and a kernel [kh, kw, c, f] give an output [n, oh, ow, f];
// input row ih = oh·stride − padT + i for kernel row i, and likewise for
// columns.
type convGeom struct {
	n, h, w, c int
	kh, kw, f  int
	oh, ow     int
	stride     int
	padT, padL int
}

// rows and cols are the shape of the im2col matrix: one row per output
// pixel, one column per (kernel row, kernel column, channel).
func (g *convGeom) rows() int { return g.n * g.oh * g.ow }
func (g *convGeom) cols() int { return g.kh * g.kw * g.c }

// trivial reports whether the im2col matrix is the input itself (a 1×1
// kernel at stride 1 without padding), so no copy is needed.
func (g *convGeom) trivial() bool {
	return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.oh == g.h && g.ow == g.w
}

// newConvGeom checks the shapes of a Conv2D of x [n, h, w, c] with the
// kernel w [kh, kw, c, f] (or the ConvTranspose2D that is its adjoint,
// named by op) and returns its geometry.
func newConvGeom(op string, xShape, wShape []int, stride int, pad Padding) *convGeom {
	if len(xShape) != 4 || len(wShape) != 4 || xShape[3] != wShape[2] {
		panic(fmt.Sprintf("ad: %s: input %v and kernel %v; want [batch, height, width, c] and [kh, kw, c, f]", op, xShape, wShape))
	}
	if stride < 1 {
		panic(fmt.Sprintf("ad: %s: stride %d for input %v and kernel %v; want stride >= 1", op, stride, xShape, wShape))
	}
	if pad != PadValid && pad != PadSame {
		panic(fmt.Sprintf("ad: %s: unknown padding %v for input %v and kernel %v", op, pad, xShape, wShape))
	}
	if wShape[0] < 1 || wShape[1] < 1 {
		panic(fmt.Sprintf("ad: %s: empty kernel %v for input %v", op, wShape, xShape))
	}
	g := &convGeom{n: xShape[0], h: xShape[1], w: xShape[2], c: xShape[3],
		kh: wShape[0], kw: wShape[1], f: wShape[3], stride: stride}
	g.oh, g.padT = convAxis(g.h, g.kh, stride, pad)
	g.ow, g.padL = convAxis(g.w, g.kw, stride, pad)
	if g.oh < 1 || g.ow < 1 {
		panic(fmt.Sprintf("ad: %s: kernel %v does not fit input %v with %v padding", op, wShape, xShape, pad))
	}
	return g
}

// Conv2D returns the 2-D convolution (cross-correlation, as in TensorFlow:
// the kernel is not flipped) of x [batch, height, width, c] with the
// kernel w [kh, kw, c, f]:
//
//	out[b, i, j, o] = Σ_{p, q, c} x[b, i·s − padT + p, j·s − padL + q, c] · w[p, q, c, o]
//
// with x read as 0 outside the image, stride s on both axes and the
// output size and padding of pad (see Padding). The result has shape
// [batch, oh, ow, f]. A bias is added by the caller: Add(Conv2D(x, w, s,
// pad), b) with b of shape [f].
//
// The layout is NHWC with an HWIO kernel, TensorFlow's default and the
// layout of the ConvHVAE's reference code. It is computed as im2col
// followed by one matrix product: each output pixel's receptive field
// becomes a row of a [batch·oh·ow, kh·kw·c] matrix, multiplied by w seen
// as [kh·kw·c, f]. In NHWC one kernel row of a receptive field is a
// contiguous run of kw·c values of x, so building the matrix is a copy
// per kernel row, and the product runs on MatMul's kernels. Its backward
// pass is the same product's and the adjoint of im2col (col2im), each a
// recorded operation, so gradients of gradients work.
//
// It panics if x or w does not have rank 4, the channels disagree, stride
// < 1, or the kernel does not fit a VALID input.
func Conv2D(x, w *Tensor, stride int, pad Padding) *Tensor {
	g := newConvGeom("Conv2D", x.shape, w.shape, stride, pad)
	var cols *Tensor
	if g.trivial() {
		cols = Reshape(x, g.rows(), g.cols())
	} else {
		cols = im2col(x, g)
	}
	out := MatMul(cols, Reshape(w, g.cols(), g.f))
	return Reshape(out, g.n, g.oh, g.ow, g.f)
}

// ConvTranspose2D returns the transposed convolution of y [batch, oh, ow,
// f] with the kernel w [kh, kw, c, f]: the adjoint of x ↦ Conv2D(x, w,
// stride, pad) for x of shape [batch, outH, outW, c], as in TensorFlow's
// conv2d_transpose (and so Keras's Conv2DTranspose, whose kernel has this
// layout too):
//
//	out[b, i, j, c] = Σ y[b, u, v, o] · w[p, q, c, o]   over i = u·s − padT + p, j = v·s − padL + q
//
// so that ⟨Conv2D(x, w), y⟩ = ⟨x, ConvTranspose2D(y, w)⟩. The padding
// padT, padL is that of the Conv2D of the output size. outH and outW give
// the output size; both 0 means Keras's default, oh·s for SAME and oh·s +
// max(kh − s, 0) for VALID (likewise for the width). A Conv2D of
// [outH, outW] with this stride and padding must give [oh, ow]; under
// SAME several sizes do (7 and 8 both give 4 at stride 2), and since the
// padding before the first row is the same for both there (1 for a 4×4
// kernel), the output of size 7 equals the first 7 rows and columns of
// the output of size 8, which is how the ConvHVAE's reference code gets
// its 7×7 layer.
//
// It is computed as the product y·wᵀ (MatMulT, [batch·oh·ow, kh·kw·c])
// followed by col2im, the scatter-add that is the adjoint of Conv2D's
// im2col; both are recorded operations, so gradients of gradients work.
// Its gradient with respect to y is Conv2D of the incoming gradient.
//
// It panics if y or w does not have rank 4, the channels disagree, stride
// < 1, only one of outH, outW is 0, or the output size does not give y's
// spatial size.
func ConvTranspose2D(y, w *Tensor, stride int, pad Padding, outH, outW int) *Tensor {
	if len(y.shape) != 4 || len(w.shape) != 4 || y.shape[3] != w.shape[3] {
		panic(fmt.Sprintf("ad: ConvTranspose2D: input %v and kernel %v; want [batch, height, width, f] and [kh, kw, c, f]", y.shape, w.shape))
	}
	if stride < 1 {
		panic(fmt.Sprintf("ad: ConvTranspose2D: stride %d for input %v and kernel %v; want stride >= 1", stride, y.shape, w.shape))
	}
	if (outH == 0) != (outW == 0) || outH < 0 || outW < 0 {
		panic(fmt.Sprintf("ad: ConvTranspose2D: output size [%d %d] for input %v and kernel %v; want both > 0, or both 0 for the default", outH, outW, y.shape, w.shape))
	}
	if outH == 0 {
		outH = transposeAxis(y.shape[1], w.shape[0], stride, pad)
		outW = transposeAxis(y.shape[2], w.shape[1], stride, pad)
	}
	xShape := []int{y.shape[0], outH, outW, w.shape[2]}
	g := newConvGeom("ConvTranspose2D", xShape, w.shape, stride, pad)
	if g.oh != y.shape[1] || g.ow != y.shape[2] {
		panic(fmt.Sprintf("ad: ConvTranspose2D: input %v and kernel %v with stride %d, %v padding: output size [%d %d] convolves to [%d %d], not [%d %d]",
			y.shape, w.shape, stride, pad, outH, outW, g.oh, g.ow, y.shape[1], y.shape[2]))
	}
	cols := MatMulT(Reshape(y, g.rows(), g.f), Reshape(w, g.cols(), g.f))
	if g.trivial() {
		return Reshape(cols, xShape...)
	}
	return col2im(cols, g)
}

// im2col returns the [rows, cols] matrix whose row for output pixel (b, i,
// j) holds x's receptive field of it, kernel row by kernel row, zeros
// where it reaches into the padding. Its adjoint is col2im.
func im2col(x *Tensor, g *convGeom) *Tensor {
	out := filledLater([]int{g.rows(), g.cols()}) // every entry is written
	inHalves(g.n, len(out.data), func(lo, hi int) { im2colInto(out.data, x.data, g, lo, hi) })
	return record(out, func(G *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{col2im(G, g)}
	}, x)
}

// col2im returns the [n, h, w, c] image in which every entry of cols is
// added at the input position im2col took it from (padding positions are
// dropped): the adjoint of im2col, and the backward of a convolution with
// respect to its input. Its adjoint is im2col.
func col2im(cols *Tensor, g *convGeom) *Tensor {
	out := fromShape([]int{g.n, g.h, g.w, g.c}) // zeroed: it is added into
	inHalves(g.n, len(cols.data), func(lo, hi int) { col2imInto(out.data, cols.data, g, lo, hi) })
	return record(out, func(G *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{im2col(G, g)}
	}, cols)
}

// kernelCols returns, for output column j, the first kernel column q0
// whose input column is inside the image, the end q1 of that run, and the
// input column of q0. Input columns of consecutive kernel columns are
// consecutive, so in NHWC the run is one contiguous slice of the input row.
func (g *convGeom) kernelCols(j int) (q0, q1, iw0 int) {
	base := j*g.stride - g.padL
	q0 = max(0, -base)
	q1 = min(g.kw, g.w-base)
	return q0, max(q1, q0), base + q0
}

// im2colInto writes the rows of images lo to hi of the batch.
func im2colInto(dst, x []float64, g *convGeom, lo, hi int) {
	c, kwc := g.c, g.kw*g.c
	K := g.cols()
	row := lo * g.oh * g.ow
	for b := lo; b < hi; b++ {
		img := x[b*g.h*g.w*c : (b+1)*g.h*g.w*c]
		for i := 0; i < g.oh; i++ {
			for j := 0; j < g.ow; j++ {
				d := dst[row*K : (row+1)*K]
				row++
				q0, q1, iw0 := g.kernelCols(j)
				for p := 0; p < g.kh; p++ {
					dp := d[p*kwc : (p+1)*kwc]
					ih := i*g.stride - g.padT + p
					if ih < 0 || ih >= g.h || q0 == q1 {
						clear(dp)
						continue
					}
					clear(dp[:q0*c])
					src := img[(ih*g.w+iw0)*c : (ih*g.w+iw0+q1-q0)*c]
					copy(dp[q0*c:q1*c], src)
					clear(dp[q1*c:])
				}
			}
		}
	}
}

// col2imInto adds the rows of images lo to hi of the batch into dst, which
// holds zeros. Images are disjoint, so the batch can be split between
// goroutines without changing a bit. For every image entry the
// contributions are added in the order of the output pixels (row by row)
// and, within one, of the kernel rows, so the sum does not depend on the
// output size: a transposed convolution to 7 rows is bitwise the first 7
// rows of one to 8 with the same padding before.
func col2imInto(dst, cols []float64, g *convGeom, lo, hi int) {
	c, kwc := g.c, g.kw*g.c
	K := g.cols()
	row := lo * g.oh * g.ow
	for b := lo; b < hi; b++ {
		img := dst[b*g.h*g.w*c : (b+1)*g.h*g.w*c]
		for i := 0; i < g.oh; i++ {
			for j := 0; j < g.ow; j++ {
				s := cols[row*K : (row+1)*K]
				row++
				q0, q1, iw0 := g.kernelCols(j)
				if q0 == q1 {
					continue
				}
				for p := 0; p < g.kh; p++ {
					ih := i*g.stride - g.padT + p
					if ih < 0 || ih >= g.h {
						continue
					}
					src := s[p*kwc+q0*c : p*kwc+q1*c]
					d := img[(ih*g.w+iw0)*c : (ih*g.w+iw0)*c+len(src)]
					for k, v := range src {
						d[k] += v
					}
				}
			}
		}
	}
}
