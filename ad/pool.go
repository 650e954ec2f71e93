package ad

import "sync"

// poolMin is the size from which buffers are recycled. The large
// intermediate values of a training step (a [1024, 20] layer is 160 KB)
// are what keeps the garbage collector busy, but once Release returns a
// whole step's graph, the many [128, 2]–[128, 20] buffers of a batch-128
// HIS step matter too: poolMin 1024 → 128 took that step from 0.84 to
// 0.77 ms (medians of 6) and its garbage from 620 to 320 KB; 32 gained
// nothing more.
const poolMin = 128

// pools holds a sync.Pool of []float64 per exact length.
var pools sync.Map // int → *sync.Pool

func poolFor(n int) *sync.Pool {
	if p, ok := pools.Load(n); ok {
		return p.(*sync.Pool)
	}
	p, _ := pools.LoadOrStore(n, new(sync.Pool))
	return p.(*sync.Pool)
}

// pooled returns a recycled slice of length n, or nil when none is free.
// Its contents are whatever its last user left.
func pooled(n int) []float64 {
	if n < poolMin {
		return nil
	}
	if v := poolFor(n).Get(); v != nil {
		return *v.(*[]float64)
	}
	return nil
}

// newBuf returns a zeroed slice of length n, recycled when one is free.
func newBuf(n int) []float64 {
	if b := pooled(n); b != nil {
		clear(b)
		return b
	}
	return make([]float64, n)
}

// newBufDirty is newBuf for an operation that writes every entry of its
// output: a recycled buffer is returned as it is, without clearing (which
// was 5–9% of a training step).
func newBufDirty(n int) []float64 {
	if b := pooled(n); b != nil {
		return b
	}
	return make([]float64, n)
}

// freeBuf hands b back for reuse. The caller guarantees that nothing
// refers to b any more.
func freeBuf(b []float64) {
	if len(b) >= poolMin {
		poolFor(len(b)).Put(&b)
	}
}

// recycler tracks, during a first-order backward pass, which gradient
// buffers the pass itself allocated and how many gradient slots still
// refer to each, so that a buffer goes back to the pool the moment the
// pass is done with it. Backward functions return either fresh tensors or
// their incoming gradient (passed through where shapes match, possibly
// reshaped); a buffer that belongs to the forward graph is never
// recycled.
type recycler struct {
	refs    map[*float64]int
	owned   map[*float64]bool
	forward map[*float64]bool
}

func newRecycler(order []*node) *recycler {
	r := &recycler{refs: map[*float64]int{}, owned: map[*float64]bool{}, forward: map[*float64]bool{}}
	for _, n := range order {
		r.markForward(n.out)
		for _, in := range n.inputs {
			r.markForward(in)
		}
	}
	return r
}

func bufKey(t *Tensor) *float64 {
	if len(t.data) < poolMin {
		return nil
	}
	return &t.data[0]
}

func (r *recycler) markForward(t *Tensor) {
	if k := bufKey(t); k != nil {
		r.forward[k] = true
	}
}

// adopt records gj, returned by a backward function that was given g.
func (r *recycler) adopt(gj, g *Tensor) {
	k := bufKey(gj)
	if k == nil || k == bufKey(g) || r.forward[k] {
		return
	}
	r.owned[k] = true
}

// exclusive reports whether t's buffer is one of the pass's and held by at most
// one gradient slot.
func (r *recycler) exclusive(t *Tensor) bool {
	k := bufKey(t)
	return k != nil && r.owned[k] && r.refs[k] <= 1
}

func (r *recycler) store(t *Tensor) {
	if k := bufKey(t); k != nil {
		r.refs[k]++
	}
}

// drop releases one reference to t's buffer and recycles it when that was
// the last and the buffer is the pass's own.
func (r *recycler) drop(t *Tensor) {
	k := bufKey(t)
	if k == nil {
		return
	}
	r.refs[k]--
	if r.refs[k] <= 0 && r.owned[k] {
		delete(r.owned, k)
		delete(r.refs, k)
		freeBuf(t.data)
	}
}
