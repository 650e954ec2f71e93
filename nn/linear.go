package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Linear is the affine map
//
//	y = x·W + B
//
// for x of shape [..., In]: W is [In, Out], B is [Out], and y is [..., Out].
// Leading (batch) axes of x pass through unchanged.
type Linear struct{ W, B *ad.Tensor }

// NewLinear returns a Linear layer with In = in and Out = out. W is drawn
// Glorot-uniform (Glorot & Bengio 2010),
//
//	W_ij ~ U(−a, a),   a = sqrt(6 / (in + out)),
//
// one rng.Float64 per entry in row-major order (W_ij = a·(2u − 1)), and B
// is zero. Both are marked with RequireGrad. It panics if in or out is not
// positive.
func NewLinear(rng *rand.Rand, in, out int) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn: NewLinear: sizes in=%d, out=%d must be positive", in, out))
	}
	a := GlorotBound(in, out)
	w := make([]float64, in*out)
	for i := range w {
		w[i] = a * (2*rng.Float64() - 1)
	}
	return &Linear{
		W: ad.New(w, in, out).RequireGrad(),
		B: ad.Zeros(out).RequireGrad(),
	}
}

// GlorotBound returns sqrt(6 / (in + out)), the half-width of the
// Glorot-uniform initialization, whose variance a²/3 = 2/(in + out) is the
// harmonic mean of 1/in and 1/out.
func GlorotBound(in, out int) float64 { return math.Sqrt(6 / float64(in+out)) }

// In returns the input width (W's first dimension).
func (l *Linear) In() int { return l.W.Dim(0) }

// Out returns the output width (W's second dimension).
func (l *Linear) Out() int { return l.W.Dim(1) }

// Forward returns x·W + B. x has shape [..., In] with any number of leading
// axes (none for a single point); the result has shape [..., Out]. It
// panics if x is a scalar or its last dimension is not In.
func (l *Linear) Forward(x *ad.Tensor) *ad.Tensor {
	in := l.W.Dim(0)
	if x.Rank() == 0 || x.Dim(-1) != in {
		panic(fmt.Sprintf("nn: Linear.Forward: input shape %v, want [..., %d]", x.Shape(), in))
	}
	// ad.Affine folds any leading axes into one matrix product and adds
	// the bias in the product's buffer.
	return ad.Affine(x, l.W, l.B)
}

// forwardTanh returns tanh(Forward(x)) as one fused operation.
func (l *Linear) forwardTanh(x *ad.Tensor) *ad.Tensor {
	in := l.W.Dim(0)
	if x.Rank() == 0 || x.Dim(-1) != in {
		panic(fmt.Sprintf("nn: Linear.Forward: input shape %v, want [..., %d]", x.Shape(), in))
	}
	return ad.AffineTanh(x, l.W, l.B)
}

// Params returns [W, B].
func (l *Linear) Params() []*ad.Tensor { return []*ad.Tensor{l.W, l.B} }

// MLP is a multilayer perceptron with tanh hidden layers and a linear
// output layer:
//
//	h₀ = x,   hₖ = tanh(Linearₖ(hₖ₋₁)) for k < L,   y = Linear_L(h_{L−1}).
type MLP struct{ Layers []*Linear }

// NewMLP returns an MLP with the given layer widths: sizes is the input
// width, the hidden widths, then the output width, so NewMLP(rng, 2, 20,
// 20, 1) is the paper's 2-20-20-1 energy network. Layers are initialized
// in order by NewLinear from rng. It panics if sizes has fewer than two
// entries or any entry is not positive.
func NewMLP(rng *rand.Rand, sizes ...int) *MLP {
	if len(sizes) < 2 {
		panic(fmt.Sprintf("nn: NewMLP: sizes %v: want at least an input and an output width", sizes))
	}
	for _, s := range sizes {
		if s <= 0 {
			panic(fmt.Sprintf("nn: NewMLP: sizes %v must be positive", sizes))
		}
	}
	m := &MLP{Layers: make([]*Linear, len(sizes)-1)}
	for i := range m.Layers {
		m.Layers[i] = NewLinear(rng, sizes[i], sizes[i+1])
	}
	return m
}

// Forward returns the network's output for x of shape [..., In]; the result
// has shape [..., Out]. It panics as Linear.Forward does.
func (m *MLP) Forward(x *ad.Tensor) *ad.Tensor {
	h := x
	last := len(m.Layers) - 1
	for _, l := range m.Layers[:last] {
		h = freeing(h, x, l.forwardTanh(h))
	}
	return freeing(h, x, m.Layers[last].Forward(h))
}

// freeing returns next, handing back to ad the buffer of the previous
// layer's output prev unless it is the network's input x: without a graph
// (weights and input constants, an evaluation) nothing else can refer to
// it, and ad.Free does nothing to a recorded output, which the graph
// needs. In an evaluation of many rows this keeps one set of layer buffers
// in use instead of allocating every layer's output afresh per call.
func freeing(prev, x, next *ad.Tensor) *ad.Tensor {
	if prev != x && prev != next {
		ad.Free(prev)
	}
	return next
}

// Params returns the parameters of all layers in order: W₁, B₁, W₂, B₂, ….
func (m *MLP) Params() []*ad.Tensor {
	ps := make([]*ad.Tensor, 0, 2*len(m.Layers))
	for _, l := range m.Layers {
		ps = append(ps, l.W, l.B)
	}
	return ps
}
