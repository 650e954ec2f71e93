package ad_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/eimkit/eimkit/ad"
)

// convGeometry is one convolution of the tests: input [n, h, w, c],
// kernel [kh, kw, c, f], stride and padding.
type convGeometry struct {
	name           string
	n, h, w, c     int
	kh, kw, f      int
	stride         int
	pad            ad.Padding
	outH, outW     int // transposed output size when the conv's input is not its default
	defaultOutSize bool
}

// convGeometries are the convolutions of the ConvHVAE (4×4 kernels, stride
// 2, SAME: 28 → 14 → 7 → 4 in the encoder and back in the decoder), stride
// 1 VALID, and odd cases: a stride larger than the kernel (input pixels no
// window sees), a kernel larger than a SAME input, rectangular images and
// kernels, a 1×1 kernel (no im2col copy), and the 13/6/5 example of
// TensorFlow's padding notes. Channel counts are small, but at least 2 on
// both sides so that channel mix-ups show.
var convGeometries = []convGeometry{
	{name: "28→14 SAME s2", n: 1, h: 28, w: 28, c: 1, kh: 4, kw: 4, f: 2, stride: 2, pad: ad.PadSame, defaultOutSize: true},
	{name: "14→7 SAME s2", n: 1, h: 14, w: 14, c: 2, kh: 4, kw: 4, f: 2, stride: 2, pad: ad.PadSame, defaultOutSize: true},
	{name: "7→4 SAME s2", n: 2, h: 7, w: 7, c: 2, kh: 4, kw: 4, f: 3, stride: 2, pad: ad.PadSame},
	{name: "8→4 SAME s2", n: 2, h: 8, w: 8, c: 2, kh: 4, kw: 4, f: 3, stride: 2, pad: ad.PadSame, defaultOutSize: true},
	{name: "VALID s1", n: 2, h: 6, w: 5, c: 2, kh: 3, kw: 2, f: 3, stride: 1, pad: ad.PadValid, defaultOutSize: true},
	{name: "VALID s2 dropped row", n: 1, h: 7, w: 6, c: 2, kh: 2, kw: 3, f: 2, stride: 2, pad: ad.PadValid},
	{name: "SAME s3 k2 gaps", n: 1, h: 7, w: 8, c: 2, kh: 2, kw: 2, f: 2, stride: 3, pad: ad.PadSame},
	{name: "SAME kernel larger than input", n: 2, h: 3, w: 2, c: 2, kh: 5, kw: 4, f: 2, stride: 1, pad: ad.PadSame, defaultOutSize: true},
	{name: "1×1 s1", n: 2, h: 3, w: 4, c: 3, kh: 1, kw: 1, f: 2, stride: 1, pad: ad.PadValid, defaultOutSize: true},
	{name: "13/6/5 SAME", n: 1, h: 13, w: 13, c: 1, kh: 6, kw: 6, f: 2, stride: 5, pad: ad.PadSame},
	{name: "13/6/5 VALID", n: 1, h: 13, w: 13, c: 1, kh: 6, kw: 6, f: 2, stride: 5, pad: ad.PadValid},
}

func (g convGeometry) x(rng *rand.Rand) *ad.Tensor { return randn(rng, g.n, g.h, g.w, g.c) }
func (g convGeometry) k(rng *rand.Rand) *ad.Tensor { return randn(rng, g.kh, g.kw, g.c, g.f) }
func (g convGeometry) y(rng *rand.Rand) *ad.Tensor {
	oh, _ := tfPad(g.h, g.kh, g.stride, g.pad)
	ow, _ := tfPad(g.w, g.kw, g.stride, g.pad)
	return randn(rng, g.n, oh, ow, g.f)
}

// convT is the transposed convolution back to g's input size, through the
// default output size where g's input is the default.
func (g convGeometry) convT(y, w *ad.Tensor) *ad.Tensor {
	if g.defaultOutSize {
		return ad.ConvTranspose2D(y, w, g.stride, g.pad, 0, 0)
	}
	return ad.ConvTranspose2D(y, w, g.stride, g.pad, g.h, g.w)
}

// tfPad is TensorFlow's padding arithmetic as its tf.nn documentation
// states it ("Notes on padding"), written out independently of ad's:
//
//	SAME:  out = ceil(in / stride)
//	VALID: out = ceil((in − k + 1) / stride)
//	pad_along = max((out − 1)·stride + k − in, 0), pad_before = ⌊pad_along/2⌋
//
// (VALID pads nothing.)
func tfPad(in, k, stride int, pad ad.Padding) (out, before int) {
	if pad == ad.PadSame {
		out = int(math.Ceil(float64(in) / float64(stride)))
		return out, max((out-1)*stride+k-in, 0) / 2
	}
	return int(math.Ceil(float64(in-k+1) / float64(stride))), 0
}

