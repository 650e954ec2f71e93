package statespace_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/statespace"
)

var _ estimators.SMCModel[*statespace.Particles, []float64] = statespace.SMCModel{}

// TestSMCModelNeverResample checks the adapter exactly: without
// resampling, log Ẑ of RunSMC is log (1/N) Σᵢ exp Σ_t log α_tⁱ, computed
// here by calling the proposal directly on the same random stream.
func TestSMCModelNeverResample(t *testing.T) {
	m := statespace.VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(2018, 5)), 6)
	q := m.Bootstrap(ys)
	const n = 8
	res := estimators.RunSMC(rand.New(rand.NewPCG(1, 2)), estimators.SMC{N: n, Criterion: estimators.Never}, m.SMCModel(q), q.Len())

	dx, _ := m.Dims()
	rng := rand.New(rand.NewPCG(1, 2))
	x, next, logw, total := make([]float64, n*dx), make([]float64, n*dx), make([]float64, n), make([]float64, n)
	q.Init(rng, x, logw)
	copy(total, logw)
	for step := 1; step < q.Len(); step++ {
		q.Step(rng, step, x, next, logw)
		x, next = next, x
		for i := range total {
			total[i] += logw[i]
		}
	}
	mx := math.Inf(-1)
	for _, v := range total {
		mx = max(mx, v)
	}
	s := 0.0
	for _, v := range total {
		s += math.Exp(v - mx)
	}
	want := mx + math.Log(s/n)
	if !scalar.EqualWithinAbsOrRel(res.LogZ, want, 1e-12, 1e-12) {
		t.Errorf("log Ẑ = %.17g, want %.17g", res.LogZ, want)
	}
}

// TestSMCModelUnbiased checks E[Ẑ/Z] = 1 against the Kalman filter within
// 5 standard errors over independent runs with adaptive resampling and
// the locally optimal proposal (the bootstrap's Ẑ/Z is too heavy-tailed
// on this 10-dimensional model for a standard error from 400 runs).
func TestSMCModelUnbiased(t *testing.T) {
	m := statespace.VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(2018, 5)), 10)
	logZ := m.KalmanLogLikelihood(ys)
	opt, err := m.LocallyOptimal(ys)
	if err != nil {
		t.Fatal(err)
	}
	model := m.SMCModel(opt)
	rng := rand.New(rand.NewPCG(3, 4))
	const runs = 400
	sum, sq := 0.0, 0.0
	for range runs {
		r := math.Exp(estimators.RunSMC(rng, estimators.SMC{N: 32}, model, 10).LogZ - logZ)
		sum += r
		sq += r * r
	}
	mean := sum / runs
	se := math.Sqrt((sq/runs - mean*mean) / (runs - 1))
	if math.Abs(mean-1) > 5*se {
		t.Errorf("mean Ẑ/Z = %v ± %v, want 1", mean, se)
	}
}

// A particle filter through the toolkit's SMC routine, with the bootstrap
// and the locally optimal proposals: log Ẑ from 1000 particles against the
// Kalman filter's exact log p(y) (one run each at a fixed seed; Ẑ is
// unbiased, log Ẑ is low on average, the optimal proposal much less so).
func ExampleLinearGaussian_SMCModel() {
	m := statespace.VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(0, 0)), statespace.VSMCExampleT)
	opt, err := m.LocallyOptimal(ys)
	if err != nil {
		panic(err)
	}
	fmt.Printf("Kalman log p(y)         %.2f\n", m.KalmanLogLikelihood(ys))
	for name, q := range map[string]statespace.Proposal{"bootstrap": m.Bootstrap(ys), "locally optimal": opt} {
		res := estimators.RunSMC(rand.New(rand.NewPCG(1, 1)), estimators.SMC{N: 1000}, m.SMCModel(q), q.Len())
		fmt.Printf("%-23s %.2f\n", name+" log Ẑ", res.LogZ)
	}
	// Unordered output:
	// Kalman log p(y)         -44.93
	// bootstrap log Ẑ         -44.62
	// locally optimal log Ẑ   -44.99
}
