package vsmc_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/statespace"
	"github.com/eimkit/eimkit/vsmc"
)

// Train a proposal briefly (300 steps) on FIVO's bound for the VSMC
// paper's linear-Gaussian model, then compare the three bounds on it with
// the exact log-likelihood. (`eimkit vsmc` trains to convergence.)
func Example() {
	ss := statespace.VSMCExample()
	_, y := ss.Sample(rand.New(rand.NewPCG(1, 2)), statespace.VSMCExampleT)
	ys := ad.New(y.RawMatrix().Data, 10, 3)
	p := vsmc.NewLinearGaussian(ss, false)
	q := vsmc.NewGaussianProposal(5, 3)

	rng := rand.New(rand.NewPCG(3, 4))
	opt := &nn.Adam{LR: 0.02}
	for range 300 {
		bound := vsmc.FIVO(4).Bound(rng, p, q, ys, vsmc.Options{})
		opt.Step(q.Params(), ad.Grad(ad.Neg(bound), q.Params()...))
	}

	fmt.Printf("Kalman log p(y)  %.2f\n", ss.KalmanLogLikelihood(y))
	for _, o := range []vsmc.Objective{vsmc.ELBO(), vsmc.IWAE(4), vsmc.FIVO(4)} {
		const runs = 1000
		v := make([]float64, runs)
		for i := range v {
			v[i] = o.Bound(rng, p, q, ys, vsmc.Options{}).Item()
		}
		s := avvi.SummarizeBatch(ad.New(v, runs))
		fmt.Printf("%-10s       %.2f ± %.2f\n", o, s.Mean, s.StdErr)
	}
	// Output:
	// Kalman log p(y)  -41.54
	// ELBO             -44.49 ± 0.08
	// IWAE(N=4)        -42.81 ± 0.05
	// FIVO(N=4)        -42.36 ± 0.04
}
