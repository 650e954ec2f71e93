package ad

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestReleaseKeepsLeavesAndConstants checks what Release empties and what
// it must leave alone: parameters, caller-made constants and views of
// them keep their values; computed tensors (including the recorded
// gradients of GradGraph) become empty; a Grad result taken before stays.
func TestReleaseKeepsLeavesAndConstants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	W := Randn(rng, 40, 40).RequireGrad()
	x := Randn(rng, 64, 40)
	Wv := Reshape(W, 1600) // a recorded view of a parameter
	h := AffineTanh(x, W, Zeros(40).RequireGrad())
	gx := GradGraph(Sum(h), W)[0] // recorded gradient, part of the graph below
	hv := Reshape(h, 64*40)       // a recorded view: its buffer is h's
	y := Add(Add(Sum(Mul(h, h)), Sum(hv)), Add(Sum(gx), Sum(Wv)))
	wantW := slices.Clone(W.Data())
	wantX := slices.Clone(x.Data())
	g := Grad(y, W)[0]
	wantG := slices.Clone(g.Data())
	Release(y)
	// Operations of the same sizes now take the released buffers (and
	// would overwrite anything released by mistake); a recycled buffer
	// comes back zeroed.
	live := map[*float64]bool{} // a buffer freed twice would be handed out twice
	for range 64 {
		for _, o := range []*Tensor{AddScalar(x, 1), AddScalar(W.Detach(), 1), AddScalar(g, 1)} {
			if live[&o.data[0]] {
				t.Fatal("Release handed one buffer back twice")
			}
			live[&o.data[0]] = true
		}
	}
	for _, n := range []int{1600, 64 * 40} {
		if b := newBuf(n); slices.ContainsFunc(b, func(v float64) bool { return v != 0 }) {
			t.Fatalf("a recycled buffer of %d entries is not zeroed", n)
		}
	}
	if !slices.Equal(W.Data(), wantW) {
		t.Fatal("Release changed a parameter through a view of it")
	}
	if !slices.Equal(x.Data(), wantX) {
		t.Fatal("Release changed a constant")
	}
	if !slices.Equal(g.Data(), wantG) {
		t.Fatal("Release changed a gradient returned by Grad")
	}
	for name, c := range map[string]*Tensor{"h": h, "hv": hv, "gx": gx, "y": y, "Wv": Wv} {
		if c.Data() != nil {
			t.Errorf("%s still has its buffer after Release", name)
		}
	}
	// The released buffers are reused: a new graph of the same sizes
	// computes the same values as a fresh one.
	h2 := AffineTanh(x, W, Zeros(40).RequireGrad())
	h3 := Tanh(MatMul(x, W.Detach()))
	if !slices.Equal(h2.Data(), h3.Data()) {
		t.Fatal("a graph built after Release computes different values")
	}
}
