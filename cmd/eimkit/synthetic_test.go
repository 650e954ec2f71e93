package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/nn"
)

// tiny are settings that make a run take a fraction of a second: small
// samplers, a small evaluation and picture.
var tiny = []string{
	"-K", "32", "-T", "32", "-his-T", "2", "-hidden", "8", "-batch", "16",
	"-eval-points", "40", "-eval-samples", "8", "-lars-z-samples", "2000", "-plot-samples", "400",
	"-quiet",
}

// synth parses the synthetic command's flags (tiny settings, then args)
// and runs it into dir.
func synth(ctx context.Context, t *testing.T, dir string, onStep func(string, int), args ...string) error {
	t.Helper()
	all := append(append([]string{"-out", dir}, tiny...), args...)
	cfg, err := parseSyntheticFlags(all, io.Discard)
	if err != nil {
		t.Fatalf("flags %q: %v", all, err)
	}
	cfg.onStep = onStep
	return cfg.run(ctx, io.Discard)
}

func readResults(t *testing.T, dir string) []map[string]any {
	t.Helper()
	return readJSON[[]map[string]any](t, filepath.Join(dir, "results.json"))
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("%s: %v image", path, b)
	}
}

// TestSyntheticEndToEnd runs every model on every target with tiny
// settings and checks the outputs.
func TestSyntheticEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := synth(context.Background(), t, dir, nil, "-steps", "20"); err != nil {
		t.Fatal(err)
	}
	rs := readResults(t, dir)
	if len(rs) != len(modelNames)*len(data.Names()) {
		t.Fatalf("results.json has %d entries, want %d", len(rs), len(modelNames)*len(data.Names()))
	}
	i := 0
	for _, m := range modelNames {
		for _, tg := range data.Names() {
			r := rs[i]
			i++
			if r["model"] != m || r["target"] != tg {
				t.Errorf("entry %d is %v/%v, want %s/%s", i, r["model"], r["target"], m, tg)
			}
			for _, k := range []string{"steps", "seed", "test_bound", "true_mean_log_density", "seconds"} {
				if _, ok := r[k].(float64); !ok {
					t.Errorf("%s/%s: %s = %v, want a number", m, tg, k, r[k])
				}
			}
			if r["steps"] != 20.0 || r["seed"] != 1.0 {
				t.Errorf("%s/%s: steps %v seed %v", m, tg, r["steps"], r["seed"])
			}
			target, _ := data.ByName(tg)
			if r["true_mean_log_density"] != target.MeanLogDensity() {
				t.Errorf("%s/%s: true_mean_log_density %v, want %v", m, tg, r["true_mean_log_density"], target.MeanLogDensity())
			}
			// A bound (and LARS's estimate, nearly) is below E_p log p;
			// after 20 steps it is far below.
			if tb := r["test_bound"].(float64); !(tb < target.MeanLogDensity()) || tb < -20 {
				t.Errorf("%s/%s: test_bound %v, E_p log p %v", m, tg, tb, target.MeanLogDensity())
			}
			checkPNG(t, filepath.Join(dir, m+"-"+tg, "density.png"))
		}
	}
	for _, tg := range data.Names() {
		checkPNG(t, filepath.Join(dir, "curves-"+tg+".png"))
	}
	checkPNG(t, filepath.Join(dir, "densities.png"))
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(md), "\n| "); got != len(rs) { // the data rows
		t.Errorf("results.md has %d data rows, want %d:\n%s", got, len(rs), md)
	}
}

// runState is what must be bitwise equal between an uninterrupted run and
// an interrupted and resumed one.
type runState struct {
	params     [][]float64
	m, v       [][]float64
	rng        []byte
	meta       map[string]string
	objectives []float64
	results    map[string]any
}

