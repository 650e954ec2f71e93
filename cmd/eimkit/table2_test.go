package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/experiment"
)

// eimdataTiny are settings of the eimdata command with a tiny proposal
// and energy, a few steps per phase and a few test images.
var eimdataTiny = []string{"-hidden", "8", "-latent", "2", "-energy-hidden", "8", "-K", "8", "-lars-T", "4", "-his-T", "2",
	"-lars-z-draws", "1000", "-proposal-steps", "40", "-steps", "40", "-batch", "16", "-eval-samples", "4", "-test-images", "16",
	"-checkpoint-every", "5"}

// runEIMDataCmd runs eimkit eimdata with args to its end.
func runEIMDataCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd, stderr := eimkitCmd(t, append([]string{"eimdata"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return exitStatus(t, cmd), stderr.String()
}

// TestEIMDataFlagsRefused checks that bad settings are usage errors, each
// reported in one line, and that the command exits with status 2.
func TestEIMDataFlagsRefused(t *testing.T) {
	bad := [][]string{
		{"-data", "mnist"}, {"-data", "dynamic-mnist,continuous-mnist"}, {"-proposal", "tiny"}, {"-model", "trs"},
		{"-model", "his"}, {"-data", "continuous-fashion", "-candidate-grad", "gumbel"}, {"-data", "continuous-mnist", "-proposal", "convhvae"},
		{"-proposal-prior", "normal"}, {"-prior-K", "0"}, {"-conv-filters", "0"}, {"-candidate-grad", "reinforce"},
		{"-hidden", "8,0"}, {"-energy-hidden", "x"}, {"-steps", "0"}, {"-proposal-steps", "0"}, {"-lr", "NaN"},
		{"-K", "-1"}, {"-his-alpha", "1"}, {"-his-eps", "0"}, {"-his-eps", "NaN"}, {"-anneal-frac", "1.5"}, {"-anneal-frac", "-0.1"}, {"-eval-samples", "0"}, {"-test-images", "-1"}, {"-out", ""}, {"extra"},
	}
	for _, args := range bad {
		var buf bytes.Buffer
		_, err := parseEIMDataFlags(args, &buf)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
		if msg := strings.TrimSpace(buf.String()); msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: message %q, want one line", args, msg)
		}
	}
	c, err := parseEIMDataFlags([]string{"-data", "continuous-mnist", "-model", "his,snis"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.models, []string{"snis", "his"}) || c.K != 128 {
		t.Errorf("continuous -model his,snis: models %v, K %d; want [snis his] and Table 2's K = 128", c.models, c.K)
	}
	if c, _ := parseEIMDataFlags([]string{"-model", "all"}, io.Discard); c == nil || !reflect.DeepEqual(c.models, []string{"snis", "lars"}) || c.K != 1024 {
		t.Errorf("binary -model all: %+v, want snis and lars with K = 1024", c)
	}
	if testing.Short() {
		return
	}
	dir := t.TempDir()
	code, stderr := runEIMDataCmd(t, "-model", "his", "-out", dir)
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("eimdata -model his: exit %d, stderr %q; want 2 and one line", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused command wrote %d entries under -out", len(entries))
	}
}

// TestEIMDataTinyRuns runs every model end to end at tiny sizes, on binary
// and continuous data, and checks the rows of results.json: one for the
// proposal and one per EIM, finite bounds, the paper's numbers beside
// them, and the outputs on disk.
func TestEIMDataTinyRuns(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		models []string
		paper  []float64 // NaN: the paper has no such row
	}{
		{"binary", []string{"-model", "snis,lars"}, []string{"vae", "snis", "lars"}, []float64{-84.82, -83.43, -83.63}},
		{"binary-vimco", []string{"-model", "snis", "-candidate-grad", "vimco"}, []string{"vae", "snis-vimco"}, []float64{-84.82, math.NaN()}},
		{"binary-gumbel", []string{"-model", "snis", "-candidate-grad", "gumbel"}, []string{"vae", "snis-gumbel"}, []float64{-84.82, math.NaN()}},
		{"continuous", []string{"-data", "continuous-fashion", "-proposal", "small", "-model", "all"},
			[]string{"vae", "snis", "lars", "his"}, []float64{-2467.91, -2463.60, -2463.71, -2419.83}},
		{"convhvae", []string{"-proposal", "convhvae", "-conv-filters", "2", "-model", "snis"}, []string{"vae", "snis"}, []float64{-81.14, -79.91}},
		{"convhvae-snis-prior", []string{"-proposal", "convhvae", "-conv-filters", "2", "-proposal-prior", "snis", "-prior-K", "8", "-model", "none"},
			[]string{"vae"}, []float64{-80.19}},
		{"vae-lars-prior", []string{"-proposal-prior", "lars", "-prior-K", "8", "-model", "snis"}, []string{"vae", "snis"}, []float64{-83.03, math.NaN()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if code, stderr := runEIMDataCmd(t, append(append([]string{"-quiet", "-out", dir}, eimdataTiny...), tc.args...)...); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			res := readJSON[eimdataResults](t, filepath.Join(dir, "results.json"))
			if len(res.Rows) != len(tc.models) {
				t.Fatalf("%d rows, want %d", len(res.Rows), len(tc.models))
			}
			propDir := filepath.Join(dir, res.Rows[0].Data, res.Rows[0].Proposal)
			for i, r := range res.Rows {
				if r.Model != tc.models[i] {
					t.Errorf("row %d: model %q, want %q", i, r.Model, tc.models[i])
				}
				b := float64(r.TestBound)
				if math.IsNaN(b) || math.IsInf(b, 0) || b >= 0 || !(float64(r.TestBoundStdErr) > 0) {
					t.Errorf("%s: bound %v ± %v, want a finite negative value with a positive s.e.", r.Model, b, float64(r.TestBoundStdErr))
				}
				if own := r.OwnProposal; (i == 0) != (own == nil) || (own != nil && !(float64(*own) < 0 && float64(*r.OwnProposalStdErr) > 0)) {
					t.Errorf("%s: own proposal's bound %v, want none for the proposal's row and a finite negative value for an EIM's", r.Model, own)
				}
				if r.TestImages != 16 || r.EvalSamples != 4 || r.Steps != 40 {
					t.Errorf("%s: %d images, S = %d, %d steps; want 16, 4, 40", r.Model, r.TestImages, r.EvalSamples, r.Steps)
				}
				if math.IsNaN(tc.paper[i]) != (r.Paper == nil) || (r.Paper != nil && *r.Paper != tc.paper[i]) {
					t.Errorf("%s: paper %v, want %v", r.Model, r.Paper, tc.paper[i])
				}
				d := propDir
				if i > 0 {
					d = filepath.Join(dir, r.Data, r.Proposal+"+"+r.Model)
				}
				for _, f := range []string{"result.json", "samples.png", "checkpoint.bin", "metrics.jsonl", "test_bounds.json"} {
					if _, err := os.Stat(filepath.Join(d, f)); err != nil {
						t.Errorf("%s: %v", r.Model, err)
					}
				}
				checkTestBounds(t, d, r)
				checkHISState(t, r)
			}
			md, err := os.ReadFile(filepath.Join(dir, "results.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Rows {
				if !strings.Contains(string(md), "| "+r.Label+" |") {
					t.Errorf("results.md has no row %q", r.Label)
				}
			}
			// A second run reuses every result: nothing is trained or
			// evaluated again, and the rows are the same.
			code, stderr := runEIMDataCmd(t, append(append([]string{"-quiet", "-out", dir}, eimdataTiny...), tc.args...)...)
			if code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, stderr)
			}
			if got := readJSON[eimdataResults](t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got.Rows, res.Rows) {
				t.Errorf("second run's rows differ from the first's")
			}
		})
	}
}

