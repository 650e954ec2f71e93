package ad

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTanhBackKernel checks tanh's backward kernel bitwise against the
// scalar loop, for every length up to 37 (all tails), with special values
// among the inputs.
func TestTanhBackKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	special := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.NaN(), 1e-300, 1e300}
	for n := 0; n <= 37; n++ {
		g, y := make([]float64, n+3), make([]float64, n+3)
		for i := range g {
			g[i] = rng.NormFloat64()
			y[i] = math.Tanh(3 * rng.NormFloat64())
			if rng.IntN(5) == 0 {
				y[i] = special[rng.IntN(len(special))]
			}
		}
		got, want := make([]float64, n+1), make([]float64, n)
		got[n] = 42
		tanhBackInto(got[:n], g, y)
		tanhBackLoop(want, g, y)
		for i, w := range want {
			if math.Float64bits(got[i]) != math.Float64bits(w) {
				t.Fatalf("n=%d: out[%d] = %v, want %v (g %v, y %v)", n, i, got[i], w, g[i], y[i])
			}
		}
		if got[n] != 42 {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
}

// TestSumToKernel checks that column sums through the product kernels
// (SumTo to a trailing shape) equal the row-by-row loop bit for bit.
func TestSumToKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 7))
	for _, r := range []int{1, 2, 5, 50, 1151} {
		for m := 1; m <= 21; m++ {
			x := Randn(rng, r, m)
			x.data[rng.IntN(len(x.data))] = math.Copysign(0, -1)
			got := SumTo(x, m).Data()
			prev := haveGemmKernels
			haveGemmKernels = false
			want := SumTo(x, m).Data()
			haveGemmKernels = prev
			for j, w := range want {
				if math.Float64bits(got[j]) != math.Float64bits(w) {
					t.Fatalf("r=%d m=%d: column %d sums to %v, the loop gives %v", r, m, j, got[j], w)
				}
			}
		}
	}
}
