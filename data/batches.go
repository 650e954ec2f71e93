package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
)

// Batcher deals mini-batches of indices into a data set of N items, epoch
// by epoch: each epoch is a fresh random permutation of 0 … N−1, cut into
// ⌊N/Size⌋ batches of Size indices; the last N mod Size indices of each
// permutation are left out of that epoch (a different few each epoch).
//
// The permutation of epoch e is drawn from PCG(Seed, e), so the indices of
// any step are a function of (Seed, N, Size, step) alone: a resumed run
// continues exactly where it stopped knowing only its step count, and a
// checkpoint need not store any batching state.
//
// A Batcher caches the current epoch's permutation, so it is not safe for
// concurrent use; give each goroutine its own.
type Batcher struct {
	// N is the number of items, Size the batch size (1 ≤ Size ≤ N).
	N, Size int
	// Seed selects the sequence of permutations.
	Seed uint64

	epoch int   // epoch of perm; meaningful when perm != nil
	perm  []int // permutation of epoch
}

// StepsPerEpoch returns ⌊N/Size⌋. It panics unless 1 ≤ Size ≤ N.
func (b *Batcher) StepsPerEpoch() int {
	if b.Size < 1 || b.Size > b.N {
		panic(fmt.Sprintf("data: Batcher: batch size %d for %d items (want 1 ≤ Size ≤ N)", b.Size, b.N))
	}
	return b.N / b.Size
}

// Indices returns the indices of batch step (counting from 0 over all
// epochs): batch step mod StepsPerEpoch of epoch step / StepsPerEpoch. The
// returned slice is owned by the Batcher and changes on the next call.
// It panics if step < 0 or unless 1 ≤ Size ≤ N.
func (b *Batcher) Indices(step int) []int {
	spe := b.StepsPerEpoch()
	if step < 0 {
		panic(fmt.Sprintf("data: Batcher.Indices: step %d < 0", step))
	}
	epoch, k := step/spe, step%spe
	if b.perm == nil || b.epoch != epoch || len(b.perm) != b.N {
		b.perm = Permutation(b.N, b.Seed, uint64(epoch))
		b.epoch = epoch
	}
	return b.perm[k*b.Size : (k+1)*b.Size : (k+1)*b.Size]
}

// Steps returns an iterator over the steps from, from+1, …, to−1 and their
// batch indices, as Indices gives them; the index slice is valid until
// the next iteration.
func (b *Batcher) Steps(from, to int) iter.Seq2[int, []int] {
	return func(yield func(int, []int) bool) {
		for step := from; step < to; step++ {
			if !yield(step, b.Indices(step)) {
				return
			}
		}
	}
}

// Permutation returns a uniformly random permutation of 0 … n−1 drawn from
// PCG(seed, stream), the permutation Batcher uses for epoch stream.
func Permutation(n int, seed, stream uint64) []int {
	return rand.New(rand.NewPCG(seed, stream)).Perm(n)
}

// Chunks returns an iterator over consecutive index ranges [lo, hi) that
// cover 0 … n−1 in order, each of at most size indices, for evaluating a
// whole split in bounded memory. It panics if size < 1.
func Chunks(n, size int) iter.Seq2[int, int] {
	if size < 1 {
		panic(fmt.Sprintf("data: Chunks: size %d < 1", size))
	}
	return func(yield func(int, int) bool) {
		for lo := 0; lo < n; lo += size {
			if !yield(lo, min(lo+size, n)) {
				return
			}
		}
	}
}

// Range returns the indices lo, lo+1, …, hi−1, for Batch calls over a
// contiguous block (e.g. with Chunks).
func Range(lo, hi int) []int {
	idx := make([]int, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		idx = append(idx, i)
	}
	return idx
}
