package eimfamily_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Fit SNIS (Alg. 2, K = 4) to data on four points by maximizing the
// Eq. (3) bound, then compare: on a finite proposal LogProb is the exact
// log p_SNIS(x) (it enumerates the other candidates), the bound lies below
// it, and p_SNIS sums to one. With K = 4 the model is between the uniform
// proposal and the energy model π·e^{−U}, so it fits the data only partly.
func ExampleSNIS_LogProb() {
	pi := eimfamily.NewDiscrete(ad.New([]float64{-1.5, -0.5, 0.5, 1.5}, 4, 1), nil) // uniform
	data := ad.New([]float64{0.1, 0.2, 0.3, 0.4}, 4)                                // the data distribution
	m := &eimfamily.SNIS{Proposal: pi, Energy: eimfamily.NewMLPEnergy(rand.New(rand.NewPCG(1, 2)), 1, 0, 8), K: 4, PerPoint: true}
	x := pi.Points() // every support point, [4, 1]

	rng := rand.New(rand.NewPCG(3, 4))
	opt := &nn.Adam{LR: 0.05}
	for range 300 {
		loss := ad.Neg(ad.Sum(ad.Mul(data, m.Bound(rng, nil, x)))) // −E_data[Eq. (3)]
		opt.Step(m.Params(), ad.Grad(loss, m.Params()...))
	}

	exact, err := m.LogProb(nil, x)
	if err != nil {
		panic(err)
	}
	bound := ad.Mean(m.Integrands(rng, nil, x, 20000), 0).Data()
	total := 0.0
	fmt.Println("x     data  p_SNIS  log p_SNIS  Eq. (3)")
	for i, v := range exact.Data() {
		total += math.Exp(v)
		fmt.Printf("%4.1f  %.2f  %6.3f  %10.3f  %7.3f\n", x.Data()[i], data.Data()[i], math.Exp(v), v, bound[i])
	}
	fmt.Printf("Σ_x p_SNIS(x) = %.6f\n", total)
	// Output:
	// x     data  p_SNIS  log p_SNIS  Eq. (3)
	// -1.5  0.10   0.116      -2.156   -2.202
	// -0.5  0.20   0.197      -1.622   -1.656
	//  0.5  0.30   0.314      -1.157   -1.184
	//  1.5  0.40   0.372      -0.988   -1.006
	// Σ_x p_SNIS(x) = 1.000000
}

// Fit TRS (Alg. 1, T = 3) the same way on its bound (Sec. 3.1), then draw
// exact samples: their frequencies match the closed form
// p_TRS(x) = π(x) (a(x)(1 − α)/Z + α), α = (1 − Z)^{T−1}, that LogProb
// computes on a finite proposal.
func ExampleTRS_Sample() {
	pi := eimfamily.NewDiscrete(ad.New([]float64{-1.5, -0.5, 0.5, 1.5}, 4, 1), nil)
	data := ad.New([]float64{0.1, 0.2, 0.3, 0.4}, 4)
	m := eimfamily.NewTRS(pi, eimfamily.NewMLPEnergy(rand.New(rand.NewPCG(1, 2)), 1, 0, 8), 3)
	m.PerPoint = true
	x := pi.Points()

	rng := rand.New(rand.NewPCG(3, 4))
	opt := &nn.Adam{LR: 0.05}
	for range 300 {
		loss := ad.Neg(ad.Sum(ad.Mul(data, m.Bound(rng, nil, x))))
		opt.Step(m.Params(), ad.Grad(loss, m.Params()...))
	}

	exact, err := m.LogProb(nil, x)
	if err != nil {
		panic(err)
	}
	const n = 100000
	counts := make([]int, 4)
	for _, v := range m.Sample(rng, nil, n).Data() {
		counts[pi.Index([]float64{v})]++
	}
	fmt.Println("x     data  p_TRS  frequency")
	for i, v := range exact.Data() {
		fmt.Printf("%4.1f  %.2f  %.3f  %.3f\n", x.Data()[i], data.Data()[i], math.Exp(v), float64(counts[i])/n)
	}
	// Output:
	// x     data  p_TRS  frequency
	// -1.5  0.10  0.197  0.194
	// -0.5  0.20  0.210  0.210
	//  0.5  0.30  0.265  0.266
	//  1.5  0.40  0.329  0.330
}

// HIS (Alg. 3): Forward runs the tempered leapfrog dynamics and Inverse
// undoes them; the temperatures multiply to one, so the map has unit
// Jacobian and p(x_T, ρ_T) = π(x₀) N(ρ₀; 0, I), which is what the bound of
// Sec. 3.3 (Bound) evaluates.
func ExampleHIS_Forward() {
	rng := rand.New(rand.NewPCG(1, 2))
	h := eimfamily.NewHIS(rng, eimfamily.NewStdNormal(2, 1), eimfamily.NewMLPEnergy(rng, 2, 0, 20, 20), 5, 0)
	x0, rho0 := ad.Randn(rng, 3, 2), ad.Randn(rng, 3, 2)
	xT, rhoT := h.Forward(nil, x0, rho0)
	bx, brho := h.Inverse(nil, xT, rhoT)
	worst := 0.0
	for i, v := range x0.Data() {
		worst = max(worst, math.Abs(bx.Data()[i]-v), math.Abs(brho.Data()[i]-rho0.Data()[i]))
	}
	prod := 1.0
	for _, a := range h.Alphas() {
		prod *= a
	}
	fmt.Printf("round trip error below 1e-12: %v\n", worst < 1e-12)
	fmt.Printf("∏ α_t = %.12f\n", prod)
	fmt.Printf("one draw of the bound at the three x_T: %.3f\n", h.Bound(rng, nil, xT.Detach()).Data())
	// Output:
	// round trip error below 1e-12: true
	// ∏ α_t = 1.000000000000
	// one draw of the bound at the three x_T: [-2.288 0.096 -3.514]
}
