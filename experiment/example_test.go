package experiment_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/nn"
)

// A run that fits the mean of N(3, 1) by maximizing the average
// log-likelihood of fresh draws, trained in two sessions: the first is
// stopped after 40 steps (as SIGINT would stop it), the second continues
// from the checkpoint to 100 steps, bit for bit as one session would.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	out, err := experiment.OpenDir(dir) // lock the output directory
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Close()

	newRun := func(name string) (*experiment.Run, *ad.Tensor) {
		mu := ad.New([]float64{0}, 1)
		mu.RequireGrad()
		ps := new(nn.Params)
		ps.Add("mu", mu)
		pcg := experiment.Stream(1, "train", "mean")
		rng := rand.New(pcg)
		opt := &nn.Adam{LR: 0.1}
		return &experiment.Run{
			Dir:      out.Join(name),
			Identity: map[string]string{"model": "mean", "lr": "0.1", "seed": "1"},
			Steps:    100, CheckpointEvery: 25,
			Params: ps, Adam: opt, RNG: pcg,
			Step: func(ctx context.Context, step int) (experiment.Metrics, error) {
				xs := make([]float64, 16)
				for i := range xs {
					xs[i] = 3 + rng.NormFloat64()
				}
				d := ad.Sub(ad.New(xs, 16), mu)
				obj := ad.MulScalar(ad.Mean(ad.Square(d)), -0.5) // log N(x; μ, 1) + const
				opt.Step(ps.Tensors(), ad.Grad(ad.Neg(obj), ps.Tensors()...))
				return experiment.Metrics{Objective: obj.Item()}, nil
			},
		}, mu
	}

	ctx, stop := context.WithCancel(context.Background())
	first, _ := newRun("mean")
	first.Progress = &experiment.Progress{OnStep: func(_ string, step int) {
		if step == 40 {
			stop()
		}
	}}
	_, err = first.Train(ctx)
	fmt.Println(err)

	second, mu := newRun("mean")
	rec, err := second.Train(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("resumed at step %d, %d steps in the record, mu = %.2f\n", rec.From, rec.Steps, mu.Data()[0])

	straight, mu1 := newRun("mean-in-one-session")
	rec1, _ := straight.Train(context.Background())
	fmt.Println("the same as one session:", mu1.Data()[0] == mu.Data()[0] &&
		slices.Equal(rec1.Objectives(), rec.Objectives()))
	// Output:
	// mean: stopped at step 40 of 100, checkpoint saved: interrupted
	// resumed at step 40, 100 steps in the record, mu = 3.04
	// the same as one session: true
}
