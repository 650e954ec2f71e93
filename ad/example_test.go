package ad_test

import (
	"fmt"
	"math"

	"github.com/eimkit/eimkit/ad"
)

// ExampleGradGraph differentiates f(x) = x³ twice at x = 3: GradGraph
// records the first derivative 3x² = 27 so that Grad can differentiate it
// again, giving 6x = 18.
func ExampleGradGraph() {
	x := ad.Scalar(3).RequireGrad()
	y := ad.Mul(ad.Mul(x, x), x)

	dy := ad.GradGraph(y, x)[0] // 3x², itself differentiable
	d2y := ad.Grad(dy, x)[0]    // 6x

	fmt.Println("f(3)   =", y.Item())
	fmt.Println("f'(3)  =", dy.Item())
	fmt.Println("f''(3) =", d2y.Item())
	// Output:
	// f(3)   = 27
	// f'(3)  = 27
	// f''(3) = 18
}

// ExampleGrad computes the gradient of log Σ exp(x), the softmax of x,
// including at an entry of −Inf, which gets exactly zero.
func ExampleGrad() {
	x := ad.New([]float64{0, 0, math.Inf(-1)}, 3).RequireGrad()
	lse := ad.LogSumExp(x, 0)
	g := ad.Grad(lse, x)[0]
	fmt.Printf("x = %v\nlog Σ exp(x) = %.4f\n∇ = %v\n", x.Data(), lse.Item(), g.Data())
	// Output:
	// x = [0 0 -Inf]
	// log Σ exp(x) = 0.6931
	// ∇ = [0.5 0.5 0]
}