// convGamma is the summation error bound γₙ = n·u/(1 − n·u) with u = 2⁻⁵³:
// a sum of n products computed in floating point in any order is within
// γₙ Σ|terms| of the exact sum.
func convGamma(n int) float64 {
	const u = 0x1p-53
	return float64(n) * u / (1 - float64(n)*u)
}

// convRef is Conv2D by its definition, one output entry at a time, with
// the padding of tfPad. It returns the output and, per entry, the error
// bound γ_K Σ|terms| (K = kh·kw·c) of a computed sum.
func convRef(x, w *ad.Tensor, stride int, pad ad.Padding) (out, bound *ad.Tensor) {
	n, h, wd, c := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	kh, kw, f := w.Dim(0), w.Dim(1), w.Dim(3)
	oh, pt := tfPad(h, kh, stride, pad)
	ow, pl := tfPad(wd, kw, stride, pad)
	out, bound = ad.Zeros(n, oh, ow, f), ad.Zeros(n, oh, ow, f)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for o := 0; o < f; o++ {
					s, abs := 0.0, 0.0
					for p := 0; p < kh; p++ {
						for q := 0; q < kw; q++ {
							ih, iw := i*stride-pt+p, j*stride-pl+q
							if ih < 0 || ih >= h || iw < 0 || iw >= wd {
								continue
							}
							for ch := 0; ch < c; ch++ {
								t := x.At(b, ih, iw, ch) * w.At(p, q, ch, o)
								s += t
								abs += math.Abs(t)
							}
						}
					}
					k := ((b*oh+i)*ow+j)*f + o
					out.Data()[k] = s
					bound.Data()[k] = convGamma(kh*kw*c) * abs
				}
			}
		}
	}
	return out, bound
}

// convTRef is ConvTranspose2D by its definition: every product y·w is
// scattered to the output entry it belongs to. The padding is tfPad's for
// a convolution of [outH, outW]. The bound of an entry is γ_m Σ|terms|
// with m the number of its terms.
func convTRef(y, w *ad.Tensor, stride int, pad ad.Padding, outH, outW int) (out, bound *ad.Tensor) {
	n, oh, ow, f := y.Dim(0), y.Dim(1), y.Dim(2), y.Dim(3)
	kh, kw, c := w.Dim(0), w.Dim(1), w.Dim(2)
	_, pt := tfPad(outH, kh, stride, pad)
	_, pl := tfPad(outW, kw, stride, pad)
	out, bound = ad.Zeros(n, outH, outW, c), ad.Zeros(n, outH, outW, c)
	count := make([]int, out.Len())
	for b := 0; b < n; b++ {
		for u := 0; u < oh; u++ {
			for v := 0; v < ow; v++ {
				for p := 0; p < kh; p++ {
					for q := 0; q < kw; q++ {
						i, j := u*stride-pt+p, v*stride-pl+q
						if i < 0 || i >= outH || j < 0 || j >= outW {
							continue
						}
						for ch := 0; ch < c; ch++ {
							k := ((b*outH+i)*outW+j)*c + ch
							for o := 0; o < f; o++ {
								t := y.At(b, u, v, o) * w.At(p, q, ch, o)
								out.Data()[k] += t
								bound.Data()[k] += math.Abs(t)
								count[k]++
							}
						}
					}
				}
			}
		}
	}
	for k := range count {
		bound.Data()[k] *= convGamma(count[k])
	}
	return out, bound
}

