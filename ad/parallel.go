package ad

import (
	"runtime"
	"sync"
)

// parallelMin is the number of entries from which elementwise kernels with
// a transcendental function (tanh, exp, log, ...) are split across
// goroutines. Below it the cost of starting goroutines (about a
// microsecond) outweighs the work. The split is by contiguous ranges and
// every entry is computed by the same code, so results are bitwise the
// same with any number of threads.
const parallelMin = 1 << 13

// parallelFor calls f(lo, hi) on disjoint ranges covering [0, n).
func parallelFor(n int, f func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if n < parallelMin || p == 1 {
		f(0, n)
		return
	}
	p = min(p, n/(parallelMin/2))
	var wg sync.WaitGroup
	chunk := (n + p - 1) / p
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	f(0, min(chunk, n))
	wg.Wait()
}

// gemmParWork is the number of multiply–adds from which the small-matrix
// kernels split their work across goroutines.
const gemmParWork = 1 << 16

// parallelRows calls f on disjoint row ranges covering [0, m), split across
// goroutines when the work (m·rowWork multiply–adds) is large enough. Each
// row is computed by the same code whatever the split.
func parallelRows(m, rowWork int, f func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if m*rowWork < gemmParWork || p == 1 || m < 2 {
		f(0, m)
		return
	}
	p = min(p, m)
	var wg sync.WaitGroup
	chunk := (m + p - 1) / p
	for lo := chunk; lo < m; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+chunk, m))
	}
	f(0, min(chunk, m))
	wg.Wait()
}

// parallelPair runs f and g, concurrently when more than one thread is
// available.
func parallelPair(f, g func()) {
	if runtime.GOMAXPROCS(0) == 1 {
		f()
		g()
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g()
	}()
	f()
	wg.Wait()
}
