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

	"github.com/eimkit/eimkit/statespace"
)

// vsmcTiny makes a vsmc run take a fraction of a second.
var vsmcTiny = []string{"-steps", "30", "-batch", "1", "-eval-runs", "60", "-quiet"}

func runVSMCTest(ctx context.Context, t *testing.T, dir string, args ...string) error {
	t.Helper()
	all := append(append([]string{"-out", dir}, vsmcTiny...), args...)
	cfg, err := parseVSMCFlags(all, io.Discard)
	if err != nil {
		t.Fatalf("flags %q: %v", all, err)
	}
	return cfg.run(ctx, io.Discard)
}

func readVSMCResults(t *testing.T, dir string) vsmcResults {
	t.Helper()
	return readJSON[vsmcResults](t, filepath.Join(dir, "results.json"))
}

// TestVSMCEndToEnd runs the command with tiny settings and checks its
// outputs: the Kalman value of the data, every bound below it (within 5
// standard errors), the tables and the picture.
func TestVSMCEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := runVSMCTest(context.Background(), t, dir, "-seed", "3"); err != nil {
		t.Fatal(err)
	}
	r := readVSMCResults(t, dir)
	// The data and their Kalman log-likelihood, independently of the command.
	ss := statespace.VSMCExample()
	_, y := ss.Sample(rand.New(stream(3, "vsmc", "data")), statespace.VSMCExampleT)
	if want := ss.KalmanLogLikelihood(y); r.KalmanLogLik != want {
		t.Errorf("kalman_log_likelihood %v, want %v", r.KalmanLogLik, want)
	}
	if r.T != 10 || r.Dx != 5 || r.Dy != 3 || r.N != 4 || len(r.Runs) != 3 {
		t.Fatalf("T %d, dx %d, dy %d, N %d, %d runs; want 10, 5, 3, 4, 3", r.T, r.Dx, r.Dy, r.N, len(r.Runs))
	}
	for i, run := range r.Runs {
		if run.TrainedOn != vsmcBounds[i] || len(run.Bounds) != 3 {
			t.Fatalf("run %d: trained on %q with %d bounds", i, run.TrainedOn, len(run.Bounds))
		}
		for j, b := range run.Bounds {
			if b.Bound != vsmcBounds[j] || math.IsNaN(float64(b.Mean)) || !(b.StdErr > 0) {
				t.Errorf("%s on %s: %+v", b.Bound, run.TrainedOn, b)
			}
			if float64(b.Mean) > r.KalmanLogLik+5*float64(b.StdErr) {
				t.Errorf("%s on %s: %v ± %v above log p(y) = %v", b.Bound, run.TrainedOn, b.Mean, b.StdErr, r.KalmanLogLik)
			}
			if (b.Bound == "ELBO" || b.Bound == "IWAE") && b.ResampledFraction != 0 {
				t.Errorf("%s resampled", b.Bound)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Kalman", "FIVO(N=4)", "IWAE(N=4)", "FIVO − IWAE"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q", s)
		}
	}
	checkPNG(t, filepath.Join(dir, "bounds.png"))
}

// TestVSMCDeterministic checks that the numbers depend on the seed only,
// not on -jobs or the scheduling, and that -learn-A, -obs dense and
// -resampling-gradient run.
func TestVSMCDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := runVSMCTest(context.Background(), t, a, "-jobs", "1"); err != nil {
		t.Fatal(err)
	}
	if err := runVSMCTest(context.Background(), t, b, "-jobs", "3"); err != nil {
		t.Fatal(err)
	}
	ra, rb := readVSMCResults(t, a), readVSMCResults(t, b)
	for i := range ra.Runs {
		for j := range ra.Runs[i].Bounds {
			if ra.Runs[i].Bounds[j] != rb.Runs[i].Bounds[j] {
				t.Errorf("run %d bound %d: %+v with -jobs 1, %+v with -jobs 3", i, j, ra.Runs[i].Bounds[j], rb.Runs[i].Bounds[j])
			}
		}
	}
	c := t.TempDir()
	if err := runVSMCTest(context.Background(), t, c, "-learn-A", "-obs", "dense", "-resampling-gradient"); err != nil {
		t.Fatal(err)
	}
	rc := readVSMCResults(t, c)
	if !rc.LearnA || rc.Obs != "dense" || !rc.ResamplingGradient || rc.KalmanLogLik == ra.KalmanLogLik {
		t.Errorf("settings not applied: %+v", rc)
	}
	for _, run := range rc.Runs {
		if run.KalmanLogLik == rc.KalmanLogLik {
			t.Errorf("%s: with -learn-A the run's Kalman log-likelihood should be that of its learned A", run.TrainedOn)
		}
	}
}

func TestVSMCInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runVSMCTest(ctx, t, dir); !errors.Is(err, errInterrupted) {
		t.Fatalf("cancelled run returned %v, want errInterrupted", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
		t.Error("an interrupted run wrote results.json")
	}
}

func TestVSMCFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-N", "0"}, {"-steps", "0"}, {"-obs", "diagonal"}, {"-lr", "-1"}, {"-eval-runs", "1"}, {"-jobs", "0"}, {"extra"}, {"-nope"},
	} {
		if _, err := parseVSMCFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if _, err := parseVSMCFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if code := run(context.Background(), []string{"help", "vsmc"}, io.Discard); code != 0 {
		t.Errorf("eimkit help vsmc: exit %d", code)
	}
}