// loadRun reads the checkpoint and result of one run of dir.
func loadRun(t *testing.T, dir, model, target string) runState {
	t.Helper()
	ms := modelSettings{K: 32, TRST: 32, HIST: 2, Hidden: []int{8}, ProposalVar: 1, Batch: 16, LR: 3e-4}
	_, ps, err := newModel(model, rand.New(rand.NewPCG(0, 0)), ms)
	if err != nil {
		t.Fatal(err)
	}
	var opt nn.Adam
	pcg := rand.NewPCG(0, 0)
	ck := nn.Checkpoint{Params: ps, Adam: &opt, RNG: pcg}
	if err := nn.Load(filepath.Join(dir, model+"-"+target, "checkpoint.bin"), &ck); err != nil {
		t.Fatal(err)
	}
	var s runState
	for _, p := range ps.Tensors() {
		s.params = append(s.params, p.Data())
	}
	s.m, s.v = opt.Moments()
	s.rng, _ = pcg.MarshalBinary()
	s.meta = ck.Meta
	delete(s.meta, "experiment.train-seconds")
	pts, err := experiment.ReadMetrics(filepath.Join(dir, model+"-"+target, experiment.MetricsName))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != ck.Step {
		t.Fatalf("%s/%s: metrics log has %d steps, the checkpoint %d", model, target, len(pts), ck.Step)
	}
	s.objectives = experiment.Objectives(pts)
	for _, p := range pts { // the held-out bound during training, where evaluated
		if v, ok := p.Values[curveValue]; ok {
			s.objectives = append(s.objectives, float64(p.Step), v)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, model+"-"+target, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s.results); err != nil {
		t.Fatal(err)
	}
	delete(s.results, "seconds")
	delete(s.results, "train_seconds")
	return s
}

func equalState(t *testing.T, what string, a, b runState) {
	t.Helper()
	eqf := func(x, y [][]float64) bool {
		return slices.EqualFunc(x, y, func(p, q []float64) bool {
			return slices.EqualFunc(p, q, func(u, v float64) bool { return math.Float64bits(u) == math.Float64bits(v) })
		})
	}
	switch {
	case !eqf(a.params, b.params):
		t.Errorf("%s: parameters differ", what)
	case !eqf(a.m, b.m) || !eqf(a.v, b.v):
		t.Errorf("%s: Adam moments differ", what)
	case !bytes.Equal(a.rng, b.rng):
		t.Errorf("%s: random states differ", what)
	case fmt.Sprint(a.meta) != fmt.Sprint(b.meta):
		t.Errorf("%s: checkpoint meta (identity, model state) differ", what)
	case !eqf([][]float64{a.objectives}, [][]float64{b.objectives}):
		t.Errorf("%s: metrics logs differ", what)
	case fmt.Sprint(a.results) != fmt.Sprint(b.results):
		t.Errorf("%s: results differ:\n%v\n%v", what, a.results, b.results)
	}
}

// TestResumeIsBitwise checks that a run trained in pieces — 10 steps,
// then to 20; and one interrupted at step 7 and resumed — ends bitwise
// where an uninterrupted 20-step run does, for every model, with
// checkpoints in between and with one or two runs at a time.
func TestResumeIsBitwise(t *testing.T) {
	ctx := context.Background()
	const target = "two-rings"
	straight, pieces, interrupted := t.TempDir(), t.TempDir(), t.TempDir()
	common := []string{"-target", target, "-checkpoint-every", "4", "-curve-every", "3", "-curve-points", "10", "-curve-samples", "2"}
	if err := synth(ctx, t, straight, nil, append(common, "-steps", "20", "-jobs", "2")...); err != nil {
		t.Fatal(err)
	}
	for _, steps := range []string{"10", "20"} {
		if err := synth(ctx, t, pieces, nil, append(common, "-steps", steps, "-jobs", "1")...); err != nil {
			t.Fatal(err)
		}
	}
	// Interrupt every run at step 7, as SIGINT would, then resume.
	ictx, cancel := context.WithCancel(ctx)
	var once sync.Once
	stop := func(run string, step int) {
		if step == 7 {
			once.Do(cancel)
		}
	}
	err := synth(ictx, t, interrupted, stop, append(common, "-steps", "20", "-jobs", "1")...)
	cancel()
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("interrupted run returned %v, want errInterrupted", err)
	}
	if _, err := os.Stat(filepath.Join(interrupted, "results.json")); err == nil {
		t.Errorf("an interrupted invocation wrote results.json")
	}
	for {
		// One interruption per invocation: every run that started is
		// stopped at step 7 or later, so this ends.
		ictx, cancel = context.WithCancel(ctx)
		once = sync.Once{}
		err := synth(ictx, t, interrupted, stop, append(common, "-steps", "20", "-jobs", "1")...)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, errInterrupted) {
			t.Fatal(err)
		}
	}
	for _, m := range modelNames {
		want := loadRun(t, straight, m, target)
		equalState(t, m+" 10+10 steps", loadRun(t, pieces, m, target), want)
		equalState(t, m+" interrupted at 7", loadRun(t, interrupted, m, target), want)
	}
}

