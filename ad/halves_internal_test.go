package ad

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestHalvesReclaimed checks the path where the caller takes the helper's
// half back: with the helper parked (no work for longer than helperSpin)
// and a trivial first half, the caller is done before the helper wakes.
// Each half must run exactly once either way.
func TestHalvesReclaimed(t *testing.T) {
	if threads() < 2 {
		t.Skip("one goroutine: inHalves never splits")
	}
	before := helper.reclaims.Load()
	for range 20 {
		time.Sleep(helperSpin + time.Millisecond) // the helper parks
		var lo, hi atomic.Int32
		inHalves(2, parallelMin, func(a, b int) {
			if a == 0 && b == 1 {
				lo.Add(1)
			} else if a == 1 && b == 2 {
				hi.Add(1)
			} else {
				t.Errorf("inHalves(2) called f(%d, %d)", a, b)
			}
		})
		if lo.Load() != 1 || hi.Load() != 1 {
			t.Fatalf("halves ran %d and %d times, want once each", lo.Load(), hi.Load())
		}
	}
	if helper.reclaims.Load() == before {
		t.Errorf("the caller never took the helper's half back in 20 tries")
	}
}