// checkHISState checks that an HIS row, and only an HIS row, reports its
// learned dynamics: positive step sizes with min ≤ mean ≤ max, and T + 1
// temperatures whose product is 1 (α₀ = 1/∏_{t≥1} α_t).
func checkHISState(t *testing.T, r *eimdataRow) {
	t.Helper()
	if (r.Model == "his") != (r.HIS != nil) {
		t.Errorf("%s: HIS dynamics %v, want them exactly on the HIS row", r.Model, r.HIS)
		return
	}
	if r.HIS == nil {
		return
	}
	h := r.HIS
	if !(h.StepSizeMin > 0 && h.StepSizeMin <= h.StepSizeMean && h.StepSizeMean <= h.StepSizeMax) {
		t.Errorf("HIS step sizes min %v, mean %v, max %v; want 0 < min ≤ mean ≤ max", h.StepSizeMin, h.StepSizeMean, h.StepSizeMax)
	}
	logProd := 0.0
	for _, a := range h.Alphas {
		logProd += math.Log(a)
	}
	if T, _ := strconv.Atoi(r.Settings["his-T"]); len(h.Alphas) != T+1 || T < 1 || math.Abs(logProd) > 1e-12 {
		t.Errorf("HIS temperatures %v (log of the product %v), his-T %q; want T + 1 of product 1", h.Alphas, logProd, r.Settings["his-T"])
	}
}

