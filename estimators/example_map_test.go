package estimators_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/statespace"
)

// The gradient estimators of the K-sample bound, chosen by value: each
// surrogate's value is the bound L_K, only its gradient differs. With
// q(z | x) equal to the posterior of z ~ N(0, 1), x | z ~ N(z, σ²), every
// log weight is the constant log p(x), and STL and DReG have zero inference
// gradient on every draw, up to rounding (their zero-variance property),
// while the reparameterized gradient is zero only on average.
func ExampleIWAESurrogate() {
	const xObs, sigma, K, n = 1.2, 0.8, 10, 1000
	s2 := sigma * sigma
	logNormal := func(v, m, logs *ad.Tensor) *ad.Tensor { // log N(v; m, e^{2 logs}), elementwise
		d := ad.Div(ad.Sub(v, m), ad.Exp(logs))
		return ad.Sub(ad.AddScalar(ad.MulScalar(ad.Square(d), -0.5), -0.5*math.Log(2*math.Pi)), logs)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range []estimators.GradientEstimator{estimators.Reparameterized, estimators.STL, estimators.DReG} {
		// q(z | x) = N(m, e^{2c}) at the posterior, n independent replicates.
		m := ad.Full(xObs/(1+s2), n).RequireGrad()
		c := ad.Full(0.5*math.Log(s2/(1+s2)), n).RequireGrad()
		z := ad.Add(m, ad.Mul(ad.Exp(c), ad.Randn(rng, K, n)))
		logp := ad.Add(logNormal(z, ad.Scalar(0), ad.Scalar(0)), logNormal(ad.Scalar(xObs), z, ad.Scalar(math.Log(sigma))))
		t := estimators.IWAETerms{LogP: logp, LogQ: logNormal(z, m, c), LogQStopped: logNormal(z, m.Detach(), c.Detach())}
		L := estimators.IWAESurrogate(e, t)
		g := ad.Grad(ad.Sum(L), m, c)
		worst := 0.0
		for _, gi := range g {
			for _, v := range gi.Data() {
				worst = max(worst, math.Abs(v))
			}
		}
		fmt.Printf("%-16v L_K = %.4f, inference gradient zero (below 1e-12) on all %d draws: %v\n", e, L.Data()[0], n, worst < 1e-12)
	}
	fmt.Printf("log p(x)         %.4f\n", -0.5*xObs*xObs/(1+s2)-0.5*math.Log(2*math.Pi*(1+s2)))
	// Output:
	// reparameterized  L_K = -1.6053, inference gradient zero (below 1e-12) on all 1000 draws: false
	// STL              L_K = -1.6053, inference gradient zero (below 1e-12) on all 1000 draws: true
	// DReG             L_K = -1.6053, inference gradient zero (below 1e-12) on all 1000 draws: true
	// log p(x)         -1.6053
}

// InfoNCE (App. C): for K pairs from a correlated Gaussian and the optimal
// critic f(x, y) = log p(y | x) − log p(y), the mean InfoNCE term is a
// lower bound on the mutual information −½ log(1 − ρ²), and never above
// log K.
func ExampleInfoNCE() {
	const rho, K, rounds = 0.9, 16, 500
	rng := rand.New(rand.NewPCG(3, 4))
	total := 0.0
	for range rounds {
		x, y := make([]float64, K), make([]float64, K)
		for i := range x {
			x[i] = rng.NormFloat64()
			y[i] = rho*x[i] + math.Sqrt(1-rho*rho)*rng.NormFloat64()
		}
		scores := make([]float64, K*K) // scores[i, j] = f(x_i, y_j)
		for i := range K {
			for j := range K {
				d := y[j] - rho*x[i]
				scores[i*K+j] = -0.5*d*d/(1-rho*rho) - 0.5*math.Log(1-rho*rho) + 0.5*y[j]*y[j]
			}
		}
		total += ad.Mean(estimators.InfoNCE(ad.New(scores, K, K))).Item()
	}
	fmt.Printf("I_NCE = %.3f ≤ I(X; Y) = %.3f ≤ log K = %.3f\n", total/rounds, -0.5*math.Log(1-rho*rho), math.Log(K))
	// Output:
	// I_NCE = 0.752 ≤ I(X; Y) = 0.830 ≤ log K = 2.773
}

// Systematic resampling gives each index ⌊M·W_i⌋ or ⌈M·W_i⌉ offspring;
// multinomial counts vary more. Both are unbiased.
func ExampleSystematic() {
	logw := []float64{math.Log(0.1), math.Log(0.2), math.Log(0.3), math.Log(0.4)}
	rng := rand.New(rand.NewPCG(5, 6))
	counts := func(r estimators.Resampler) []int {
		dst := make([]int, 10)
		r(rng, logw, dst)
		c := make([]int, len(logw))
		for _, a := range dst {
			c[a]++
		}
		return c
	}
	fmt.Println("M·W          [1 2 3 4]")
	for range 3 {
		fmt.Println("systematic  ", counts(estimators.Systematic), "  multinomial", counts(estimators.Multinomial))
	}
	// Output:
	// M·W          [1 2 3 4]
	// systematic   [1 2 3 4]   multinomial [1 1 3 5]
	// systematic   [1 2 3 4]   multinomial [2 3 2 3]
	// systematic   [1 2 3 4]   multinomial [0 2 3 5]
}

// ReplicateSMC runs SMC r times and reports log Ẑ with a standard error,
// here the locally optimal particle filter on the VSMC paper's
// linear-Gaussian model (statespace.SMCModel adapts it), against the
// Kalman filter's exact log-likelihood.
func ExampleReplicateSMC() {
	m := statespace.VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(1, 2)), statespace.VSMCExampleT)
	opt, err := m.LocallyOptimal(ys)
	if err != nil {
		panic(err)
	}
	est := estimators.ReplicateSMC(rand.New(rand.NewPCG(7, 8)), estimators.SMC{N: 16}, m.SMCModel(opt), statespace.VSMCExampleT, 400)
	fmt.Printf("log Ẑ = %.3f ± %.3f, Kalman log p(y) = %.3f\n", est.LogZ, est.StdErr, m.KalmanLogLikelihood(ys))
	// Output:
	// log Ẑ = -41.546 ± 0.009, Kalman log p(y) = -41.539
}