// TestRerunReuses checks that running a finished command again reuses
// its results instead of training or evaluating again.
func TestRerunReuses(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-model", "snis", "-target", "nine-gaussians", "-steps", "5"}
	if err := synth(context.Background(), t, dir, nil, args...); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "snis-nine-gaussians", "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	trainedAgain := false
	if err := synth(context.Background(), t, dir, func(string, int) { trainedAgain = true }, args...); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "snis-nine-gaussians", "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if trainedAgain || !bytes.Equal(before, after) {
		t.Errorf("a finished run was redone (trained again: %v)", trainedAgain)
	}
	// Another evaluation setting re-evaluates from the checkpoint
	// without training.
	if err := synth(context.Background(), t, dir, func(string, int) { trainedAgain = true }, append(args, "-eval-samples", "4")...); err != nil {
		t.Fatal(err)
	}
	rs := readResults(t, dir)
	if trainedAgain || rs[0]["settings"].(map[string]any)["eval-samples"] != "4" {
		t.Errorf("changing -eval-samples: trained again %v, settings %v", trainedAgain, rs[0]["settings"])
	}
}

// TestCheckpointFromOtherSettingsIsRefused checks that a checkpoint is
// never continued with other settings, nor past its steps backwards.
func TestCheckpointFromOtherSettingsIsRefused(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-model", "trs", "-target", "checkerboard", "-steps", "6"}
	if err := synth(context.Background(), t, dir, nil, args...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-proposal-var", "0.1"}, "proposal-var 1, now 0.1"},
		{[]string{"-seed", "2"}, "seed 1, now 2"},
		{[]string{"-T", "16"}, "T 32, now 16"},
		{[]string{"-hidden", "8,8"}, "hidden 8, now 8,8"},
		{[]string{"-steps", "3"}, "past -steps 3"},
	} {
		err := synth(context.Background(), t, dir, nil, append(slices.Clone(args), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got error %v, want one containing %q", c.args, err, c.want)
		}
	}
	// Settings that TRS does not use do not matter to it.
	if err := synth(context.Background(), t, dir, nil, append(args, "-K", "16", "-his-T", "3")...); err != nil {
		t.Errorf("-K and -his-T refused for TRS: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-model", "vae"},
		{"-target", "moons"},
		{"-steps", "0"},
		{"-proposal-var", "0"},
		{"-hidden", "20,x"},
		{"-cpuprofile", "-memprofile"},
		{"extra"},
	} {
		if _, err := parseSyntheticFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%q: error %v, want a usage error", args, err)
		}
	}
	cfg, err := parseSyntheticFlags([]string{"-model", "his,snis", "-target", "two-rings"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.models, []string{"snis", "his"}) || !slices.Equal(cfg.targets, []string{"two-rings"}) {
		t.Errorf("models %v targets %v", cfg.models, cfg.targets)
	}
	for _, s := range cfg.specs() {
		if s.steps != defaultSteps || s.seed != 1 || s.ms.K != 1024 || s.ms.TRST != 1024 || s.ms.HIST != 5 ||
			!slices.Equal(s.ms.Hidden, []int{20, 20}) || s.ms.Batch != 128 || s.ms.LR != 3e-4 || s.ms.ProposalVar != 1 {
			t.Errorf("%s: defaults %+v, steps %d: not App. D.1's", s.name(), s.ms, s.steps)
		}
	}
}

func TestDispatch(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"help"}, 0},
		{[]string{"nonsense"}, 2},
		{[]string{"synthetic", "-model", "vae"}, 2},
	} {
		var out bytes.Buffer
		if code := run(ctx, c.args, &out); code != c.code {
			t.Errorf("%q: exit %d, want %d", c.args, code, c.code)
		}
		if c.code == 0 && !strings.Contains(out.String(), "synthetic") {
			t.Errorf("%q: usage does not list synthetic:\n%s", c.args, out.String())
		}
	}
}