// TestEIMDataKillAndResume kills the command with SIGKILL during the
// proposal's phase, during the EIMs' phase and near its end, runs it
// again to the end, and checks that results.json equals that of an
// uninterrupted run apart from timings.
func TestEIMDataKillAndResume(t *testing.T) {
	args := append(append([]string{}, eimdataTiny...), "-data", "continuous-mnist", "-proposal", "small", "-model", "snis,his",
		"-proposal-steps", "120", "-steps", "120")
	straight := t.TempDir()
	if code, stderr := runEIMDataCmd(t, append([]string{"-quiet", "-out", straight}, args...)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	total := stepsLogged(straight) // 360: 120 per phase and model
	want := withoutTimes(t, filepath.Join(straight, "results.json"))
	dir := t.TempDir()
	kills, logs := killAt(t, dir, total, []float64{0.2, 0.55, 0.85, 1}, append([]string{"eimdata", "-out", dir}, args...)...)
	resumed := false
	for _, l := range logs {
		resumed = resumed || strings.Contains(l.String(), "resuming at step")
	}
	if kills < 3 {
		t.Errorf("only %d of the runs were killed before finishing", kills)
	}
	if !resumed {
		t.Errorf("no run after a kill resumed from a checkpoint")
	}
	if code, stderr := runEIMDataCmd(t, append([]string{"-quiet", "-out", dir}, args...)...); code != 0 {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	if got := withoutTimes(t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got, want) {
		t.Errorf("results after %d kills differ from the uninterrupted run's:\n%v\n%v", kills, got, want)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// TestEIMDataPixelScale checks the continuous data's test images and the
// pixel-scale conversion against independent computations: the images the
// evaluation sees, mapped back from centered logits, are the integer test
// images plus noise in [0, 1) (over 256), and the reported bound of a
// model whose logit-space bound is 0 is the mean over the images of
// log |ds/dy| − 784·log 256, computed here pixel by pixel.
func TestEIMDataPixelScale(t *testing.T) {
	c, err := parseEIMDataFlags([]string{"-data", "continuous-mnist", "-test-images", "7", "-eval-samples", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(); err != nil {
		t.Fatal(err)
	}
	var seen *ad.Tensor
	eval := func(_ context.Context, _ *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
		if S != 3 {
			t.Errorf("S = %d, want 3", S)
		}
		seen = x
		return make([]float64, x.Dim(0)), nil
	}
	sample := func(_ *rand.Rand, n int) *ad.Tensor { return ad.Zeros(n, 784) }
	row, err := c.evaluate(context.Background(), t.TempDir(), "test", "vae", 1, map[string]string{}, &experiment.Record{}, eval, eval, sample, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.Dim(0) != 7 || seen.Dim(1) != 784 {
		t.Fatalf("evaluated images %v, want [7, 784]", seen)
	}
	const lambda = 1e-6 // data.DefaultLogitLambda, written out
	want := 0.0
	for i := range 7 {
		img := c.loaded.Test.Image(i)
		for j := range 784 {
			s := seen.Data()[i*784+j] + c.logitMean[j]
			p := 1 / (1 + math.Exp(-s))
			y := (p - lambda) / (1 - 2*lambda)
			if u := 256*y - float64(img[j]); !(u > -1e-6 && u < 1+1e-6) {
				t.Fatalf("image %d pixel %d: 256·y = %v, integer pixel %d: noise %v outside [0, 1)", i, j, 256*y, img[j], u)
			}
			// log |ds/dy| = log(1 − 2λ) − log p − log(1 − p)
			want += math.Log(1-2*lambda) - math.Log(p) - math.Log1p(-p) - 8*math.Ln2
		}
	}
	want /= 7
	if got := float64(row.TestBound); math.Abs(got-want) > 1e-9*math.Abs(want) {
		t.Errorf("pixel-scale bound %v, want %v", got, want)
	}
	if row.OwnProposal == nil || *row.OwnProposal != row.TestBound {
		t.Errorf("own proposal's bound %v, want the same pixel-scale value %v", row.OwnProposal, float64(row.TestBound))
	}
	if row.Paper == nil || *row.Paper != -991.46 || row.Label != "VAE" {
		t.Errorf("row %q with paper %v, want VAE beside -991.46", row.Label, row.Paper)
	}
}

// TestEIMDataSIGINTDuringEvaluation interrupts a long test evaluation of
// each phase with SIGINT — the proposal's (a huge S), then, once the
// proposal's evaluation is done, LARS's (a huge number of draws for Z) —
// and checks that the process exits with status 130 within a second of
// CPU, writing no results.json, and that the command then still ends with
// the rows of a run never interrupted.
func TestEIMDataSIGINTDuringEvaluation(t *testing.T) {
	base := append(append([]string{}, eimdataTiny...), "-data", "continuous-mnist", "-proposal", "small", "-model", "his")
	straight := t.TempDir()
	if code, stderr := runEIMDataCmd(t, append([]string{"-quiet", "-out", straight}, base...)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	want := withoutTimes(t, filepath.Join(straight, "results.json"))
	dir := t.TempDir()
	for phase, long := range [][]string{{"-eval-samples", "2000000"}, {"-model", "lars", "-lars-z-draws", "2000000000"}} {
		// Not quiet: the progress lines say when each evaluation starts.
		cmd := exec.Command(eimkitBin(t), append(append([]string{"eimdata", "-out", dir}, base...), long...)...)
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var lines []string
		evaluating := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(pr)
			n := 0
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
				// Phase 1 evaluates the proposal (tiny S) first, then LARS.
				if strings.Contains(sc.Text(), "evaluating") {
					if n++; n == phase+1 {
						close(evaluating)
					}
				}
			}
		}()
		select {
		case <-evaluating:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("phase %d: no evaluation started", phase)
		}
		time.Sleep(300 * time.Millisecond) // well inside the evaluation
		cpuBefore := cpuTime(t, cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		code := exitStatus(t, cmd)
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() - cpuBefore
		pw.Close()
		mu.Lock()
		log := strings.Join(lines, "\n")
		mu.Unlock()
		if code != 130 {
			t.Errorf("phase %d: exit %d after SIGINT, want 130\n%s", phase, code, log)
		}
		if cpu > time.Second {
			t.Errorf("phase %d: used %v of CPU to stop after SIGINT, want under a second", phase, cpu)
		}
		if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
			t.Errorf("phase %d: results.json written by an interrupted run", phase)
		}
	}
	if code, stderr := runEIMDataCmd(t, append([]string{"-quiet", "-out", dir}, base...)...); code != 0 {
		t.Fatalf("run after the interruptions: exit %d\n%s", code, stderr)
	}
	if got := withoutTimes(t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got, want) {
		t.Errorf("results after the interruptions differ from the uninterrupted run's:\n%v\n%v", got, want)
	}
}

// checkTestBounds checks a row against its run's test_bounds.json: one
// bound per test image whose mean and standard error are the row's, and
// for an EIM its own proposal's bounds, whose paired difference is the
// row's energy gain.
func checkTestBounds(t *testing.T, dir string, r *eimdataRow) {
	t.Helper()
	tb := readJSON[testBounds](t, filepath.Join(dir, "test_bounds.json"))
	if len(tb.Bounds) != r.TestImages {
		t.Fatalf("%s: %d bounds in test_bounds.json, want %d", r.Model, len(tb.Bounds), r.TestImages)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if m, se := meanStdErr(tb.Bounds); !near(m, float64(r.TestBound)) || !near(se, float64(r.TestBoundStdErr)) {
		t.Errorf("%s: test_bounds.json gives %v ± %v, the row %v ± %v", r.Model, m, se, float64(r.TestBound), float64(r.TestBoundStdErr))
	}
	if r.OwnProposal == nil {
		if tb.OwnProposal != nil || r.EnergyGain != nil {
			t.Errorf("%s: a proposal's row has its own proposal's bounds or an energy gain", r.Model)
		}
		return
	}
	if len(tb.OwnProposal) != r.TestImages || r.EnergyGain == nil {
		t.Fatalf("%s: %d own-proposal bounds, energy gain %v; want %d and a value", r.Model, len(tb.OwnProposal), r.EnergyGain, r.TestImages)
	}
	if m, _ := meanStdErr(tb.OwnProposal); !near(m, float64(*r.OwnProposal)) {
		t.Errorf("%s: own proposal's bounds average %v, the row says %v", r.Model, m, float64(*r.OwnProposal))
	}
	// The paired difference written out: its mean is the difference of
	// the two means, its standard error that of the differences (not the
	// two bounds' errors combined).
	n := float64(len(tb.Bounds))
	var mean, ss float64
	for i := range tb.Bounds {
		mean += tb.Bounds[i] - tb.OwnProposal[i]
	}
	mean /= n
	for i := range tb.Bounds {
		d := tb.Bounds[i] - tb.OwnProposal[i] - mean
		ss += d * d
	}
	se := math.Sqrt(ss / (n - 1) / n)
	if !near(float64(*r.EnergyGain), mean) || !near(float64(*r.EnergyGainStdErr), se) || !near(mean, float64(r.TestBound)-float64(*r.OwnProposal)) {
		t.Errorf("%s: energy gain %v ± %v, want %v ± %v", r.Model, float64(*r.EnergyGain), float64(*r.EnergyGainStdErr), mean, se)
	}
}
