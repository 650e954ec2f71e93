package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/profile"
	"gonum.org/v1/plot/plotter"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
)

// defaultSteps is the default of -steps: the budget with which
// `eimkit synthetic -out results` (4 models × 3 targets, two runs at a
// time, evaluation and plots included) finishes in under five minutes on
// two cores (2 min 14 s measured; see doc.go).
const defaultSteps = 10_000

// stepCost is each model's rough cost of one training step relative to
// SNIS's (go test -bench TrainStep), used only to start the longest runs
// first.
var stepCost = map[string]float64{"trs": 1.2, "snis": 1, "his": 1.8, "lars": 1.2}

const syntheticUsage = `Usage: eimkit synthetic [flags]

Trains the models of Sec. 4.1 of the paper (TRS, SNIS, HIS and the LARS
baseline) on the 2-D synthetic targets, evaluates them on held-out points
and writes, under -out:

	results.json             one object per model and target
	results.md               the same as a markdown table
	fig1.png                 the held-out bound during training, a panel per target (Fig. 1)
	curves-<target>.png      training objective against step for each model
	densities.png            targets in rows, the target density and each model's (Fig. 2)
	<model>-<target>/
	    density.png          target density beside the learned one
	    density.json         the histogram of density.png, for densities.png
	    result.json          the run's entry of results.json
	    checkpoint.bin       parameters, optimizer, random state, LARS's moving average
	    metrics.jsonl        one line per step: objective, time, held-out bound

Running the same command again resumes each unfinished run from its last
checkpoint and reuses finished ones; a larger -steps continues finished
runs. A checkpoint written with other settings is refused with an error.

Flags:
`

// syntheticConfig holds the parsed flags of the synthetic command.
type syntheticConfig struct {
	models, targets []string
	steps           int
	seed            uint64
	out             string
	ms              modelSettings
	ev              evalSettings
	every           int
	curve           curveSettings
	mismatchVar     float64 // with nine-gaussians: also train on N(0, v·I) (Fig. 1, right)
	jobs            int
	quiet           bool
	cpuProfile      bool
	memProfile      bool
	onStep          func(run string, step int) // for tests: see progress.onStep
}

