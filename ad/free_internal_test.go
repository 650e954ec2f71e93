package ad

import "testing"

// TestFree: Free takes back the buffers a first-order backward pass
// made for its results, once each, and nothing else.
func TestFree(t *testing.T) {
	const n = 1000
	ramp := func() []float64 {
		d := make([]float64, n)
		for i := range d {
			d[i] = float64(i)
		}
		return d
	}
	w1, w2 := New(ramp(), n).RequireGrad(), New(ramp(), n).RequireGrad()
	c := New(ramp(), n)

	// Add passes its gradient through to both inputs: one buffer behind two
	// results, which Grad copies so that each is its own.
	y := Sum(Mul(Add(w1, w2), c))
	g := Grad(y, w1, w2, c)
	if !g[0].owned || !g[1].owned {
		t.Fatalf("Grad's own results not marked: %v %v", g[0].owned, g[1].owned)
	}
	if &g[0].data[0] == &g[1].data[0] {
		t.Fatal("two results share a buffer")
	}
	for i, want := range ramp() {
		if g[0].data[i] != want || g[1].data[i] != want {
			t.Fatalf("gradient entry %d: %v, %v; want %v", i, g[0].data[i], g[1].data[i], want)
		}
	}
	Free(g[0], g[1], g[0], nil) // a repeat and a nil are ignored
	if g[0].Data() != nil || g[1].Data() != nil {
		t.Fatal("recycled gradients keep their data")
	}
	// Both buffers are in the pool once: two takes give two distinct
	// buffers, and a third take cannot return either again.
	got := map[*float64]int{}
	for range 3 {
		if b := pooled(n); b != nil {
			got[&b[0]]++
		}
	}
	for p, k := range got {
		if k > 1 {
			t.Fatalf("buffer %p handed out %d times", p, k)
		}
	}

	// What Free must leave alone: parameters, constants, the recorded
	// gradients of GradGraph.
	Free(w1, c)
	if w1.Data() == nil || c.Data() == nil || w1.Data()[7] != 7 || c.Data()[7] != 7 {
		t.Fatal("Free emptied a parameter or a constant")
	}
	gg := GradGraph(Sum(Mul(w1, w1)), w1)
	Free(gg...)
	if gg[0].Data() == nil || gg[0].Data()[3] != 6 {
		t.Fatalf("Free emptied a recorded gradient: %v", gg[0].Data())
	}

	// The gradient of a tensor the graph does not reach is fresh zeros,
	// the caller's to recycle.
	z := New(ramp(), n).RequireGrad()
	gz := Grad(Sum(w1), z)
	if !gz[0].owned || gz[0].Data()[5] != 0 {
		t.Fatal("a gradient of zeros is not freeable or not zero")
	}
	Free(gz...)

	// The seed of a scalar output can be a result (d y / d y): Grad copies
	// it, and the copy is freeable while the seed stays intact.
	s := Sum(w2)
	gs := Grad(s, s)
	if gs[0].Item() != 1 || !gs[0].owned {
		t.Fatalf("d s/d s = %v (owned %v)", gs[0].Item(), gs[0].owned)
	}
}

// TestFreeConstants: Free takes back the result of an operation on
// constants, and leaves alone tensors made with New, views, and recorded
// outputs.
func TestFreeConstants(t *testing.T) {
	const n = 600
	x := New(make([]float64, n), n)
	y := AddScalar(x, 1)
	v := Reshape(y, 20, 30) // a view of y
	Free(x, v)
	if x.Data() == nil || v.Data() == nil || y.Data() == nil {
		t.Fatal("Free emptied a tensor made with New or a view")
	}
	Free(y)
	if y.Data() != nil {
		t.Fatal("Free left an operation's result")
	}
	w := New(make([]float64, n), n).RequireGrad()
	r := AddScalar(w, 1) // recorded
	Free(r)
	if r.Data() == nil {
		t.Fatal("Free emptied a recorded output")
	}
	// The freed buffer is reused, once.
	a, b := AddScalar(x, 2), AddScalar(x, 3)
	if &a.Data()[0] == &b.Data()[0] {
		t.Fatal("two live results share a buffer")
	}
	if a.Data()[0] != 2 || b.Data()[0] != 3 {
		t.Fatalf("results %v %v", a.Data()[0], b.Data()[0])
	}
}
