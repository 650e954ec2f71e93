package iwae_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/iwae"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/refmodel"
)

// App. A: IWAE is the auxiliary-variable bound (Eq. 4) with the SNIS family
// as q and the reverse model of Eq. 6 as r. Assembled computes exactly that
// with package avvi,
//
//	q := iwae.IWAE{K: K}.Family(p, qt).AsQ()
//	avvi.Integrand(rng, p, q, q.Reverse(), x)
//
// and it equals the closed form of Eq. 5 (Integrand) on the same draws.
func ExampleIWAE_Assembled() {
	p := refmodel.NewConjugate(2, 0.7)
	qt := eimfamily.NewStdNormal(2, 1)                       // q̃(z | x) = N(0, I)
	x := ad.New([]float64{1.5, -0.5, 0.2, 0.9, -1, 2}, 3, 2) // three data points
	const K = 8
	worst := 0.0
	for d := range 200 {
		a := iwae.IWAE{K: K}.Assembled(rand.New(rand.NewPCG(uint64(d), 1)), p, qt, x).Data()
		b := iwae.IWAE{K: K}.Integrand(rand.New(rand.NewPCG(uint64(d), 1)), p, qt, x).Data()
		for i := range a {
			worst = max(worst, math.Abs(a[i]-b[i]))
		}
	}
	fmt.Printf("max |assembled − closed form| below 1e-12: %v\n", worst < 1e-12)
	// Output:
	// max |assembled − closed form| below 1e-12: true
}

// The learned reverse model of Sec. 5.1: r(z_{1:K}, i | z, x) =
// (1/K) δ_{z_i}(z) Π_{j≠i} R(z_j | z, x). With R = q̃ (Independent) it is
// IWAE; a Gaussian R trained on the bound (Learned.Bound, the index summed
// out) is tighter than IWAE, because only the reverse model's KL term of
// Eq. 4 depends on it.
func ExampleLearned_Bound() {
	p := refmodel.NewConjugate(1, math.Sqrt(0.5))
	qt := eimfamily.NewStdNormal(1, 1)
	x := ad.Full(1.5, 64, 1) // one data point, 64 independent copies per step
	const K = 4
	r := iwae.NewGaussian(rand.New(rand.NewPCG(1, 2)), 1, 1, 16)
	rng := rand.New(rand.NewPCG(3, 4))
	opt := &nn.Adam{LR: 0.01}
	for range 500 {
		loss := ad.Neg(ad.Mean(iwae.Learned{K: K, R: r}.Bound(rng, p, qt, x)))
		opt.Step(r.Params(), ad.Grad(loss, r.Params()...))
	}
	estimate := func(b func(*rand.Rand) *ad.Tensor) avvi.Summary {
		return avvi.SummarizeBatch(avvi.Draws(rng, 500, b).Detach())
	}
	fmt.Println("IWAE_4               ", estimate(func(rng *rand.Rand) *ad.Tensor { return iwae.IWAE{K: K}.Integrand(rng, p, qt, x) }))
	fmt.Println("R = q̃ (Independent)  ", estimate(func(rng *rand.Rand) *ad.Tensor {
		return iwae.Learned{K: K, R: iwae.Independent{Proposal: qt}}.Bound(rng, p, qt, x)
	}))
	fmt.Println("R learned (Gaussian) ", estimate(func(rng *rand.Rand) *ad.Tensor { return iwae.Learned{K: K, R: r}.Bound(rng, p, qt, x) }))
	fmt.Printf("log p(x)              %.3f\n", p.LogEvidence(x)[0])
	// Output:
	// IWAE_4                -2.1590 ± 0.0052
	// R = q̃ (Independent)   -2.1572 ± 0.0052
	// R learned (Gaussian)  -2.0407 ± 0.0035
	// log p(x)              -1.872
}