// TestSNISPictureSamplerIsExact checks snisModel.sample against p_SNIS
// computed by enumeration on a proposal with three support points and
// K = 3: 3³ candidate tuples, each selecting index k with probability
// w(x_k)/Σ w. The frequencies of 60000 draws must be within 5 standard
// errors of the exact probabilities.
func TestSNISPictureSamplerIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pts := ad.New([]float64{-1, 0, 0, 1, 1, 0.5}, 3, 2)
	prop := eimfamily.NewDiscrete(pts, ad.New([]float64{0.2, -0.3, 0.1}, 3))
	energy := eimfamily.NewMLPEnergy(rng, 2, 0, 8)
	f := &eimfamily.SNIS{Proposal: prop, Energy: energy, K: 3}
	m := &snisModel{boundModel{fam: f}, f}

	logPi := prop.LogWeights()
	u := energy.Energy(nil, pts).Detach().Data()
	exact := make([]float64, 3)
	for a := range 3 {
		for b := range 3 {
			for c := range 3 {
				tuple := []int{a, b, c}
				pr, sum := 1.0, 0.0
				for _, j := range tuple {
					pr *= math.Exp(logPi[j])
					sum += math.Exp(-u[j])
				}
				for _, j := range tuple {
					exact[j] += pr * math.Exp(-u[j]) / sum
				}
			}
		}
	}
	const n = 60000
	xs := m.sample(context.Background(), rng, n).Data()
	count := make([]float64, 3)
	for i := range n {
		j := prop.Index(xs[2*i : 2*i+2])
		if j < 0 {
			t.Fatalf("sample %v is off the support", xs[2*i:2*i+2])
		}
		count[j]++
	}
	for j := range 3 {
		// Draws of one set are dependent: at most snisDrawsPerSet of them
		// move together, so the variance is at most that factor larger.
		se := math.Sqrt(exact[j] * (1 - exact[j]) / n * snisDrawsPerSet)
		if got := count[j] / n; math.Abs(got-exact[j]) > 5*se {
			t.Errorf("point %d: frequency %.4f, exact %.4f (5 s.e. = %.4f)", j, got, exact[j], 5*se)
		}
	}
}

func TestLogMeanExpRows(t *testing.T) {
	w := []float64{0, math.Inf(-1), -1000, math.Log(3), math.Inf(-1), -1000}
	got := logMeanExpRows(w, 2, 3)
	want := []float64{math.Log(2), math.Inf(-1), -1000}
	for j := range want {
		if math.Abs(got[j]-want[j]) > 1e-12 && got[j] != want[j] {
			t.Errorf("column %d: %v, want %v", j, got[j], want[j])
		}
	}
}

// TestEvaluateSNISMatchesEnumeration checks the chunked S-sample
// evaluation against log p_SNIS computed by enumeration on a proposal with
// three support points and K = 3, with draws split into uneven chunks and
// the 1100 points into two blocks. exp ℓ has mean p(x) and a standard
// deviation sd(x) that enumeration also gives, so the S-sample estimate is
// log p(x) within 5·sd(x)/(p(x)·√S) (delta method) plus a downward bias
// of about sd²/(2p²S).
func TestEvaluateSNISMatchesEnumeration(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pts := ad.New([]float64{-1, 0, 0, 1, 1, 0.5}, 3, 2)
	prop := eimfamily.NewDiscrete(pts, ad.New([]float64{0.3, -0.2, 0}, 3))
	energy := eimfamily.NewMLPEnergy(rng, 2, 0, 8)
	f := &eimfamily.SNIS{Proposal: prop, Energy: energy, K: 3}
	m := &boundModel{fam: f, perCall: func(int) int { return 7 }}

	logPi := prop.LogWeights()
	u := energy.Energy(nil, pts).Detach().Data()
	mean, sq := make([]float64, 3), make([]float64, 3)
	for j := range 3 { // x = s_j, x_2 = s_a, x_3 = s_b
		for a := range 3 {
			for b := range 3 {
				pr := math.Exp(logPi[a] + logPi[b])
				w := math.Exp(logPi[j]-u[j]) / ((math.Exp(-u[j]) + math.Exp(-u[a]) + math.Exp(-u[b])) / 3)
				mean[j] += pr * w
				sq[j] += pr * w * w
			}
		}
	}
	const n, S = 1100, 4000
	xs := make([]float64, 2*n)
	for i := range n {
		copy(xs[2*i:], pts.Data()[2*(i%3):2*(i%3)+2])
	}
	ev := evalSettings{Samples: S}
	out, err := m.evaluate(context.Background(), rng, ad.New(xs, n, 2), ev)
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range out.values {
		j := i % 3
		sd := math.Sqrt(sq[j] - mean[j]*mean[j])
		tol := 5*sd/(mean[j]*math.Sqrt(S)) + sd*sd/(2*mean[j]*mean[j]*S)
		if want := math.Log(mean[j]); math.Abs(got-want) > tol {
			t.Fatalf("point %d (support %d): estimate %.5f, log p_SNIS %.5f (tolerance %.5f)", i, j, got, want, tol)
		}
	}
}

