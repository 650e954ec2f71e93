package ad

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDirtyBuffersOverwritten checks the operations that take recycled
// buffers without clearing them (filledLater): with the pools stocked
// with NaN-filled buffers of the output's size, every output entry must
// still be the operation's value — an entry left unwritten shows as NaN.
func TestDirtyBuffersOverwritten(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	randn := func(shape ...int) *Tensor { return Randn(rng, shape...) }
	poison := func(n int) {
		for range 8 {
			b := make([]float64, n)
			for i := range b {
				b[i] = math.NaN()
			}
			freeBuf(b)
		}
	}
	x, W, b := randn(300, 7), randn(7, 20), randn(20)
	y := Tanh(randn(300, 20))
	cases := map[string]func() *Tensor{
		"Affine":           func() *Tensor { return Affine(x, W, b) },
		"Affine k=0":       func() *Tensor { return Affine(randn(300, 0), randn(0, 20), b) },
		"Affine n<4":       func() *Tensor { return Affine(randn(2000, 7), randn(7, 3), randn(3)) },
		"AffineTanh":       func() *Tensor { return AffineTanh(x, W, b) },
		"MatMul":           func() *Tensor { return MatMul(x, W) },
		"MatMulT":          func() *Tensor { return MatMulT(y, W) },
		"TMatMul":          func() *Tensor { return TMatMul(randn(300, 20), randn(300, 20)) },
		"batched MatMul":   func() *Tensor { return MatMul(randn(3, 100, 7), W) },
		"Tanh":             func() *Tensor { return Tanh(randn(300, 20)) },
		"Exp":              func() *Tensor { return Exp(randn(300, 20)) },
		"tanhBack":         func() *Tensor { return tanhBack(randn(300, 20), y) },
		"mul3":             func() *Tensor { return mul3(y, y, randn(300, 20), 2) },
		"Add":              func() *Tensor { return Add(y, randn(300, 20)) },
		"Add row":          func() *Tensor { return Add(y, b) },
		"Mul short row":    func() *Tensor { return Mul(randn(2000, 3), randn(3)) },
		"Sub scalar":       func() *Tensor { return Sub(y, Scalar(1)) },
		"Div scalar left":  func() *Tensor { return Div(Scalar(1), AddScalar(Square(y), 1)) },
		"Add column":       func() *Tensor { return Add(y, randn(300, 1)) },
		"Max broadcast":    func() *Tensor { return Maximum(randn(300, 1, 20), randn(1, 7, 20)) },
		"Mul leading axis": func() *Tensor { return Mul(randn(20), y) },
	}
	for name, f := range cases {
		want := f().Data() // shapes, from clean or dirty buffers alike
		poison(len(want))
		got := f()
		for i, v := range got.Data() {
			if math.IsNaN(v) {
				t.Fatalf("%s: entry %d of %v left unwritten", name, i, got.Shape())
			}
		}
	}
}