// parseSyntheticFlags parses args. It returns flag.ErrHelp for -h and an
// error wrapping errUsage for bad flags (both already printed to stderr).
func parseSyntheticFlags(args []string, stderr io.Writer) (*syntheticConfig, error) {
	fs := newFlagSet("synthetic", syntheticUsage, stderr)
	var (
		c                    syntheticConfig
		modelFlag, targetFlg string
		hidden               string
	)
	fs.StringVar(&modelFlag, "model", "all", "models to train: trs, snis, his, lars, a comma-separated list, or all")
	fs.StringVar(&targetFlg, "target", "all", "targets: nine-gaussians, checkerboard, two-rings, a comma-separated list, or all")
	fs.IntVar(&c.steps, "steps", defaultSteps, "training steps of every run (the paper's runs: 20000 and more)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed; every run, the held-out data and each evaluation get their own stream split from it")
	fs.Float64Var(&c.ms.ProposalVar, "proposal-var", 1, "variance v of the fixed proposal N(0, v·I) (Fig. 1's right panel uses 0.1)")
	fs.StringVar(&c.out, "out", "results", "output `directory`")
	fs.IntVar(&c.ms.K, "K", 1024, "candidates of SNIS, and proposal draws per step for LARS's estimate of Z")
	fs.IntVar(&c.ms.TRST, "T", 1024, "truncation of the rejection sampler of TRS and LARS")
	fs.IntVar(&c.ms.HIST, "his-T", 5, "leapfrog steps of HIS")
	fs.StringVar(&hidden, "hidden", "20,20", "hidden widths of the energy MLP (and of HIS's q network), tanh")
	fs.IntVar(&c.ms.Batch, "batch", 128, "training batch size")
	fs.Float64Var(&c.ms.LR, "lr", 3e-4, "Adam learning rate")
	fs.IntVar(&c.every, "checkpoint-every", 1000, "save a checkpoint every this many steps (and at the end, and on SIGINT)")
	fs.IntVar(&c.ev.Points, "eval-points", 1000, "held-out points drawn from each target for the test bound")
	fs.IntVar(&c.ev.Samples, "eval-samples", 1000, "S of the S-sample test bound of TRS, SNIS and HIS")
	fs.IntVar(&c.ev.LARSZSamples, "lars-z-samples", 1_000_000, "proposal draws for LARS's test-time estimate of Z")
	fs.IntVar(&c.ev.PlotSamples, "plot-samples", 100_000, "exact samples from each learned model for its density picture")
	fs.IntVar(&c.curve.Every, "curve-every", 500, "evaluate the held-out bound every this many training steps, for fig1.png (0: never)")
	fs.IntVar(&c.curve.Points, "curve-points", 500, "held-out points of the bound during training")
	fs.IntVar(&c.curve.Samples, "curve-samples", 20, "S of the S-sample bound during training (and 1000·S proposal draws for LARS's Z)")
	fs.Float64Var(&c.mismatchVar, "mismatch-var", 0, "if > 0 and nine-gaussians is a target, also train every model on it with the proposal N(0, v·I), fig1.png's right panel (the paper: 0.1)")
	fs.IntVar(&c.jobs, "jobs", runtime.GOMAXPROCS(0), "runs trained at the same time")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors (no progress bar)")
	fs.BoolVar(&c.cpuProfile, "cpuprofile", false, "write a CPU profile to <out>/cpu.pprof")
	fs.BoolVar(&c.memProfile, "memprofile", false, "write a heap profile to <out>/mem.pprof")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	v := newChecker(fs)
	var err error
	if c.models, err = parseList(modelFlag, modelNames); err != nil {
		v.failf("-model: %v", err)
	}
	if c.targets, err = parseList(targetFlg, data.Names()); err != nil {
		v.failf("-target: %v", err)
	}
	for _, h := range strings.Split(hidden, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(h))
		if err != nil || w < 1 {
			v.failf("-hidden %q: want positive widths separated by commas", hidden)
			break
		}
		c.ms.Hidden = append(c.ms.Hidden, w)
	}
	v.atLeast("steps", c.steps, 1)
	v.positive("proposal-var", c.ms.ProposalVar)
	v.atLeast("K", c.ms.K, 1)
	v.atLeast("T", c.ms.TRST, 1)
	v.atLeast("his-T", c.ms.HIST, 1)
	v.atLeast("batch", c.ms.Batch, 1)
	v.positive("lr", c.ms.LR)
	v.atLeast("checkpoint-every", c.every, 1)
	v.atLeast("eval-points", c.ev.Points, 1)
	v.atLeast("eval-samples", c.ev.Samples, 1)
	v.atLeast("lars-z-samples", c.ev.LARSZSamples, 1)
	v.atLeast("plot-samples", c.ev.PlotSamples, 1)
	v.atLeast("jobs", c.jobs, 1)
	v.atLeast("curve-every", c.curve.Every, 0)
	v.atLeast("curve-points", c.curve.Points, 1)
	v.atLeast("curve-samples", c.curve.Samples, 1)
	if c.mismatchVar < 0 {
		v.failf("-mismatch-var %v: want ≥ 0", c.mismatchVar)
	}
	v.nonEmpty("out", c.out)
	if c.cpuProfile && c.memProfile {
		v.failf("-cpuprofile and -memprofile cannot be used together (github.com/pkg/profile runs one profile at a time)")
	}
	if err := v.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

