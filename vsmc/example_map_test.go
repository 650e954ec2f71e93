package vsmc_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/statespace"
	"github.com/eimkit/eimkit/vsmc"
)

// The objectives differ only in when SMC resamples: IWAE(N) is SMC that
// never resamples, bit for bit, and ELBO is one particle. Every bound is
// below the Kalman filter's exact log p(y) (here with the untrained
// proposal N(0, I), far below, and resampling recovers much of the gap;
// see Example for a trained proposal).
func ExampleIWAE() {
	ss := statespace.VSMCExample()
	_, y := ss.Sample(rand.New(rand.NewPCG(1, 2)), statespace.VSMCExampleT)
	ys := ad.New(y.RawMatrix().Data, statespace.VSMCExampleT, 3)
	p := vsmc.NewLinearGaussian(ss, false)
	q := vsmc.NewGaussianProposal(5, 3)

	never := vsmc.Objective{N: 4, Criterion: estimators.Never}
	same := true
	for d := range 100 {
		a := vsmc.IWAE(4).Bound(rand.New(rand.NewPCG(uint64(d), 3)), p, q, ys, vsmc.Options{}).Item()
		b := never.Bound(rand.New(rand.NewPCG(uint64(d), 3)), p, q, ys, vsmc.Options{}).Item()
		same = same && a == b
	}
	fmt.Println("IWAE(4) is SMC with estimators.Never, bit for bit:", same)
	fmt.Printf("Kalman log p(y) = %.2f\n", ss.KalmanLogLikelihood(y))
	rng := rand.New(rand.NewPCG(4, 5))
	for _, o := range []vsmc.Objective{vsmc.ELBO(), vsmc.IWAE(16), vsmc.FIVO(16), vsmc.AESMC(16)} {
		sum := 0.0
		for range 200 {
			sum += o.Bound(rng, p, q, ys, vsmc.Options{}).Item()
		}
		fmt.Printf("%-11s mean of 200 runs %.0f\n", o, sum/200)
	}
	// Output:
	// IWAE(4) is SMC with estimators.Never, bit for bit: true
	// Kalman log p(y) = -41.54
	// ELBO        mean of 200 runs -278
	// IWAE(N=16)  mean of 200 runs -172
	// FIVO(N=16)  mean of 200 runs -64
	// AESMC(N=16) mean of 200 runs -63
}

// Run returns the record of one SMC run (eimfamily.SMCRun): log Ẑ, which
// steps resampled and the effective sample size after each step. FIVO
// resamples when the ESS falls below N/2, AESMC before every step, IWAE
// never.
func ExampleObjective_Run() {
	ss := statespace.VSMCExample()
	_, y := ss.Sample(rand.New(rand.NewPCG(1, 2)), statespace.VSMCExampleT)
	ys := ad.New(y.RawMatrix().Data, statespace.VSMCExampleT, 3)
	p := vsmc.NewLinearGaussian(ss, false)
	q := vsmc.NewGaussianProposal(5, 3)
	rng := rand.New(rand.NewPCG(6, 7))
	for _, o := range []vsmc.Objective{vsmc.IWAE(16), vsmc.FIVO(16), vsmc.AESMC(16)} {
		run := o.Run(rng, p, q, ys)
		resampled := 0
		for _, r := range run.Resampled {
			if r {
				resampled++
			}
		}
		fmt.Printf("%-11s resampled before %d of %d steps, final ESS %4.1f of 16\n", o, resampled, len(run.Resampled)-1, run.ESS[len(run.ESS)-1])
	}
	// Output:
	// IWAE(N=16)  resampled before 0 of 9 steps, final ESS  1.0 of 16
	// FIVO(N=16)  resampled before 9 of 9 steps, final ESS  1.0 of 16
	// AESMC(N=16) resampled before 9 of 9 steps, final ESS  1.1 of 16
}
