package experiment

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/eimkit/eimkit/ad"
)

// Stream returns the random stream named by parts, split from the seed:
// PCG(seed, FNV-1a(parts joined by NUL)). Giving every run and purpose
// its own stream makes results independent of which runs are selected,
// their order and how they are scheduled.
func Stream(seed uint64, parts ...string) *rand.PCG {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return rand.NewPCG(seed, h.Sum64())
}

// Parallel calls f(ctx, i) for each i of order on up to jobs goroutines,
// in that order. The first error cancels the context of the calls still
// running and stops new ones; Parallel returns it. If the parent ctx is
// cancelled and no call failed otherwise, the error wraps ErrInterrupted.
// With two or more calls at once, each already keeps a core busy, so ad's
// helper goroutine is turned off for the duration (its spin-waiting would
// only compete with them).
func Parallel(ctx context.Context, jobs int, order []int, f func(ctx context.Context, i int) error) error {
	if jobs < 1 {
		panic(fmt.Sprintf("experiment: Parallel: jobs %d < 1", jobs))
	}
	n := min(jobs, len(order))
	if n >= 2 {
		prev := ad.SetMaxThreads(1)
		defer ad.SetMaxThreads(prev)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := range work {
				if ctx.Err() != nil {
					continue
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for _, i := range order {
		work <- i
	}
	close(work)
	wg.Wait()
	err := context.Cause(ctx)
	if errors.Is(err, context.Canceled) && !errors.Is(err, ErrInterrupted) {
		err = fmt.Errorf("stopped: %w", ErrInterrupted)
	}
	return err
}

// Seq returns 0, 1, …, n−1, the order of Parallel over n items.
func Seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