// TestCorruptCheckpointWritesNothing checks that a finished invocation
// whose run has a damaged checkpoint fails without rewriting results.json
// (the old code wrote the results, then failed drawing the curves).
func TestCorruptCheckpointWritesNothing(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-model", "snis,trs", "-target", "two-rings", "-steps", "5"}
	if err := synth(context.Background(), t, dir, nil, args...); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Make the rerun recompute the results (the md is its table), then
	// damage one checkpoint.
	os.WriteFile(filepath.Join(dir, "results.json"), append(before, ' '), 0o644)
	os.WriteFile(filepath.Join(dir, "trs-two-rings", "checkpoint.bin"), []byte("EIMKITCK garbage"), 0o644)
	err = synth(context.Background(), t, dir, nil, args...)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("rerun with a corrupt checkpoint: %v, want an error naming it", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if !bytes.Equal(after, append(before, ' ')) {
		t.Errorf("results.json was rewritten by a failing invocation")
	}
}

// TestDivergedRunIsAnError checks that a learning rate that makes the
// parameters overflow ends the run with an error naming the step and the
// quantity, and keeps the last good checkpoint.
func TestDivergedRunIsAnError(t *testing.T) {
	dir := t.TempDir()
	err := synth(context.Background(), t, dir, nil, "-model", "snis", "-target", "two-rings", "-steps", "50", "-checkpoint-every", "1", "-lr", "1e308")
	if err == nil || !strings.Contains(err.Error(), "after step") {
		t.Fatalf("lr 1e308: %v, want an error naming the step", err)
	}
	t.Log(err)
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
		t.Error("a diverged invocation wrote results.json")
	}
}

// TestFig1AndMismatchedProposal checks that -mismatch-var adds the runs on
// nine-gaussians with the mismatched proposal, that the held-out bound is
// logged every -curve-every steps, and that fig1.png and densities.png are
// written.
func TestFig1AndMismatchedProposal(t *testing.T) {
	dir := t.TempDir()
	if err := synth(context.Background(), t, dir, nil, "-model", "snis", "-target", "nine-gaussians", "-steps", "6",
		"-mismatch-var", "0.1", "-curve-every", "2", "-curve-points", "10", "-curve-samples", "2"); err != nil {
		t.Fatal(err)
	}
	rs := readResults(t, dir)
	if len(rs) != 2 || rs[0]["proposal_var"] != 1.0 || rs[1]["proposal_var"] != 0.1 {
		t.Fatalf("results: %v", rs)
	}
	for _, run := range []string{"snis-nine-gaussians", "snis-nine-gaussians-var0.1"} {
		pts, err := experiment.ReadMetrics(filepath.Join(dir, run, experiment.MetricsName))
		if err != nil {
			t.Fatal(err)
		}
		var at []int
		for _, p := range pts {
			if v, ok := p.Values[curveValue]; ok {
				at = append(at, p.Step)
				if !(v < 0) {
					t.Errorf("%s: held-out bound %v at step %d", run, v, p.Step)
				}
			}
		}
		if !slices.Equal(at, []int{2, 4, 6}) {
			t.Errorf("%s: held-out bound at steps %v, want 2, 4, 6", run, at)
		}
	}
	for _, f := range []string{"fig1.png", "densities.png", "curves-nine-gaussians-var0.1.png"} {
		checkPNG(t, filepath.Join(dir, f))
	}
}
