package dist_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
)

// Shapes are batch first: K samples of a batch of n posteriors over ℝᵈ
// have shape [K, n, d], and LogProb sums out the event axis.
func Example_shapes() {
	rng := rand.New(rand.NewPCG(1, 2))
	const K, n, d = 5, 3, 2
	q := dist.NewNormalLogScale(ad.Zeros(n, d), ad.Zeros(n, d)) // q(z | x) for n inputs
	z := q.Sample(rng, K)
	fmt.Println("z:", z.Shape())
	fmt.Println("log q(z | x):", q.LogProb(z).Shape())
	prior := dist.NewNormal(ad.Zeros(d), ad.Ones(d)) // one p(z), broadcast
	fmt.Println("log p(z):", prior.LogProb(z).Shape())
	// Output:
	// z: [5 3 2]
	// log q(z | x): [5 3]
	// log p(z): [5 3]
}

// The reparameterization gradient of E[x²] under N(μ, σ²) with respect to
// μ is 2μ; RSample lets ad compute a Monte Carlo estimate of it.
func ExampleNormal_RSample() {
	rng := rand.New(rand.NewPCG(1, 2))
	loc := ad.Full(1, 1).RequireGrad()
	logScale := ad.Full(math.Log(0.5), 1).RequireGrad()
	q := dist.NewNormalLogScale(loc, logScale)
	const n = 10_000
	x := q.RSample(rng, n) // [n, 1]
	g := ad.Grad(ad.Mean(ad.Square(x)), loc)[0]
	// Per-sample gradients 2xᵢ have standard deviation 2σ = 1.
	fmt.Printf("d/dμ E[x²] = %.1f ± %.2f (exact 2)\n", g.Item(), 1/math.Sqrt(n))
	// Output:
	// d/dμ E[x²] = 2.0 ± 0.01 (exact 2)
}

// The KL term of a VAE's ELBO, KL(q(z | x) ‖ N(0, I)), in closed form:
// ½ Σ_d (σ_d² + μ_d² − 1 − log σ_d²).
func ExampleNormal_KL() {
	q := dist.NewNormalLogScale(ad.New([]float64{1, -1}, 2), ad.New([]float64{0, math.Log(0.5)}, 2))
	p := dist.NewNormal(ad.Zeros(2), ad.Ones(2))
	fmt.Printf("KL(q ‖ p) = %.6f\n", q.KL(p).Item())
	fmt.Printf("closed form = %.6f\n", 0.5*((1+1-1-0)+(0.25+1-1-math.Log(0.25))))
	// Output:
	// KL(q ‖ p) = 1.318147
	// closed form = 1.318147
}

// Categorical draws are []int; LogProbIndex scores them with the same
// sample shape.
func ExampleCategorical() {
	rng := rand.New(rand.NewPCG(3, 4))
	c := dist.NewCategorical(ad.New([]float64{0, math.Log(3), math.Inf(-1)}, 3))
	fmt.Printf("probs: %.2f\n", c.Probs().Data())
	idx := c.Sample(rng, 8)
	lp := c.LogProbIndex(idx, 8)
	fmt.Println("draws:", idx)
	fmt.Printf("log P: %.4f\n", lp.Data())
	// Output:
	// probs: [0.25 0.75 0.00]
	// draws: [1 1 1 1 0 1 1 0]
	// log P: [-0.2877 -0.2877 -0.2877 -0.2877 -1.3863 -0.2877 -0.2877 -1.3863]
}
