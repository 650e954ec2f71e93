package ad

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Large elementwise kernels and matrix products are split in two, one half
// done by the calling goroutine and one by a helper goroutine. Handing work
// to a parked goroutine costs about as much as the work saves at these
// sizes (tanh over 23,000 entries takes 0.21 ms; waking a thread on our
// 2-core machines measured as slow), so the helper spin-waits for a short
// while after each piece of work, as OpenMP's threads do: a training step
// issues such work every few microseconds, and the helper stays awake for
// the whole step (measured: 0.21 → 0.12 ms for that tanh). When no work has
// come for helperSpin, it parks and costs nothing.
//
// Each entry is computed by the same code whichever goroutine computes it,
// so results are bitwise the same with or without the helper.
const (
	// parallelMin is the number of entries (elementwise) or multiply–adds
	// (products) from which work is split.
	parallelMin = 1 << 13
	helperSpin  = 200 * time.Microsecond
	yieldEvery  = 64
)

// maxThreads caps the goroutines one operation may use; 0 means
// GOMAXPROCS.
var maxThreads atomic.Int32

// SetMaxThreads sets how many goroutines one operation may use, and
// returns the previous setting: 1 turns the helper goroutine off, 0 (the
// default) means GOMAXPROCS. A program that already runs independent
// computations on every core (several trainings at once) should set 1:
// the helper's spin-waiting would compete with them (measured: the
// synthetic job with two runs at a time took 3 min 10 s with the helper,
// 2 min 17 s without). Results do not depend on it.
func SetMaxThreads(n int) int {
	if n < 0 {
		n = 0
	}
	return int(maxThreads.Swap(int32(n)))
}

func threads() int {
	p := runtime.GOMAXPROCS(0)
	if m := int(maxThreads.Load()); m > 0 {
		p = min(p, m)
	}
	return p
}

type helperTask struct {
	f      func(lo, hi int)
	lo, hi int
	state  atomic.Int32 // taskPending, then taskTaken by the helper or taskReclaimed by the caller
	done   atomic.Bool
}

const (
	taskPending = iota
	taskTaken
	taskReclaimed
)

var helper struct {
	start    sync.Once
	busy     atomic.Bool // a caller has claimed the helper
	task     atomic.Pointer[helperTask]
	parked   atomic.Bool
	wake     chan struct{}
	splits   atomic.Int64 // pieces of work split in two, for tests
	reclaims atomic.Int64 // second halves the caller took back, for tests
}

func helperLoop() {
	for {
		idle := time.Now()
		for spins := 1; helper.task.Load() == nil; spins++ {
			if spins%yieldEvery != 0 {
				continue
			}
			if time.Since(idle) > helperSpin {
				helper.parked.Store(true)
				if helper.task.Load() == nil { // re-check: no lost wake-up
					<-helper.wake
				}
				helper.parked.Store(false)
				idle = time.Now()
				continue
			}
			runtime.Gosched()
		}
		t := helper.task.Swap(nil)
		if t == nil || !t.state.CompareAndSwap(taskPending, taskTaken) {
			continue // the caller did this half itself
		}
		t.f(t.lo, t.hi)
		t.done.Store(true)
	}
}

// inHalves calls f(0, n) — on two goroutines, f(0, h) here and f(h, n) on the
// helper, when the work is at least parallelMin and the helper is free.
// f must write disjoint outputs for disjoint ranges. If the helper has not
// started its half by the time the caller is done with its own, the caller
// takes it back and does it too: on a machine busy with other processes
// the helper's thread may not run for milliseconds, and waiting for it
// cost more than the split saved (measured in BenchmarkVAEShapes under
// load, see docs/ad.md). Either way f runs on the same two ranges.
func inHalves(n, work int, f func(lo, hi int)) {
	if work < parallelMin || n < 2 || threads() < 2 || !helper.busy.CompareAndSwap(false, true) {
		f(0, n)
		return
	}
	helper.start.Do(func() {
		helper.wake = make(chan struct{}, 1)
		go helperLoop()
	})
	h := n / 2
	t := &helperTask{f: f, lo: h, hi: n}
	helper.task.Store(t)
	if helper.parked.Load() {
		select {
		case helper.wake <- struct{}{}:
		default:
		}
	}
	helper.splits.Add(1)
	f(0, h)
	if t.state.CompareAndSwap(taskPending, taskReclaimed) {
		helper.task.CompareAndSwap(t, nil)
		helper.reclaims.Add(1)
		f(h, n)
		helper.busy.Store(false)
		return
	}
	for spins := 1; !t.done.Load(); spins++ {
		if spins%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
	helper.busy.Store(false)
}

// Halves calls f(0, n), split in two as ad's own kernels are: f(0, h) on
// the calling goroutine and f(h, n) on ad's helper goroutine when work
// (the number of entries, or of multiply–adds) is large enough, the helper
// is free and SetMaxThreads allows two; otherwise f(0, n) here. f must
// write disjoint outputs for disjoint ranges and compute each entry the
// same way whatever the range, so that results do not depend on the split.
// It is for packages above ad with large elementwise work of their own
// (nn.Adam's update), so they share ad's helper instead of adding threads.
func Halves(n, work int, f func(lo, hi int)) { inHalves(n, work, f) }
