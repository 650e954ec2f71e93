package data_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/data"
)

// Each target's exact E_p[log p], the best average log-likelihood any model
// of it can reach, beside a Monte Carlo estimate from 10,000 exact samples
// (mean ± standard error).
func Example() {
	const n = 10_000
	for _, name := range data.Names() {
		tg, err := data.ByName(name)
		if err != nil {
			panic(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float64, n*tg.Dim())
		tg.Sample(rng, x)
		var sum, sumSq float64
		for i := 0; i < n; i++ {
			lp := tg.LogDensity(x[2*i : 2*i+2])
			sum += lp
			sumSq += lp * lp
		}
		mean := sum / n
		se := math.Sqrt(math.Max(sumSq/n-mean*mean, 0) / (n - 1))
		fmt.Printf("%-14s E log p = %.4f  Monte Carlo %.2f ± %.2f\n", name, tg.MeanLogDensity(), mean, se)
	}
	// Output:
	// nine-gaussians E log p = -0.4299  Monte Carlo -0.44 ± 0.01
	// checkerboard   E log p = -2.0794  Monte Carlo -2.08 ± 0.00
	// two-rings      E log p = -1.5137  Monte Carlo -1.53 ± 0.01
}

// Drawing a batch: n points fill a row-major [n, 2] slice.
func ExampleTarget_Sample() {
	tg := data.Checkerboard()
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 3*2)
	tg.Sample(rng, x)
	for i := 0; i < 3; i++ {
		fmt.Printf("(%5.2f, %5.2f)  log p = %.4f\n", x[2*i], x[2*i+1], tg.LogDensity(x[2*i:2*i+2]))
	}
	// Output:
	// ( 1.91, -0.53)  log p = -2.0794
	// ( 0.94,  0.78)  log p = -2.0794
	// (-1.98,  0.52)  log p = -2.0794
}
