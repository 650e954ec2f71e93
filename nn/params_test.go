package nn

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

func TestParams(t *testing.T) {
	var p Params
	if p.Len() != 0 || p.Count() != 0 || len(p.Names()) != 0 {
		t.Fatal("zero Params not empty")
	}
	m := NewMLP(rand.New(rand.NewPCG(1, 1)), 2, 3, 1)
	tau := ad.Scalar(0.5).RequireGrad()
	p.Add("energy", m.Params()...)
	p.Add("tau", tau)

	wantNames := []string{"energy.0", "energy.1", "energy.2", "energy.3", "tau"}
	if !slices.Equal(p.Names(), wantNames) {
		t.Errorf("Names = %v, want %v", p.Names(), wantNames)
	}
	wantTs := append(m.Params(), tau)
	if !slices.Equal(p.Tensors(), wantTs) {
		t.Errorf("Tensors do not match the tensors added, in order")
	}
	if got, want := p.Len(), 2*3+3+3*1+1+1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	if p.Count() != 5 {
		t.Errorf("Count = %d, want 5", p.Count())
	}
	if p.Get("tau") != tau || p.Get("energy.2") != m.Layers[1].W || p.Get("nope") != nil {
		t.Error("Get returns the wrong tensors")
	}
	i := 0
	for name, tt := range p.All() {
		if name != wantNames[i] || tt != wantTs[i] {
			t.Errorf("All item %d = (%s, %p), want (%s, %p)", i, name, tt, wantNames[i], wantTs[i])
		}
		i++
	}
	// Appending to the returned slices does not change the set.
	_ = append(p.Tensors(), ad.Scalar(1))
	_ = append(p.Names(), "x")
	if p.Count() != 5 || len(p.Names()) != 5 {
		t.Error("appending to Tensors or Names changed the set")
	}

	mustPanic(t, func() { p.Add("tau", ad.Scalar(1)) }, "nn: Params.Add", `duplicate name "tau"`)
	mustPanic(t, func() { p.Add("energy", ad.Scalar(1), ad.Scalar(2)) }, `duplicate name "energy.0"`)
	mustPanic(t, func() { p.Add("again", tau) }, `already in the set as "tau"`)
	x := ad.Scalar(1)
	mustPanic(t, func() { p.Add("pair", x, x) }, `already in the set`)
	mustPanic(t, func() { p.Add("none") }, "no tensors")
	mustPanic(t, func() { p.Add("nil", nil) }, "is nil")
	if p.Count() != 5 {
		t.Errorf("a panicking Add changed the set: %v", p.Names())
	}
}
