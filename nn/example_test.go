package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// A 1-16-1 tanh network fitted to sin on [−π, π] with Adam, checkpointed
// halfway and resumed into fresh objects; the resumed run ends exactly
// where an uninterrupted one does.
func Example() {
	setup := func(seed uint64) (*nn.MLP, *nn.Params, *nn.Adam, *rand.PCG) {
		mlp := nn.NewMLP(rand.New(rand.NewPCG(seed, 0)), 1, 16, 1)
		var ps nn.Params
		ps.Add("f", mlp.Params()...)
		opt := &nn.Adam{LR: 0.01, Schedule: nn.PiecewiseConstant([]int{1500}, []float64{1, 0.1})}
		return mlp, &ps, opt, rand.NewPCG(seed, 1)
	}
	train := func(mlp *nn.MLP, ps *nn.Params, opt *nn.Adam, pcg *rand.PCG, steps int) float64 {
		rng := rand.New(pcg)
		var loss float64
		for range steps {
			x, y := make([]float64, 32), make([]float64, 32)
			for i := range x {
				x[i] = math.Pi * (2*rng.Float64() - 1)
				y[i] = math.Sin(x[i])
			}
			pred := mlp.Forward(ad.New(x, 32, 1))
			l := ad.Mean(ad.Square(ad.Sub(pred, ad.New(y, 32, 1))))
			opt.Step(ps.Tensors(), ad.Grad(l, ps.Tensors()...))
			loss = l.Item()
		}
		return loss
	}

	mlp, ps, opt, pcg := setup(1)
	whole := train(mlp, ps, opt, pcg, 2000)

	dir, _ := os.MkdirTemp("", "nn-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sin.ckpt")

	mlp1, ps1, opt1, pcg1 := setup(1)
	train(mlp1, ps1, opt1, pcg1, 1000)
	err := nn.Save(path, &nn.Checkpoint{Step: 1000, Params: ps1, Adam: opt1, RNG: pcg1, Meta: map[string]string{"target": "sin"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	mlp2, ps2, opt2, pcg2 := setup(2) // another process: other weights, other stream
	c := &nn.Checkpoint{Params: ps2, Adam: opt2, RNG: pcg2}
	if err := nn.Load(path, c); err != nil {
		fmt.Println(err)
		return
	}
	resumed := train(mlp2, ps2, opt2, pcg2, 1000)

	fmt.Printf("%d parameters, resumed from step %d (target %s)\n", ps.Len(), c.Step, c.Meta["target"])
	fmt.Printf("final minibatch loss below 0.01: %v\n", whole < 0.01)
	fmt.Printf("resumed run identical: %v\n", math.Float64bits(whole) == math.Float64bits(resumed))
	// Output:
	// 49 parameters, resumed from step 1000 (target sin)
	// final minibatch loss below 0.01: true
	// resumed run identical: true
}
