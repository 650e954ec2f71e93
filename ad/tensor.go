package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Tensor is a dense, row-major float64 array of any rank, optionally
// attached to the gradient graph.
//
// A Tensor is immutable once built: operations return new tensors and may
// share the backing array of their input (Reshape does), so the slice
// returned by Data must not be written to unless the caller made the tensor
// itself (New, Zeros, Full) and it has not been used in an operation yet.
// The one exception is a parameter leaf between training steps: an
// optimizer updates it in place, after the graph that used it has been
// differentiated and before the next one is built (views made with Reshape
// or Detach see the new values).
//
// A tensor takes part in differentiation only if it was marked with
// RequireGrad or computed from such a tensor. Operations on constants record
// nothing, so evaluating a bound with plain tensors costs no more than
// evaluating it by hand.
type Tensor struct {
	shape []int
	data  []float64
	node  *node
	// owned marks a tensor whose buffer ad allocated for it alone: the
	// output of an operation, or a result of a first-order Grad or VJP
	// that shares its buffer with nothing else. Free may take it back.
	owned bool
}

// New returns a tensor with the given shape that takes ownership of data.
// A nil shape (or none) gives a scalar. It panics if len(data) does not
// equal the product of shape.
func New(data []float64, shape ...int) *Tensor {
	n := numel(shape)
	if len(data) != n {
		panic(fmt.Sprintf("ad: New: %d values for shape %v (want %d)", len(data), shape, n))
	}
	return &Tensor{shape: cloneInts(shape), data: data}
}

// Zeros returns a zero tensor of the given shape.
func Zeros(shape ...int) *Tensor {
	return &Tensor{shape: cloneInts(shape), data: make([]float64, numel(shape))}
}

// Full returns a tensor of the given shape with every entry v.
func Full(v float64, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.data {
		t.data[i] = v
	}
	return t
}

// Ones returns a tensor of ones.
func Ones(shape ...int) *Tensor { return Full(1, shape...) }

// Scalar returns a rank-0 tensor holding v.
func Scalar(v float64) *Tensor { return &Tensor{data: []float64{v}} }

// Randn returns a tensor of independent standard normal draws from rng.
func Randn(rng *rand.Rand, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.data {
		t.data[i] = rng.NormFloat64()
	}
	return t
}

// Shape returns the tensor's shape. The caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int { return t.shape[normAxis("Dim", i, len(t.shape))] }

// Len returns the number of entries.
func (t *Tensor) Len() int { return len(t.data) }

// Data returns the backing array in row-major order. See the type comment
// for when it may be written to.
func (t *Tensor) Data() []float64 { return t.data }

// Item returns the single value of a one-entry tensor. It panics otherwise.
func (t *Tensor) Item() float64 {
	if len(t.data) != 1 {
		panic(fmt.Sprintf("ad: Item: tensor of shape %v has %d entries", t.shape, len(t.data)))
	}
	return t.data[0]
}

// At returns the entry at the given multi-index.
func (t *Tensor) At(idx ...int) float64 {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("ad: At: %d indices for shape %v", len(idx), t.shape))
	}
	off := 0
	for i, k := range idx {
		if k < 0 || k >= t.shape[i] {
			panic(fmt.Sprintf("ad: At: index %v out of range for shape %v", idx, t.shape))
		}
		off = off*t.shape[i] + k
	}
	return t.data[off]
}

// RequireGrad marks t as a leaf of the gradient graph (a parameter or an
// input to differentiate with respect to) and returns t. Operations on t are
// recorded from then on.
func (t *Tensor) RequireGrad() *Tensor {
	if t.node == nil {
		t.node = &node{out: t}
	}
	return t
}

// RequiresGrad reports whether t is part of the gradient graph.
func (t *Tensor) RequiresGrad() bool { return t.node != nil }

// Detach returns a tensor sharing t's values that is not part of the
// gradient graph: the stop-gradient operation.
func (t *Tensor) Detach() *Tensor {
	if t.node == nil {
		return t
	}
	return &Tensor{shape: t.shape, data: t.data}
}

// Clone returns a detached deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{shape: cloneInts(t.shape), data: append([]float64(nil), t.data...)}
}

// String formats small tensors fully and large ones by shape.
func (t *Tensor) String() string {
	if len(t.data) <= 16 {
		return fmt.Sprintf("Tensor%v%v", t.shape, t.data)
	}
	return fmt.Sprintf("Tensor%v[%g ... %g]", t.shape, t.data[0], t.data[len(t.data)-1])
}

// HasNaN reports whether any entry is NaN.
func (t *Tensor) HasNaN() bool {
	for _, v := range t.data {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("ad: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

func cloneInts(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	return append([]int(nil), s...)
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(op string, axis, rank int) int {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		panic(fmt.Sprintf("ad: %s: axis %d out of range for rank %d", op, axis, rank))
	}
	return a
}

// split returns the sizes before, at and after axis: the tensor seen as
// [outer, n, inner].
func split(shape []int, axis int) (outer, n, inner int) {
	outer, inner = 1, 1
	for i := 0; i < axis; i++ {
		outer *= shape[i]
	}
	for i := axis + 1; i < len(shape); i++ {
		inner *= shape[i]
	}
	return outer, shape[axis], inner
}

// fromShape returns a new tensor of the given shape (shape is not copied).
func fromShape(shape []int) *Tensor {
	return &Tensor{shape: shape, data: newBuf(numel(shape)), owned: true}
}

// filledLater is fromShape for an operation that overwrites every entry
// before anyone reads them: the buffer may hold old values.
func filledLater(shape []int) *Tensor {
	return &Tensor{shape: shape, data: newBufDirty(numel(shape)), owned: true}
}