// convWithin fails unless got and want have the same shape and differ
// entry by entry by at most 2·bound (both are computed sums, each within
// bound of the exact one).
func convWithin(t *testing.T, what string, got, want, bound *ad.Tensor) {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	bad := 0
	for k, v := range got.Data() {
		if d := math.Abs(v - want.Data()[k]); !(d <= 2*bound.Data()[k]) {
			bad++
			if bad <= 3 {
				t.Errorf("%s: entry %d: %v, want %v (diff %.3g, bound %.3g)", what, k, v, want.Data()[k], d, 2*bound.Data()[k])
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d entries off in all", what, bad)
	}
}

// TestConvOutputSizes pins the output sizes of TensorFlow's convention
// for the ConvHVAE's layers and the documentation's example (13 inputs,
// kernel 6, stride 5: SAME pads 1 before and 2 after and gives 3, VALID
// drops the last two inputs and gives 2), and the transposed defaults of
// Keras's Conv2DTranspose (in·s for SAME, in·s + max(k − s, 0) for VALID).
func TestConvOutputSizes(t *testing.T) {
	cases := []struct {
		in, k, s int
		pad      ad.Padding
		out      int
	}{
		{28, 4, 2, ad.PadSame, 14}, {14, 4, 2, ad.PadSame, 7}, {7, 4, 2, ad.PadSame, 4},
		{8, 4, 2, ad.PadSame, 4}, {28, 4, 1, ad.PadValid, 25}, {28, 4, 2, ad.PadValid, 13},
		{13, 6, 5, ad.PadSame, 3}, {13, 6, 5, ad.PadValid, 2}, {3, 5, 1, ad.PadSame, 3},
	}
	for _, c := range cases {
		y := ad.Conv2D(ad.Zeros(1, c.in, 1, 1), ad.Zeros(c.k, 1, 1, 1), c.s, c.pad)
		if got := y.Shape(); !slices.Equal(got, sh(1, c.out, 1, 1)) {
			t.Errorf("Conv2D of %d, kernel %d, stride %d, %v: shape %v, want [1 %d 1 1]", c.in, c.k, c.s, c.pad, got, c.out)
		}
	}
	tcases := []struct {
		in, k, s int
		pad      ad.Padding
		out      int
	}{
		{4, 4, 2, ad.PadSame, 8}, {7, 4, 2, ad.PadSame, 14}, {14, 4, 2, ad.PadSame, 28},
		{25, 4, 1, ad.PadValid, 28}, {13, 4, 2, ad.PadValid, 28}, {2, 2, 5, ad.PadValid, 10},
	}
	for _, c := range tcases {
		y := ad.ConvTranspose2D(ad.Zeros(1, 1, c.in, 1), ad.Zeros(1, c.k, 1, 1), c.s, c.pad, 0, 0)
		// The height, 1 with a kernel of 1, becomes s either way.
		if got := y.Shape(); !slices.Equal(got, sh(1, c.s, c.out, 1)) {
			t.Errorf("ConvTranspose2D of %d, kernel %d, stride %d, %v: shape %v, want [1 %d %d 1]", c.in, c.k, c.s, c.pad, got, c.s, c.out)
		}
	}
}

// TestConvHandValues checks one row by hand: the input 1…7, the kernel
// (1, 10, 100, 1000), stride 2. SAME pads 1 before and 2 after, so the
// windows are (0,1,2,3), (2,3,4,5), (4,5,6,7), (6,7,0,0); VALID's are
// (1,2,3,4) and (3,4,5,6). The transposed convolution of a unit vector is
// the kernel placed at the window's position.
func TestConvHandValues(t *testing.T) {
	x := t1(sh(1, 1, 7, 1), 1, 2, 3, 4, 5, 6, 7)
	w := t1(sh(1, 4, 1, 1), 1, 10, 100, 1000)
	wantTensor(t, "SAME", ad.Conv2D(x, w, 2, ad.PadSame), t1(sh(1, 1, 4, 1), 3210, 5432, 7654, 76))
	wantTensor(t, "VALID", ad.Conv2D(x, w, 2, ad.PadValid), t1(sh(1, 1, 2, 1), 4321, 6543))
	// Output 1 of SAME reads x[1..4] (padded index 2..5) with w[0..3].
	e1 := t1(sh(1, 1, 4, 1), 0, 1, 0, 0)
	wantTensor(t, "transposed SAME", ad.ConvTranspose2D(e1, w, 2, ad.PadSame, 1, 7), t1(sh(1, 1, 7, 1), 0, 1, 10, 100, 1000, 0, 0))
	wantTensor(t, "transposed SAME edge", ad.ConvTranspose2D(t1(sh(1, 1, 4, 1), 0, 0, 0, 1), w, 2, ad.PadSame, 1, 7),
		t1(sh(1, 1, 7, 1), 0, 0, 0, 0, 0, 1, 10))
	wantTensor(t, "transposed VALID", ad.ConvTranspose2D(t1(sh(1, 1, 2, 1), 0, 1), w, 2, ad.PadValid, 1, 7),
		t1(sh(1, 1, 7, 1), 0, 0, 1, 10, 100, 1000, 0))
	// Channels: out[…, o] = Σ_c x[…, c] w[0, 0, c, o] for a 1×1 kernel.
	x2 := t1(sh(1, 1, 2, 2), 1, 2, 3, 4)
	w2 := t1(sh(1, 1, 2, 3), 1, 10, 100, 1000, 10000, 100000)
	wantTensor(t, "channels", ad.Conv2D(x2, w2, 1, ad.PadValid), t1(sh(1, 1, 2, 3), 2001, 20010, 200100, 4003, 40030, 400300))
}

// TestConvForward compares both operations with the plain loops of
// convRef and convTRef to the summation error bound, for every geometry.
func TestConvForward(t *testing.T) {
	for _, g := range convGeometries {
		rng := newRNG("conv forward " + g.name)
		x, w, y := g.x(rng), g.k(rng), g.y(rng)
		want, bound := convRef(x, w, g.stride, g.pad)
		convWithin(t, g.name+" Conv2D", ad.Conv2D(x, w, g.stride, g.pad), want, bound)
		want, bound = convTRef(y, w, g.stride, g.pad, g.h, g.w)
		convWithin(t, g.name+" ConvTranspose2D", g.convT(y, w), want, bound)
	}
}

// TestConvAdjoint checks ⟨Conv2D(x, w), y⟩ = ⟨x, ConvTranspose2D(y, w)⟩
// to rounding: both sides are the sum of the same products x·w·y, so
// they differ by at most (γ_{K+M} + γ_{K'+M'}) Σ|x·w·y|, where K, K' are
// the lengths of the inner sums (kh·kw·c, and f plus at most kh·kw for
// the scatter-add) and M, M' the
// lengths of the inner products.
func TestConvAdjoint(t *testing.T) {
	dot := func(a, b *ad.Tensor) float64 {
		s := 0.0
		for i, v := range a.Data() {
			s += v * b.Data()[i]
		}
		return s
	}
	abs := func(a *ad.Tensor) *ad.Tensor {
		r := a.Clone()
		for i, v := range r.Data() {
			r.Data()[i] = math.Abs(v)
		}
		return r
	}
	for _, g := range convGeometries {
		rng := newRNG("conv adjoint " + g.name)
		x, w, y := g.x(rng), g.k(rng), g.y(rng)
		lhs := dot(ad.Conv2D(x, w, g.stride, g.pad), y)
		rhs := dot(x, g.convT(y, w))
		S := dot(ad.Conv2D(abs(x), abs(w), g.stride, g.pad), abs(y))
		k := g.kh * g.kw
		tol := (convGamma(k*g.c+y.Len()) + convGamma(k*(g.f+1)+x.Len())) * S * (1 + 1e-12)
		if d := math.Abs(lhs - rhs); !(d <= tol) {
			t.Errorf("%s: ⟨Conv2D(x), y⟩ = %.17g, ⟨x, ConvTranspose2D(y)⟩ = %.17g (diff %.3g, bound %.3g)", g.name, lhs, rhs, d, tol)
		}
	}
}

// TestConvTransposeCrop checks the ConvHVAE decoder's first layer: the
// reference code makes 8×8 from 4×4 (Keras's default) and drops the last
// row and column; since SAME pads one row before for both 7 and 8, the
// transposed convolution to 7×7 is the same, bitwise.
func TestConvTransposeCrop(t *testing.T) {
	rng := newRNG("conv crop")
	y, w := randn(rng, 2, 4, 4, 3), randn(rng, 4, 4, 2, 3)
	full := ad.ConvTranspose2D(y, w, 2, ad.PadSame, 0, 0)
	if !slices.Equal(full.Shape(), sh(2, 8, 8, 2)) {
		t.Fatalf("default output shape %v, want [2 8 8 2]", full.Shape())
	}
	crop := ad.Slice(ad.Slice(full, 1, 0, 7), 2, 0, 7)
	wantTensor(t, "ConvTranspose2D to 7×7", ad.ConvTranspose2D(y, w, 2, ad.PadSame, 7, 7), crop)
}

// TestGradConv checks the first, second and third derivatives of both
// operations with respect to input and kernel against finite differences
// (checkGrad), for every geometry. The second order with the linear head
// is a Hessian–vector product, which for these bilinear maps is the
// cross term: the gradient with respect to x of ⟨∇_w L, v_w⟩ and the
// other way round. The quadratic head makes the incoming gradient depend
// on the inputs, so the backward of im2col (col2im) and of col2im (im2col)
// are differentiated again.
func TestGradConv(t *testing.T) {
	for _, g := range convGeometries {
		rng := newRNG("conv grad " + g.name)
		checkGrad(t, "Conv2D "+g.name, func(xs ...*ad.Tensor) *ad.Tensor {
			return ad.Conv2D(xs[0], xs[1], g.stride, g.pad)
		}, g.x(rng), g.k(rng))
		checkGrad(t, "ConvTranspose2D "+g.name, func(xs ...*ad.Tensor) *ad.Tensor {
			return g.convT(xs[0], xs[1])
		}, g.y(rng), g.k(rng))
	}
}

// TestGradConvComposite checks a nonlinear two-layer map, a transposed
// convolution of tanh of a convolution, so that the Hessian has terms
// beyond the bilinear cross terms (first to third order, as checkGrad).
func TestGradConvComposite(t *testing.T) {
	rng := newRNG("conv composite")
	f := func(xs ...*ad.Tensor) *ad.Tensor {
		h := ad.Tanh(ad.Add(ad.Conv2D(xs[0], xs[1], 2, ad.PadSame), xs[2]))
		return ad.ConvTranspose2D(h, xs[3], 2, ad.PadSame, 7, 7)
	}
	checkGrad(t, "ConvTranspose2D∘tanh∘Conv2D", f,
		randn(rng, 1, 7, 7, 2), ad.MulScalar(randn(rng, 4, 4, 2, 3), 0.3), randn(rng, 3), randn(rng, 4, 4, 2, 3))
}

// convGradFD checks ad.Grad of the scalar loss against central finite
// differences at the inputs (first order only, for networks too large for
// checkGrad's higher orders).
func convGradFD(t *testing.T, name string, loss func(xs ...*ad.Tensor) *ad.Tensor, inputs ...*ad.Tensor) {
	t.Helper()
	var theta []float64
	offs := []int{0}
	for _, x := range inputs {
		theta = append(theta, x.Data()...)
		offs = append(offs, len(theta))
	}
	build := func(th []float64, grad bool) []*ad.Tensor {
		xs := make([]*ad.Tensor, len(inputs))
		for i, x := range inputs {
			xs[i] = ad.New(slices.Clone(th[offs[i]:offs[i+1]]), x.Shape()...)
			if grad {
				xs[i].RequireGrad()
			}
		}
		return xs
	}
	xs := build(theta, true)
	got := flatten(t, name, ad.Grad(loss(xs...), xs...), xs)
	want := fd.Gradient(nil, func(th []float64) float64 { return loss(build(th, false)...).Item() }, theta, fdSettings)
	compareGrad(t, name, got, want, offs, false, theta)
}

// awayFromKinks fails the test if a pre-activation is within 20 finite
// difference steps of Relu's kink, where the finite difference would
// straddle it; the fixed seeds are chosen so that none is.
func awayFromKinks(t *testing.T, name string, z *ad.Tensor) {
	t.Helper()
	for i, v := range z.Data() {
		if math.Abs(v) < 20*fdStep {
			t.Fatalf("%s: pre-activation %d is %g, too close to 0 for finite differences", name, i, v)
		}
	}
}

// TestGradConvHVAEStack checks the gradient of the ConvHVAE's
// convolutional stacks, with ReLU and biases, against finite differences
// with respect to every input: the encoder 28 → 14 → 7 → 4 and the
// decoder 4 → 8, cropped to 7 as in the reference code, → 14 → 28. Two
// images and two channels per layer keep it small.
func TestGradConvHVAEStack(t *testing.T) {
	rng := newRNG("conv hvae stack")
	const ch = 2
	s := ad.PadSame
	layer := func(name string, h, b *ad.Tensor, check bool) *ad.Tensor {
		z := ad.Add(h, b)
		if check {
			awayFromKinks(t, name, z)
		}
		return ad.Relu(z)
	}
	encoder := func(check bool, xs ...*ad.Tensor) *ad.Tensor {
		h := layer("encoder 1", ad.Conv2D(xs[0], xs[1], 2, s), xs[2], check)
		h = layer("encoder 2", ad.Conv2D(h, xs[3], 2, s), xs[4], check)
		h = layer("encoder 3", ad.Conv2D(h, xs[5], 2, s), xs[6], check)
		return h
	}
	decoder := func(check bool, xs ...*ad.Tensor) *ad.Tensor {
		h := layer("decoder 1", ad.ConvTranspose2D(xs[0], xs[1], 2, s, 0, 0), xs[2], check)
		h = ad.Slice(ad.Slice(h, 1, 0, 7), 2, 0, 7)
		h = layer("decoder 2", ad.ConvTranspose2D(h, xs[3], 2, s, 0, 0), xs[4], check)
		return ad.Add(ad.ConvTranspose2D(h, xs[5], 2, s, 0, 0), xs[6])
	}
	head := func(y, r *ad.Tensor) *ad.Tensor { return ad.Sum(ad.Mul(y, r)) }

	enc := []*ad.Tensor{randn(rng, 2, 28, 28, 1),
		ad.MulScalar(randn(rng, 4, 4, 1, ch), 0.5), randn(rng, ch),
		ad.MulScalar(randn(rng, 4, 4, ch, ch), 0.3), randn(rng, ch),
		ad.MulScalar(randn(rng, 4, 4, ch, ch), 0.3), randn(rng, ch)}
	rEnc := randn(rng, 2, 4, 4, ch)
	if got := encoder(true, enc...).Shape(); !slices.Equal(got, sh(2, 4, 4, ch)) {
		t.Fatalf("encoder output shape %v, want [2 4 4 %d]", got, ch)
	}
	convGradFD(t, "encoder", func(xs ...*ad.Tensor) *ad.Tensor { return head(encoder(false, xs...), rEnc) }, enc...)

	dec := []*ad.Tensor{randn(rng, 2, 4, 4, ch),
		ad.MulScalar(randn(rng, 4, 4, ch, ch), 0.5), randn(rng, ch),
		ad.MulScalar(randn(rng, 4, 4, ch, ch), 0.3), randn(rng, ch),
		ad.MulScalar(randn(rng, 4, 4, 1, ch), 0.3), randn(rng, 1)}
	rDec := randn(rng, 2, 28, 28, 1)
	if got := decoder(true, dec...).Shape(); !slices.Equal(got, sh(2, 28, 28, 1)) {
		t.Fatalf("decoder output shape %v, want [2 28 28 1]", got)
	}
	convGradFD(t, "decoder", func(xs ...*ad.Tensor) *ad.Tensor { return head(decoder(false, xs...), rDec) }, dec...)
}

// TestRelu checks values (NaN passes through, −0 and −Inf give 0), the
// derivative 1{x > 0} exactly (0 at 0), and derivatives up to third order
// against finite differences away from the kink.
func TestRelu(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	x := t1(sh(2, 4), -2, -0.5, 0, math.Copysign(0, -1), 0.5, 3, inf, -inf)
	wantTensor(t, "Relu", ad.Relu(x), t1(sh(2, 4), 0, 0, 0, 0, 0.5, 3, inf, 0))
	if v := ad.Relu(t1(sh(1), nan)).Item(); !math.IsNaN(v) {
		t.Errorf("Relu(NaN) = %v, want NaN", v)
	}
	xg := x.Clone().RequireGrad()
	g := ad.Grad(ad.Sum(ad.Mul(ad.Relu(xg), t1(sh(2, 4), 1, 2, 3, 4, 5, 6, 7, 8))), xg)[0]
	wantTensor(t, "∂Relu", g, t1(sh(2, 4), 0, 0, 0, 0, 5, 6, 7, 0))
	rng := newRNG("relu")
	checkGrad(t, "Relu", unary(ad.Relu), awayFromZero(rng, 0.1, 2, 3, 5))
	checkGrad(t, "Relu∘Conv2D", func(xs ...*ad.Tensor) *ad.Tensor {
		return ad.Square(ad.Relu(ad.Conv2D(xs[0], xs[1], 1, ad.PadValid)))
	}, t1(sh(1, 2, 2, 1), 1, -2, 3, 0.5), t1(sh(1, 1, 1, 2), 1.5, -0.7))
}

func TestConvShapePanics(t *testing.T) {
	x, w := ad.Zeros(2, 7, 7, 3), ad.Zeros(4, 4, 3, 5)
	mustPanic(t, "Conv2D rank", func() { ad.Conv2D(ad.Zeros(7, 7, 3), w, 1, ad.PadSame) }, "Conv2D", "[7 7 3]", "[4 4 3 5]")
	mustPanic(t, "Conv2D kernel rank", func() { ad.Conv2D(x, ad.Zeros(4, 4, 3), 1, ad.PadSame) }, "Conv2D", "[2 7 7 3]", "[4 4 3]")
	mustPanic(t, "Conv2D channels", func() { ad.Conv2D(x, ad.Zeros(4, 4, 2, 5), 1, ad.PadSame) }, "Conv2D", "[2 7 7 3]", "[4 4 2 5]")
	mustPanic(t, "Conv2D stride", func() { ad.Conv2D(x, w, 0, ad.PadSame) }, "Conv2D", "stride 0", "[2 7 7 3]")
	mustPanic(t, "Conv2D padding", func() { ad.Conv2D(x, w, 1, ad.Padding(7)) }, "Conv2D", "Padding(7)", "[2 7 7 3]")
	mustPanic(t, "Conv2D VALID too small", func() { ad.Conv2D(ad.Zeros(2, 3, 7, 3), w, 1, ad.PadValid) }, "Conv2D", "[2 3 7 3]", "[4 4 3 5]", "VALID")
	mustPanic(t, "Conv2D empty kernel", func() { ad.Conv2D(x, ad.Zeros(0, 4, 3, 5), 1, ad.PadSame) }, "Conv2D", "[0 4 3 5]")
	y := ad.Zeros(2, 4, 4, 5)
	mustPanic(t, "ConvTranspose2D rank", func() { ad.ConvTranspose2D(ad.Zeros(4, 4, 5), w, 2, ad.PadSame, 0, 0) }, "ConvTranspose2D", "[4 4 5]", "[4 4 3 5]")
	mustPanic(t, "ConvTranspose2D channels", func() { ad.ConvTranspose2D(ad.Zeros(2, 4, 4, 3), w, 2, ad.PadSame, 0, 0) }, "ConvTranspose2D", "[2 4 4 3]", "[4 4 3 5]")
	mustPanic(t, "ConvTranspose2D stride", func() { ad.ConvTranspose2D(y, w, -1, ad.PadSame, 0, 0) }, "ConvTranspose2D", "stride -1")
	mustPanic(t, "ConvTranspose2D one size", func() { ad.ConvTranspose2D(y, w, 2, ad.PadSame, 7, 0) }, "ConvTranspose2D", "[7 0]", "[2 4 4 5]")
	mustPanic(t, "ConvTranspose2D size", func() { ad.ConvTranspose2D(y, w, 2, ad.PadSame, 9, 7) }, "ConvTranspose2D", "[9 7]", "[5 4]", "[2 4 4 5]", "[4 4 3 5]")
	mustPanic(t, "ConvTranspose2D VALID too small", func() { ad.ConvTranspose2D(y, w, 1, ad.PadValid, 3, 3) }, "ConvTranspose2D", "[2 3 3 3]", "VALID")
}

// convEncoder is the ConvHVAE's q(z₂ | x) convolutions at full size: a
// batch of 128 images 28×28×1, three 4×4 convolutions with 32 filters at
// stride 2, SAME, each with a bias and ReLU (28 → 14 → 7 → 4).
type convEncoder struct {
	x      *ad.Tensor
	w, b   [3]*ad.Tensor
	params []*ad.Tensor
}

func newConvEncoder() *convEncoder {
	rng := rand.New(rand.NewPCG(1, 2))
	e := &convEncoder{x: uniform(rng, 0, 1, 128, 28, 28, 1)}
	in := 1
	for l := range e.w {
		e.w[l] = ad.MulScalar(randn(rng, 4, 4, in, 32), 1/math.Sqrt(float64(16*in))).RequireGrad()
		e.b[l] = ad.Zeros(32).RequireGrad()
		e.params = append(e.params, e.w[l], e.b[l])
		in = 32
	}
	return e
}

func (e *convEncoder) forward() *ad.Tensor {
	h := e.x
	for l := range e.w {
		h = ad.Relu(ad.Add(ad.Conv2D(h, e.w[l], 2, ad.PadSame), e.b[l]))
	}
	return h
}

// BenchmarkConvEncoder is one training step's worth of the encoder: the
// forward pass, the gradient of the sum of its output with respect to the
// kernels and biases, and Release as a training loop calls it.
func BenchmarkConvEncoder(b *testing.B) {
	e := newConvEncoder()
	b.ReportAllocs()
	for b.Loop() {
		L := ad.Sum(e.forward())
		ad.Grad(L, e.params...)
		ad.Release(L)
	}
}

// BenchmarkConvEncoderForward is the forward pass alone, with no
// gradient recorded.
func BenchmarkConvEncoderForward(b *testing.B) {
	e := newConvEncoder()
	ws := make([]*ad.Tensor, 3)
	for l := range ws {
		ws[l] = e.w[l].Detach()
	}
	b.ReportAllocs()
	for b.Loop() {
		h := e.x
		for l := range ws {
			h = ad.Relu(ad.Add(ad.Conv2D(h, ws[l], 2, ad.PadSame), e.b[l].Detach()))
		}
	}
}

// BenchmarkConvDecoder is the decoder's three transposed convolutions
// (4 → 8 cropped to 7 → 14 → 28, 32 channels then 1) on 128 inputs of
// 4×4×32, forward and backward with respect to the input and kernels.
func BenchmarkConvDecoder(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	z := randn(rng, 128, 4, 4, 32).RequireGrad()
	ws := []*ad.Tensor{
		ad.MulScalar(randn(rng, 4, 4, 32, 32), 0.1).RequireGrad(),
		ad.MulScalar(randn(rng, 4, 4, 32, 32), 0.1).RequireGrad(),
		ad.MulScalar(randn(rng, 4, 4, 1, 32), 0.1).RequireGrad(),
	}
	b.ReportAllocs()
	for b.Loop() {
		h := ad.Relu(ad.ConvTranspose2D(z, ws[0], 2, ad.PadSame, 7, 7))
		h = ad.Relu(ad.ConvTranspose2D(h, ws[1], 2, ad.PadSame, 0, 0))
		L := ad.Sum(ad.ConvTranspose2D(h, ws[2], 2, ad.PadSame, 0, 0))
		ad.Grad(L, z, ws[0], ws[1], ws[2])
		ad.Release(L)
	}
}

// TestConvGeometryNames checks that the geometry table's names are
// unique, so that each case draws its own numbers (newRNG keys on the
// name), and that the cases marked with an explicit output size do not
// have the default one (or they would not exercise the explicit path).
func TestConvGeometryNames(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range convGeometries {
		if seen[g.name] {
			t.Errorf("duplicate geometry name %q", g.name)
		}
		seen[g.name] = true
		oh, _ := tfPad(g.h, g.kh, g.stride, g.pad)
		def := oh * g.stride
		if g.pad == ad.PadValid {
			def += max(g.kh-g.stride, 0)
		}
		if (def == g.h) != g.defaultOutSize {
			t.Errorf("%s: default transposed height %d, input height %d, but defaultOutSize is %v", g.name, def, g.h, g.defaultOutSize)
		}
	}
}

// TestConvThreadsBitwise checks that splitting im2col, col2im and Relu
// between two goroutines (sizes above the split threshold) changes no
// bit of the values or the gradients.
func TestConvThreadsBitwise(t *testing.T) {
	rng := newRNG("conv threads")
	x, w1, w2 := randn(rng, 8, 14, 14, 4), randn(rng, 4, 4, 4, 6), randn(rng, 4, 4, 4, 6)
	run := func() []*ad.Tensor {
		x, w1, w2 := x.Clone().RequireGrad(), w1.Clone().RequireGrad(), w2.Clone().RequireGrad()
		h := ad.Relu(ad.Conv2D(x, w1, 2, ad.PadSame))
		y := ad.ConvTranspose2D(h, w2, 2, ad.PadSame, 0, 0)
		L := ad.Sum(ad.Square(y))
		return append([]*ad.Tensor{y.Detach()}, ad.Grad(L, x, w1, w2)...)
	}
	prev := ad.SetMaxThreads(1)
	one := run()
	ad.SetMaxThreads(2)
	two := run()
	ad.SetMaxThreads(prev)
	for i := range one {
		if !equalExact(one[i], two[i]) {
			t.Errorf("result %d differs between one and two goroutines", i)
		}
	}
}

// TestConvHessianVector checks one Hessian–vector product directly: for
// L(θ) = Σ r ⊙ tanh(ConvTranspose2D(tanh(Conv2D(x, w₁)), w₂)) over θ =
// (x, w₁, w₂), H·v from GradGraph and Grad of ⟨∇L, v⟩ against the central
// difference of the gradient along v, (∇L(θ + hv) − ∇L(θ − hv)) / 2h.
func TestConvHessianVector(t *testing.T) {
	rng := newRNG("conv hvp")
	theta := []*ad.Tensor{randn(rng, 2, 7, 7, 2), ad.MulScalar(randn(rng, 4, 4, 2, 3), 0.3), ad.MulScalar(randn(rng, 4, 4, 2, 3), 0.3)}
	r := randn(rng, 2, 7, 7, 2)
	v := []*ad.Tensor{randn(rng, 2, 7, 7, 2), randn(rng, 4, 4, 2, 3), randn(rng, 4, 4, 2, 3)}
	loss := func(xs []*ad.Tensor) *ad.Tensor {
		h := ad.Tanh(ad.Conv2D(xs[0], xs[1], 2, ad.PadSame))
		return ad.Sum(ad.Mul(r, ad.Tanh(ad.ConvTranspose2D(h, xs[2], 2, ad.PadSame, 7, 7))))
	}
	leaves := func(step float64) []*ad.Tensor {
		xs := make([]*ad.Tensor, len(theta))
		for i, x := range theta {
			xs[i] = ad.Add(x, ad.MulScalar(v[i], step)).Detach().Clone().RequireGrad()
		}
		return xs
	}
	xs := leaves(0)
	gs := ad.GradGraph(loss(xs), xs...)
	gv := ad.Scalar(0)
	for i, g := range gs {
		gv = ad.Add(gv, ad.Sum(ad.Mul(g, v[i])))
	}
	hv := flatten(t, "Hv", ad.Grad(gv, xs...), xs)
	plus, minus := leaves(fdStep), leaves(-fdStep)
	gp := flatten(t, "∇L(θ+hv)", ad.Grad(loss(plus), plus...), plus)
	gm := flatten(t, "∇L(θ−hv)", ad.Grad(loss(minus), minus...), minus)
	want := make([]float64, len(hv))
	for i := range want {
		want[i] = (gp[i] - gm[i]) / (2 * fdStep)
	}
	offs := []int{0}
	for _, x := range theta {
		offs = append(offs, offs[len(offs)-1]+x.Len())
	}
	compareGrad(t, "Hessian–vector product", hv, want, offs, false, make([]float64, len(hv)))
}