// parseList parses "all" or a comma-separated list of names from valid,
// returned in the order of valid without repeats.
func parseList(s string, valid []string) ([]string, error) {
	if s == "all" {
		return slices.Clone(valid), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(valid, name) {
			return nil, fmt.Errorf("unknown name %q (want %s or all)", name, strings.Join(valid, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, v := range valid {
		if want[v] {
			out = append(out, v)
		}
	}
	return out, nil
}

// runSynthetic is the synthetic command.
func runSynthetic(ctx context.Context, args []string) error {
	cfg, err := parseSyntheticFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// specs returns the runs of the invocation, models major, in table order.
func (c *syntheticConfig) specs() []runSpec {
	var specs []runSpec
	for _, p := range c.panels() {
		for _, m := range c.models {
			ms := c.ms
			ms.ProposalVar = p.proposalVar
			specs = append(specs, runSpec{
				model: m, target: p.target, tag: p.tag, steps: c.steps, seed: c.seed,
				ms: ms, ev: c.ev, every: c.every, curve: c.curve,
				dir: filepath.Join(c.out, m+"-"+p.target+p.tag),
			})
		}
	}
	// Models major, as the results table has them.
	slices.SortStableFunc(specs, func(a, b runSpec) int {
		return cmp.Compare(slices.Index(c.models, a.model), slices.Index(c.models, b.model))
	})
	return specs
}

// panel is one target and proposal: a panel of Fig. 1, a row of Fig. 2.
type panel struct {
	target      string
	proposalVar float64
	tag         string // "" for the main proposal, "-var<v>" for the mismatched one
}

// panels returns the targets with the main proposal, then nine-gaussians
// with the mismatched one if -mismatch-var is set.
func (c *syntheticConfig) panels() []panel {
	var ps []panel
	for _, t := range c.targets {
		ps = append(ps, panel{target: t, proposalVar: c.ms.ProposalVar})
	}
	if c.mismatchVar > 0 && slices.Contains(c.targets, "nine-gaussians") {
		ps = append(ps, panel{target: "nine-gaussians", proposalVar: c.mismatchVar, tag: "-var" + strconv.FormatFloat(c.mismatchVar, 'g', -1, 64)})
	}
	return ps
}

func (p panel) title() string {
	return fmt.Sprintf("%s, proposal N(0, %g·I)", p.target, p.proposalVar)
}

// run trains and evaluates every run and writes the outputs. Runs go to
// c.jobs workers, longest first; each run's result depends only on its
// own settings and random streams, never on the scheduling. The first
// error stops the other runs (each saves a checkpoint) and is returned;
// the summary files are written only when every run succeeded, after
// everything they are made from has been read.
func (c *syntheticConfig) run(ctx context.Context, stderr io.Writer) error {
	if err := c.checkMemory(); err != nil {
		return err
	}
	out, err := openOut(c.out)
	if err != nil {
		return err
	}
	defer out.Close()
	reportOut(stderr, c.quiet, out)
	if c.cpuProfile || c.memProfile {
		opts := []func(*profile.Profile){profile.ProfilePath(c.out), profile.NoShutdownHook}
		if c.cpuProfile {
			opts = append(opts, profile.CPUProfile)
		} else {
			opts = append(opts, profile.MemProfile)
		}
		if c.quiet {
			opts = append(opts, profile.Quiet)
		}
		defer profile.Start(opts...).Stop()
	}
	specs := c.specs()
	total := 0
	for _, s := range specs {
		if reuse, _ := s.readResult(); reuse != nil {
			continue
		}
		step, err := s.bare().StepsDone()
		if err != nil {
			return err
		}
		total += s.steps - step
	}
	prog := experiment.NewProgress(stderr, total, c.quiet)
	prog.OnStep = c.onStep
	start := time.Now()

	order := experiment.Seq(len(specs))
	cost := func(i int) float64 { return float64(specs[i].steps) * stepCost[specs[i].model] }
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(cost(b), cost(a)) })
	results := make([]*result, len(specs))
	err = experiment.Parallel(ctx, c.jobs, order, func(ctx context.Context, i int) error {
		r, err := specs[i].do(ctx, prog)
		if errors.Is(err, errInterrupted) {
			prog.Logf("%v", err)
		}
		results[i] = r
		return err
	})
	prog.Finish()
	if err != nil {
		if errors.Is(err, errInterrupted) {
			err = fmt.Errorf("stopped; checkpoints are saved, run the same command to resume: %w", errInterrupted)
		}
		return err
	}

	var curves []func() error
	var fig1 []fig1Panel
	for _, p := range c.panels() {
		f, fp, err := c.curves(p, specs)
		if err != nil {
			return fmt.Errorf("curves of %s: %w", p.title(), err)
		}
		curves = append(curves, f)
		fig1 = append(fig1, fp)
	}
	if c.curve.Every > 0 && c.curve.Every <= c.steps {
		curves = append(curves, func() error {
			return writeFig1PNG(filepath.Join(c.out, "fig1.png"), fig1, c.curve)
		})
	}
	rows, err := c.densityRows(specs)
	if err != nil {
		return err
	}
	if err := writeResults(c.out, results); err != nil {
		return err
	}
	if err := writeDensityGridPNG(filepath.Join(c.out, "densities.png"), rows); err != nil {
		return fmt.Errorf("densities.png: %w", err)
	}
	for _, f := range curves {
		if err := f(); err != nil {
			return err
		}
	}
	prog.Logf("wrote %s (%d runs, %.1f s)", filepath.Join(c.out, "results.json"), len(results), time.Since(start).Seconds())
	return nil
}

// curves reads the training records of a panel's runs and returns the
// function that writes its curves-<target><tag>.png, and its panel of
// Fig. 1 (the held-out bound during training).
func (c *syntheticConfig) curves(p panel, specs []runSpec) (func() error, fig1Panel, error) {
	t, err := data.ByName(p.target)
	if err != nil {
		return nil, fig1Panel{}, err
	}
	var curves []curve
	fp := fig1Panel{title: p.title(), truth: t.MeanLogDensity()}
	for _, s := range specs {
		if s.target != p.target || s.tag != p.tag {
			continue
		}
		rec, err := s.bare().Record()
		if err != nil {
			return nil, fp, err
		}
		if rec.Steps != s.steps {
			return nil, fp, fmt.Errorf("%s: the checkpoint is at step %d of %d", s.name(), rec.Steps, s.steps)
		}
		label := strings.ToUpper(s.model)
		if s.model == "lars" {
			label += " (its objective, not a bound)"
		}
		curves = append(curves, curve{label: label, bounds: rec.Objectives()})
		var pts plotter.XYs
		for _, pt := range rec.Points {
			if v, ok := pt.Values[curveValue]; ok {
				pts = append(pts, plotter.XY{X: float64(pt.Step), Y: v})
			}
		}
		if s.model == "lars" {
			fp.labels = append(fp.labels, "LARS (an estimate, not a bound)")
		} else {
			fp.labels = append(fp.labels, strings.ToUpper(s.model))
		}
		fp.curves = append(fp.curves, pts)
		fp.steps = s.steps
	}
	path := filepath.Join(c.out, "curves-"+p.target+p.tag+".png")
	return func() error { return writeCurvesPNG(path, t, curves, p.title()) }, fp, nil
}

// densityRows reads every run's density grid for Fig. 2: one row per
// target, the target's exact density first, then the models in order.
func (c *syntheticConfig) densityRows(specs []runSpec) ([]densityRow, error) {
	var rows []densityRow
	for _, p := range c.panels() {
		t, err := data.ByName(p.target)
		if err != nil {
			return nil, err
		}
		name := p.target
		if p.tag != "" {
			name += fmt.Sprintf(", N(0, %g·I)", p.proposalVar)
		}
		row := densityRow{target: name, grids: []*gridXYZ{targetGrid(t, densityCells)}, titles: []string{"target"}}
		for _, s := range specs {
			if s.target != p.target || s.tag != p.tag {
				continue
			}
			var j gridJSON
			b, err := os.ReadFile(filepath.Join(s.dir, densityName))
			if err == nil {
				err = json.Unmarshal(b, &j)
			}
			g, gerr := j.grid()
			if err != nil || gerr != nil {
				return nil, fmt.Errorf("%s: density grid: %w", s.name(), errors.Join(err, gerr))
			}
			row.grids = append(row.grids, g)
			row.titles = append(row.titles, strings.ToUpper(s.model))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// do runs one spec to its result: reused if the run's result.json is
// current, otherwise trained (or continued) and evaluated.
func (r runSpec) do(ctx context.Context, prog *experiment.Progress) (*result, error) {
	if res, err := r.readResult(); err != nil {
		return nil, err
	} else if res != nil {
		prog.Logf("%s: reusing %s", r.name(), filepath.Join(r.dir, "result.json"))
		return res, nil
	}
	run, m, err := r.newRun(prog)
	if err != nil {
		return nil, err
	}
	var res *result
	run.Eval = func(ctx context.Context, rec *experiment.Record) error {
		start := time.Now()
		res, err = r.evaluate(ctx, m, rec)
		if err != nil {
			return err
		}
		res.Seconds = rec.Seconds + time.Since(start).Seconds()
		res.TrainSeconds = rec.Seconds
		return res.write(filepath.Join(r.dir, "result.json"))
	}
	if _, err := run.Do(ctx); err != nil {
		return nil, err
	}
	prog.Logf("%s: %d steps, test %.4f (E_p log p %.4f), %.1f s", r.name(), r.steps, float64(res.TestBound), res.TrueMeanLogDensity, res.Seconds)
	return res, nil
}

// evaluate computes the test estimate on held-out points and draws the
// density picture.
func (r runSpec) evaluate(ctx context.Context, m model, rec *experiment.Record) (*result, error) {
	target, err := data.ByName(r.target)
	if err != nil {
		return nil, err
	}
	// The held-out points depend on the seed and the target only, so all
	// models of a target are tested on the same points.
	xs := make([]float64, 2*r.ev.Points)
	target.Sample(rand.New(stream(r.seed, "test", r.target)), xs)
	out, err := m.evaluate(ctx, rand.New(stream(r.seed, "eval", r.model, r.target)), ad.New(xs, r.ev.Points, 2), r.ev)
	if err != nil {
		return nil, err
	}
	mean, se := meanStdErr(out.values)
	res := &result{
		Model:              r.model,
		Target:             r.target,
		Steps:              rec.Steps,
		Seed:               r.seed,
		ProposalVar:        r.ms.ProposalVar,
		TestBound:          jsonFloat(mean),
		TestBoundStdErr:    jsonFloat(se),
		TrueMeanLogDensity: target.MeanLogDensity(),
		FinalTrainObj:      jsonFloat(tailMean(rec.Objectives(), 1000)),
		Eval:               m.evalMethod(r.ev),
		LARSZ:              out.z,
		LARSZStdErr:        out.zStdErr,
		Settings:           r.resultSettings(),
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	const cells = densityCells
	samples := m.sample(ctx, rand.New(stream(r.seed, "plot", r.model, r.target)), r.ev.PlotSamples)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	what := "exact samples"
	if r.model == "snis" {
		what = fmt.Sprintf("exact samples, %d per candidate set", snisDrawsPerSet)
	}
	title := fmt.Sprintf("%s: %d %s\ntest %.3f, E_p log p %.3f", strings.ToUpper(r.model), r.ev.PlotSamples, what, mean, res.TrueMeanLogDensity)
	if err := writeDensityPNG(filepath.Join(r.dir, "density.png"), target, samples.Data(), cells, title); err != nil {
		return nil, fmt.Errorf("%s: density picture: %w", r.name(), err)
	}
	lo, hi := target.Bounds()
	if err := experiment.WriteJSON(filepath.Join(r.dir, densityName), histogramGrid(target, samples.Data(), densityCells).toJSON(lo, hi)); err != nil {
		return nil, err
	}
	return res, nil
}

// resultSettings are the settings a result.json is valid for: the
// training identity, the steps and the evaluation settings.
func (r runSpec) resultSettings() map[string]string {
	s := r.identity()
	s["steps"] = strconv.Itoa(r.steps)
	s["eval-points"] = strconv.Itoa(r.ev.Points)
	s["eval-samples"] = strconv.Itoa(r.ev.Samples)
	s["lars-z-samples"] = strconv.Itoa(r.ev.LARSZSamples)
	s["plot-samples"] = strconv.Itoa(r.ev.PlotSamples)
	return s
}

// readResult returns the run's result.json if it exists, was computed
// with the current settings and its density picture exists; nil if not.
func (r runSpec) readResult() (*result, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, "result.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var res result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, nil // unreadable: evaluate again
	}
	if !maps.Equal(res.Settings, r.resultSettings()) {
		return nil, nil
	}
	for _, f := range []string{"density.png", densityName} {
		if _, err := os.Stat(filepath.Join(r.dir, f)); err != nil {
			return nil, nil
		}
	}
	if _, err := os.Stat(r.checkpointPath()); err != nil {
		return nil, nil
	}
	return &res, nil
}

// meanStdErr returns the mean of v and its standard error sd/√n (0 for
// n = 1).
func meanStdErr(v []float64) (mean, se float64) {
	n := float64(len(v))
	for _, x := range v {
		mean += x
	}
	mean /= n
	if len(v) < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// tailMean is the mean of the last k values of v (all if fewer).
func tailMean(v []float64, k int) float64 {
	m, _ := meanStdErr(v[max(0, len(v)-k):])
	return m
}
