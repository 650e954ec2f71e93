package vae

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestZZExplore(t *testing.T) {
	kind := os.Getenv("VAE_EXPLORE")
	if kind == "" {
		t.Skip()
	}
	rng := newRNG(1)
	m, err := NewModel(rng, Config{Prior: PriorKind(kind), LARSEvalDraws: 1 << 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := randomImages(rng, 10)
	t0 := time.Now()
	e, err := m.Eval(context.Background(), newRNG(2), x, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %v  %.6f", kind, time.Since(t0), e[:3])
}
