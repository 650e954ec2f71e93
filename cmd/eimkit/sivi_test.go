package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestToyTargets checks each target's normalizing constant (log Z = 0 by
// quadrature), that the tensor log density is the scalar one, and that
// exact samples have mean log density E_p log p (by quadrature) within 5
// standard errors.
func TestToyTargets(t *testing.T) {
	for _, name := range siviTargets {
		tg := toyTargetByName(name)
		if math.Abs(tg.logZ) > 1e-8 {
			t.Errorf("%s: log Z = %g by quadrature, want 0", name, tg.logZ)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 20000
		xs := make([]float64, 2*n)
		tg.Sample(rng, xs)
		lt := tg.logDensity(ad.New(xs, n, 2)).Data()
		var s, s2 float64
		for i := range n {
			l := tg.LogDensity(xs[2*i : 2*i+2])
			if math.Abs(l-lt[i]) > 1e-12 {
				t.Fatalf("%s: tensor log density %v, scalar %v at %v", name, lt[i], l, xs[2*i:2*i+2])
			}
			s += l
			s2 += l * l
		}
		mean := s / n
		se := math.Sqrt((s2/n - mean*mean) / (n - 1))
		if math.Abs(mean-tg.MeanLogDensity()) > 5*se {
			t.Errorf("%s: mean log density of samples %v ± %v, quadrature %v", name, mean, se, tg.MeanLogDensity())
		}
	}
}

// TestSIVIEndToEnd runs the command with tiny settings and checks its
// outputs: every bound below log Z = 0 (within 5 standard errors), the
// tables and the pictures.
func TestSIVIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseSIVIFlags([]string{"-out", dir, "-steps", "20", "-K", "5", "-iwhvi-K", "3", "-batch", "8",
		"-eval-K", "20", "-eval-batches", "4", "-plot-samples", "500", "-target", "banana,mixture", "-quiet"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.run(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	r := readJSON[siviResults](t, filepath.Join(dir, "results.json"))
	if len(r.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(r.Runs))
	}
	for _, run := range r.Runs {
		if run.SIVIBound > run.LogZ+5*run.SIVIBoundStdErr || math.IsNaN(run.SIVIBound) {
			t.Errorf("%s/%s: SIVI bound %v ± %v above log Z %v", run.Method, run.Target, run.SIVIBound, run.SIVIBoundStdErr, run.LogZ)
		}
		if (run.Method == "iwhvi") != (run.IWHVIBound != nil) {
			t.Errorf("%s/%s: iwhvi_bound present: %v", run.Method, run.Target, run.IWHVIBound != nil)
		}
		if _, err := os.Stat(filepath.Join(dir, run.Method+"-"+run.Target+".png")); err != nil {
			t.Error(err)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil || !strings.Contains(string(md), "| sivi | banana |") {
		t.Errorf("results.md: %v\n%s", err, md)
	}
}

func TestSIVIFlags(t *testing.T) {
	if _, err := parseSIVIFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, bad := range [][]string{{"-target", "moons"}, {"-method", "hvi"}, {"-K", "-1"}, {"-eval-batches", "1"}, {"extra"}} {
		if _, err := parseSIVIFlags(bad, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}
