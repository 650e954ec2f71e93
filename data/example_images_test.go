package data_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/data"
)

// A training loop over dynamically binarized MNIST: shuffled batches from
// a seed, a fresh binarization per step from the run's generator, the
// decoder bias from the training mean, and the validation split in chunks.
func ExampleImages_BinarizedBatch() {
	mnist, err := data.LoadMNIST()
	if err != nil {
		fmt.Println(err)
		return
	}
	train := mnist.Train
	bias := train.MeanLogit(0) // logit of the clipped training mean
	fmt.Printf("%s: %d images of %d values; bias[0] = %.4f, bias[406] = %.4f\n",
		train.Name, train.Len(), train.Dim(), bias[0], bias[406])

	rng := rand.New(rand.NewPCG(1, 2))
	batches := &data.Batcher{N: train.Len(), Size: 128, Seed: 7}
	for step, idx := range batches.Steps(0, 2) {
		x := train.BinarizedBatch(rng, idx) // [128, 784] of 0s and 1s
		var ones float64
		for _, v := range x.Data() {
			ones += v
		}
		fmt.Printf("step %d: batch %v, %.1f%% ones\n", step, x.Shape(), 100*ones/float64(x.Len()))
	}

	var n int
	for lo, hi := range data.Chunks(mnist.Valid.Len(), 4096) {
		n += mnist.Valid.Batch(data.Range(lo, hi)).Dim(0)
	}
	fmt.Println("validation images:", n)
	// Output:
	// mnist/train: 50000 images of 784 values; bias[0] = -9.2102, bias[406] = 0.0537
	// step 0: batch [128 784], 13.5% ones
	// step 1: batch [128 784], 13.3% ones
	// validation images: 10000
}
