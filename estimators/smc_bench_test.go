package estimators

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/statespace"
)

// BenchmarkSMC times one SMC sweep (RunSMC) on the VSMC example's
// 5-dimensional linear-Gaussian model with the bootstrap proposal, with
// observations drawn from the model. The headline is N=1000/T=100 with the
// default settings (multinomial resampling when ESS < N/2, which on this
// model is nearly every step). The N and T series show the cost is linear
// in each: the ns/particle-step metric (ns/op ÷ N·T) stays flat. The other
// sub-benchmarks vary one setting at N=1000, T=100: the resampling method,
// the criterion, and log weights as ad tensors (the differentiable path's
// bookkeeping, with the same float64 model underneath).
func BenchmarkSMC(b *testing.B) {
	m := statespace.VSMCExample()
	_, ysAll := m.Sample(rand.New(rand.NewPCG(2018, 100)), 200)
	model := func(T int) smcLGModel {
		return newSMCLGModel(m, ysAll.Slice(0, T, 0, 3).(*mat.Dense))
	}
	run := func(name string, n, T int, s SMC) {
		s.N = n
		mod := model(T)
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				RunSMC(rng, s, mod, T)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*T), "ns/particle-step")
		})
	}
	for _, n := range []int{250, 500, 1000, 2000} {
		run(fmt.Sprintf("N=%d/T=100", n), n, 100, SMC{})
	}
	for _, T := range []int{25, 50, 200} {
		run(fmt.Sprintf("N=1000/T=%d", T), 1000, T, SMC{})
	}
	for _, meth := range []struct {
		name string
		fn   Resampler
	}{{"stratified", Stratified}, {"systematic", Systematic}, {"residual", Residual}} {
		run("method="+meth.name+"/N=1000/T=100", 1000, 100, SMC{Resampling: meth.fn})
	}
	run("criterion=never/N=1000/T=100", 1000, 100, SMC{Criterion: Never})
	run("criterion=always/N=1000/T=100", 1000, 100, SMC{Criterion: Always})

	// The differentiable path's weight bookkeeping: the same model, its
	// log weights wrapped as (constant) tensors.
	mod := smcTensorModel[*smcLGParticles]{model(100)}
	b.Run("weights=tensor/N=1000/T=100", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			RunSMC(rng, SMC{N: 1000}, mod, 100)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(1000*100), "ns/particle-step")
	})
}
