package main

// The fig3 command: Fig. 3 of the paper (Sec. 4.2, App. D.2) — the VAE
// of Table 1 on dynamically binarized MNIST with an SNIS prior at K ∈
// {16, 64, 256, 1024} candidates and with an HIS prior at T ∈ {1, 2, 5,
// 10} leapfrog steps: the test IWAE-S bound against K and T, beside the
// time per training step ("increasing K or T improves performance at the
// cost of additional computation"). Each point is one run of the vae
// command's machinery (vaeRun: the same model, schedule, streams,
// checkpoints, evaluation and outputs) with its own K or T.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/vae"
)

const fig3Usage = `Usage: eimkit fig3 [flags]

Fig. 3 of the paper: the VAE of Table 1 (App. D.2; see eimkit help vae) on
dynamically binarized MNIST, once with an SNIS prior for each K of -K and
once with an HIS prior for each T of -his-T, every other setting as the vae
command's. Each run is a vae run (same initial encoder and decoder, batches,
pixels, schedule and evaluation streams for every K and T, so that they
differ only in K or T), trained on -jobs cores at once and evaluated with
the -eval-samples-sample IWAE bound on the test images. Writes under -out:

	fig3.png                   the test bound against K (SNIS) and T (HIS),
	                           and the wall time per training step below
	results.json, results.md   per K and T: test bound mean ± s.e., its
	                           paired difference to the smallest K or T,
	                           seconds per step, Table 1's numbers at
	                           K = 1024 and T = 5
	dynamic-mnist/snis-K<K>/, dynamic-mnist/his-T<T>/
	                           each run's outputs as the vae command writes
	                           them (samples.png, curves.png, result.json,
	                           eval.json, checkpoint.bin, metrics.jsonl)

The time per step is the median over the steps of the wall time between
consecutive steps in metrics.jsonl: on a shared machine, with -jobs runs at
once. Running the same command again resumes unfinished runs and reuses
finished ones whose settings match (a vae run's directory with the same
settings, copied to the run's directory here, is reused too).

Flags:
`

// fig3Data is the data set of Fig. 3.
const fig3Data = data.NameDynamicMNIST

// fig3Config holds the parsed flags of the fig3 command: the vae settings
// of every run, and the K and T values.
type fig3Config struct {
	vc *vaeConfig
	Ks []int // SNIS's candidates, ascending
	Ts []int // HIS's leapfrog steps, ascending
}

// parseFig3Flags parses args. It returns flag.ErrHelp for -h and an error
// wrapping errUsage for bad flags (both already printed to stderr). The
// defaults of the flags it shares with vae are vae's.
func parseFig3Flags(args []string, stderr io.Writer) (*fig3Config, error) {
	d, err := parseVAEFlags(nil, io.Discard)
	if err != nil {
		panic("eimkit: the vae command's defaults do not parse: " + err.Error())
	}
	fs := newFlagSet("fig3", fig3Usage, stderr)
	c := *d
	var kFlag, tFlag, hiddenFlag, energyHiddenFlag string
	fs.StringVar(&kFlag, "K", "16,64,256,1024", "SNIS's candidates: a comma-separated list of values ≥ 1 (one run each), or none")
	fs.StringVar(&tFlag, "his-T", "1,2,5,10", "HIS's leapfrog steps: a comma-separated list of values ≥ 1 (one run each), or none")
	fs.IntVar(&c.steps, "steps", d.steps, "training steps of every run")
	fs.IntVar(&c.batch, "batch", d.batch, "training batch size")
	fs.Float64Var(&c.lr, "lr", d.lr, "Adam's learning rate before the drop")
	fs.Float64Var(&c.dropLR, "drop-lr", d.dropLR, "Adam's learning rate after the drop")
	fs.Float64Var(&c.annealFrac, "anneal-frac", d.annealFrac, "fraction of the steps over which the KL weight rises from 0 to 1; 0: no annealing")
	fs.Float64Var(&c.dropFrac, "drop-frac", d.dropFrac, "fraction of the steps after which the learning rate drops; 1: no drop")
	fs.Uint64Var(&c.seed, "seed", d.seed, "random seed (as vae's: the runs share initialization, batches and pixels)")
	fs.IntVar(&c.latent, "latent", d.latent, "dimension of the latent z")
	fs.StringVar(&hiddenFlag, "hidden", intsString(d.hidden), "hidden widths of the encoder, the decoder and HIS's q(ρ_T | z) network (tanh)")
	fs.StringVar(&energyHiddenFlag, "energy-hidden", intsString(d.energyHidden), "hidden widths of the priors' energy MLP (tanh)")
	fs.IntVar(&c.evalSamples, "eval-samples", d.evalSamples, "S of the test bound")
	fs.IntVar(&c.testImages, "test-images", d.testImages, "test images evaluated, the first ones of the test split (0: all 10,000)")
	fs.IntVar(&c.evalEvery, "eval-every", d.evalEvery, "compute the validation bound every this many steps (0: never)")
	fs.IntVar(&c.validImages, "valid-images", d.validImages, "validation images of the validation bound")
	fs.IntVar(&c.validSamples, "valid-samples", d.validSamples, "S of the validation bound")
	fs.IntVar(&c.every, "checkpoint-every", d.every, "save a checkpoint every this many steps (and at the end, and on SIGINT)")
	fs.IntVar(&c.jobs, "jobs", d.jobs, "runs trained (and evaluated) at the same time, each on one core; with 1, ad's products use every core")
	fs.StringVar(&c.out, "out", "results-fig3", "output `directory`")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors (no progress bar)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	v := newChecker(fs)
	f := &fig3Config{vc: &c}
	var kErr, tErr error
	if f.Ks, kErr = parseCounts(kFlag); kErr != nil {
		v.failf("-K %q: %v", kFlag, kErr)
	}
	if f.Ts, tErr = parseCounts(tFlag); tErr != nil {
		v.failf("-his-T %q: %v", tFlag, tErr)
	}
	if kErr == nil && tErr == nil && len(f.Ks)+len(f.Ts) == 0 {
		v.failf("-K none -his-T none: nothing to run")
	}
	c.checkShared(v, hiddenFlag, energyHiddenFlag)
	if err := v.done(); err != nil {
		return nil, err
	}
	c.datasets = []string{fig3Data}
	c.priors = nil
	if len(f.Ks) > 0 {
		c.priors = append(c.priors, vae.SNIS)
		c.K = f.Ks[len(f.Ks)-1] // the largest, for the memory check; each run has its own
	}
	if len(f.Ts) > 0 {
		c.priors = append(c.priors, vae.HIS)
		c.hisT = f.Ts[len(f.Ts)-1]
	}
	return f, nil
}

// parseCounts parses "16,64,256" into distinct values ≥ 1, ascending;
// "none" is the empty list.
func parseCounts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "none" {
		return nil, nil
	}
	var vs []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, errors.New("want integers ≥ 1 separated by commas, or none")
		}
		if slices.Contains(vs, v) {
			return nil, fmt.Errorf("%d is listed twice", v)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs, nil
}

// runFig3 is the fig3 command.
func runFig3(ctx context.Context, args []string) error {
	cfg, err := parseFig3Flags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// runs returns the command's runs: SNIS for each K, then HIS for each T.
func (f *fig3Config) runs() []*vaeRun {
	c := f.vc
	var runs []*vaeRun
	for _, k := range f.Ks {
		tag := "-K" + strconv.Itoa(k)
		runs = append(runs, &vaeRun{c: c, data: fig3Data, prior: vae.SNIS, K: k, tag: tag, dir: filepath.Join(c.out, fig3Data, "snis"+tag)})
	}
	for _, t := range f.Ts {
		tag := "-T" + strconv.Itoa(t)
		runs = append(runs, &vaeRun{c: c, data: fig3Data, prior: vae.HIS, hisT: t, tag: tag, dir: filepath.Join(c.out, fig3Data, "his"+tag)})
	}
	return runs
}

// fig3Cost is a run's rough cost relative to a Gaussian-prior run's 10,
// from docs/vae.md's step and evaluation times (SNIS at K = 1024: 11, HIS
// at T = 5: 16), scaled with K and T; used only to start the longest
// runs first.
func fig3Cost(r *vaeRun) float64 {
	if r.prior == vae.SNIS {
		return 10 + float64(r.k())/1024
	}
	return 10 + 1.2*float64(r.hisSteps())
}

// run loads the data, does every run (trained, resumed or reused, and
// evaluated) and writes the figure and the tables. Nothing is written if
// a run fails or the command is interrupted; training and finished
// evaluation blocks are saved.
func (f *fig3Config) run(ctx context.Context, stderr io.Writer) error {
	c := f.vc
	if err := c.checkMemory(); err != nil {
		return &usageErr{msg: strings.Replace(err.Error(), "vae with", "fig3 with", 1)}
	}
	// The data first: a missing or corrupt file is reported before
	// anything is created under -out.
	if err := c.load("fig3"); err != nil {
		return err
	}
	out, err := openOut(c.out)
	if err != nil {
		return err
	}
	defer out.Close()
	reportOut(stderr, c.quiet, out)
	start := time.Now()

	runs := f.runs()
	prog, err := c.progress(stderr, runs)
	if err != nil {
		return err
	}
	order := experiment.Seq(len(runs))
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(fig3Cost(runs[b]), fig3Cost(runs[a])) }) // the longest first
	results, err := c.doRuns(ctx, prog, runs, order)
	prog.Finish()
	if err != nil {
		if errors.Is(err, errInterrupted) {
			err = fmt.Errorf("fig3 stopped before writing results; training (and finished evaluation blocks) are saved, run the same command to resume: %w", errInterrupted)
		}
		return err
	}
	all := &fig3Results{Data: fig3Data, Jobs: c.jobs, Note: fig3TimeNote}
	for i, r := range runs {
		p, err := f.point(r, results[i], runs)
		if err != nil {
			return err
		}
		all.Points = append(all.Points, p)
	}
	all.Seconds = time.Since(start).Seconds()
	if err := writeFig3PNG(filepath.Join(c.out, "fig3.png"), all, c); err != nil {
		return fmt.Errorf("fig3.png: %w", err)
	}
	if err := experiment.WriteJSON(filepath.Join(c.out, "results.json"), all); err != nil {
		return err
	}
	if err := experiment.WriteString(filepath.Join(c.out, "results.md"), fig3Markdown(all)); err != nil {
		return err
	}
	prog.Logf("wrote %s and %s (%d runs, %.1f s)", filepath.Join(c.out, "fig3.png"), filepath.Join(c.out, "results.md"), len(runs), all.Seconds)
	return nil
}

// fig3TimeNote says what the time per step is.
const fig3TimeNote = "the wall time of a training step (the median over the steps of the time between " +
	"consecutive steps in the run's metrics.jsonl; mean: the run's training time over its steps, validation bounds and " +
	"checkpoints included), measured with the runs of -jobs training at once, on a machine that may be shared: compare " +
	"the points of one invocation with each other, not with other machines"

// fig3Results is results.json.
type fig3Results struct {
	Data    string       `json:"data"`
	Jobs    int          `json:"jobs"`
	Note    string       `json:"note"`
	Seconds float64      `json:"seconds"`
	Points  []*fig3Point `json:"points"`
}

// fig3Point is one run: a K of SNIS or a T of HIS.
type fig3Point struct {
	Prior string `json:"prior"`
	K     int    `json:"K,omitempty"`
	T     int    `json:"T,omitempty"`
	// TestBound and TestBoundStdErr are the run's test IWAE-S bound, mean
	// and standard error over the test images.
	TestBound       jsonFloat `json:"test_iwae"`
	TestBoundStdErr jsonFloat `json:"test_iwae_stderr"`
	// DiffFirst and DiffFirstStdErr are the mean over the test images of
	// the bound minus that of the prior's smallest K or T on the same
	// image (the same binarization and evaluation streams), and its
	// standard error: the paired comparison.
	DiffFirst       jsonFloat `json:"diff_to_first"`
	DiffFirstStdErr jsonFloat `json:"diff_to_first_stderr"`
	// DiffPrev and DiffPrevStdErr are the same paired difference to the
	// next smaller K or T (0 for the first).
	DiffPrev       jsonFloat `json:"diff_to_previous"`
	DiffPrevStdErr jsonFloat `json:"diff_to_previous_stderr"`
	// SecondsPerStep is the median wall time of a training step,
	// MeanSecondsPerStep the training time over the steps (fig3TimeNote).
	SecondsPerStep     float64 `json:"seconds_per_step"`
	MeanSecondsPerStep float64 `json:"mean_seconds_per_step"`
	// Paper and PaperPM are Table 1's dynamic-MNIST number at the paper's
	// K = 1024 or T = 5 (nil elsewhere: Fig. 3's values are not in the
	// paper's text).
	Paper   *float64   `json:"paper,omitempty"`
	PaperPM *float64   `json:"paper_pm,omitempty"`
	Dir     string     `json:"dir"`
	Run     *vaeResult `json:"run"`
}

// label is "K = 16" or "T = 5".
func (p *fig3Point) label() string {
	if p.Prior == string(vae.SNIS) {
		return fmt.Sprintf("K = %d", p.K)
	}
	return fmt.Sprintf("T = %d", p.T)
}

// count is the point's K or T.
func (p *fig3Point) count() int { return p.K + p.T }

// point assembles the run's entry of results.json: its result, the
// paired difference to its prior's first run (from the eval.json files)
// and the time per step (from its metrics.jsonl).
func (f *fig3Config) point(r *vaeRun, res *vaeResult, runs []*vaeRun) (*fig3Point, error) {
	p := &fig3Point{Prior: string(r.prior), TestBound: res.TestBound, TestBoundStdErr: res.TestBoundStdErr, Dir: r.dir, Run: res}
	paperAt := 5
	if r.prior == vae.SNIS {
		p.K, paperAt = r.k(), 1024
	} else {
		p.T = r.hisSteps()
	}
	if pp, ok := vaePaper[fig3Data][r.prior]; ok && p.count() == paperAt {
		p.Paper, p.PaperPM = &pp[0], &pp[1]
	}
	var first, prev *vaeRun
	for _, q := range runs {
		if q == r {
			break
		}
		if q.prior == r.prior {
			first = cmp.Or(first, q)
			prev = q
		}
	}
	mine := r.evalValues()
	if len(mine) != res.TestImages {
		return nil, fmt.Errorf("%s: eval.json holds %d per-image bounds, want %d", r.name(), len(mine), res.TestImages)
	}
	paired := func(q *vaeRun) (jsonFloat, jsonFloat, error) {
		if q == nil {
			return 0, 0, nil
		}
		base := q.evalValues()
		if len(base) != len(mine) {
			return 0, 0, fmt.Errorf("%s: eval.json holds %d per-image bounds, want %d", q.name(), len(base), len(mine))
		}
		d := make([]float64, len(mine))
		for i := range d {
			d[i] = mine[i] - base[i]
		}
		m, se := meanStdErr(d)
		return jsonFloat(m), jsonFloat(se), nil
	}
	var err error
	if p.DiffFirst, p.DiffFirstStdErr, err = paired(first); err != nil {
		return nil, err
	}
	if p.DiffPrev, p.DiffPrevStdErr, err = paired(prev); err != nil {
		return nil, err
	}
	pts, err := experiment.ReadMetrics(filepath.Join(r.dir, experiment.MetricsName))
	if err != nil {
		return nil, err
	}
	if len(pts) < res.Steps {
		return nil, fmt.Errorf("%s: the metrics log has %d steps, the result %d", r.name(), len(pts), res.Steps)
	}
	p.SecondsPerStep = medianStepSeconds(pts[:res.Steps])
	p.MeanSecondsPerStep = res.TrainSeconds / float64(max(1, res.Steps))
	return p, nil
}

// evalValues returns the per-image test bounds of the run's eval.json
// (none if it is not current).
func (r *vaeRun) evalValues() []float64 {
	var vs []float64
	for _, b := range r.readEvalState().Blocks {
		vs = append(vs, b...)
	}
	return vs
}

// medianStepSeconds returns the median of the wall times between
// consecutive points (the first point's time counts from 0): robust to
// the steps that also computed a validation bound or saved a checkpoint.
func medianStepSeconds(pts []experiment.Point) float64 {
	if len(pts) == 0 {
		return math.NaN()
	}
	d := make([]float64, len(pts))
	prev := 0.0
	for i, p := range pts {
		d[i], prev = p.Seconds-prev, p.Seconds
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// fig3Markdown is results.md: a table per prior, K or T in rows.
func fig3Markdown(all *fig3Results) string {
	var b strings.Builder
	b.WriteString("# eimkit fig3: Fig. 3, the test bound against SNIS's K and HIS's T\n\n")
	if len(all.Points) > 0 {
		r := all.Points[0].Run
		fmt.Fprintf(&b, "VAE on dynamically binarized MNIST (App. D.2's model), %d steps per run, batch %d, seed %d; "+
			"test IWAE-%d on %d test images, mean ± standard error over the images. "+
			"Δ: the paired difference to the smallest K or T on the same images (same binarization and evaluation streams), ± its standard error. "+
			"Time per step: %s; here %d runs at once.\n\n",
			r.Steps, r.Batch, r.Seed, r.EvalSamples, r.TestImages, fig3TimeNote, all.Jobs)
	}
	for _, prior := range []vae.PriorKind{vae.SNIS, vae.HIS} {
		var ps []*fig3Point
		for _, p := range all.Points {
			if p.Prior == string(prior) {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			continue
		}
		n := "K"
		if prior == vae.HIS {
			n = "T"
		}
		fmt.Fprintf(&b, "## VAE w/ %s prior\n\n", vaePriorLabel(prior))
		fmt.Fprintf(&b, "| %s | test IWAE-%d (ours) | Δ to %s = %d | Δ to the previous %s | s / step (median) | s / step (mean) | paper |\n",
			n, ps[0].Run.EvalSamples, n, ps[0].count(), n)
		b.WriteString("|---:|---:|---:|---:|---:|---:|---|\n")
		for i, p := range ps {
			paper := "—"
			if p.Paper != nil {
				paper = fmt.Sprintf("%.2f ± %.2f (Table 1, %s)", *p.Paper, *p.PaperPM, p.label())
			}
			prev := "—"
			if i > 0 {
				prev = fmt.Sprintf("%+.2f ± %.2f", float64(p.DiffPrev), float64(p.DiffPrevStdErr))
			}
			fmt.Fprintf(&b, "| %d | %.2f ± %.2f | %+.2f ± %.2f | %s | %.4f | %.4f | %s |\n", p.count(), float64(p.TestBound), float64(p.TestBoundStdErr),
				float64(p.DiffFirst), float64(p.DiffFirstStdErr), prev, p.SecondsPerStep, p.MeanSecondsPerStep, paper)
		}
		fmt.Fprintf(&b, "\nOurs: %s.\n\n", fig3Trend(ps, n))
	}
	b.WriteString("The paper's Fig. 3 (its values are not given in the text; only its caption and Table 1's points at K = 1024 and T = 5): " +
		"\"increasing K or T improves performance at the cost of additional computation\" — the bound rises with K and with T, " +
		"and so does the time per step.\n")
	fmt.Fprintf(&b, "\n%.0f s in all (this invocation).\n", all.Seconds)
	return b.String()
}

// fig3Trend says in words whether the bound and the time rise with the
// count, judged by the paired differences between neighbours (a rise or
// fall within two of its standard errors is "flat").
func fig3Trend(ps []*fig3Point, n string) string {
	if len(ps) < 2 {
		return "one point only"
	}
	var ups, downs, flats int
	for _, p := range ps[1:] {
		d, tol := float64(p.DiffPrev), 2*float64(p.DiffPrevStdErr)
		switch {
		case d > tol:
			ups++
		case d < -tol:
			downs++
		default:
			flats++
		}
	}
	first, last := ps[0], ps[len(ps)-1]
	return fmt.Sprintf("from %s = %d to %d the bound changes by %+.2f ± %.2f nats (neighbouring values, %d pairs: %d up, %d down, %d within two standard errors) "+
		"and the time per step by a factor %.2f", n, first.count(), last.count(), float64(last.DiffFirst), float64(last.DiffFirstStdErr),
		len(ps)-1, ups, downs, flats, last.SecondsPerStep/first.SecondsPerStep)
}

// fig3XYErr is points with symmetric y error bars.
type fig3XYErr struct {
	plotter.XYs
	plotter.YErrors
}

// writeFig3PNG draws the figure: the test bound (± s.e.) against K and
// against T above, the median time per step below, on logarithmic x
// axes with ticks at the values run.
func writeFig3PNG(path string, all *fig3Results, c *vaeConfig) error {
	type panel struct {
		prior vae.PriorKind
		axis  string
		pts   []*fig3Point
	}
	var panels []panel
	for _, pr := range []vae.PriorKind{vae.SNIS, vae.HIS} {
		pn := panel{prior: pr, axis: "K (SNIS candidates)"}
		if pr == vae.HIS {
			pn.axis = "T (HIS leapfrog steps)"
		}
		for _, p := range all.Points {
			if p.Prior == string(pr) {
				pn.pts = append(pn.pts, p)
			}
		}
		if len(pn.pts) > 0 {
			panels = append(panels, pn)
		}
	}
	if len(panels) == 0 {
		return errors.New("no points")
	}
	var top, bottom []*plot.Plot
	for i, pn := range panels {
		var ticks plot.ConstantTicks
		lo, hi := math.Inf(1), math.Inf(-1)
		bound := fig3XYErr{}
		var tps plotter.XYs
		for _, p := range pn.pts {
			x := float64(p.count())
			lo, hi = min(lo, x), max(hi, x)
			ticks = append(ticks, plot.Tick{Value: x, Label: strconv.Itoa(p.count())})
			bound.XYs = append(bound.XYs, plotter.XY{X: x, Y: float64(p.TestBound)})
			se := float64(p.TestBoundStdErr)
			bound.YErrors = append(bound.YErrors, struct{ Low, High float64 }{se, se})
			tps = append(tps, plotter.XY{X: x, Y: 1000 * p.SecondsPerStep})
		}
		xAxis := func(p *plot.Plot) {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = ticks
			p.X.Min, p.X.Max = lo/1.4, hi*1.4
			p.X.Label.Text = pn.axis
			p.Add(plotter.NewGrid())
		}
		col := plotutil.Color(i)
		pb := plot.New()
		pb.Title.Text = fmt.Sprintf("VAE w/ %s prior", vaePriorLabel(pn.prior))
		xAxis(pb)
		pb.Y.Label.Text = fmt.Sprintf("test IWAE-%d (nats)", c.evalSamples)
		l, s, err := plotter.NewLinePoints(bound)
		if err != nil {
			return err
		}
		l.Color, s.Color = col, col
		l.Width = vg.Points(1.5)
		eb, err := plotter.NewYErrorBars(bound)
		if err != nil {
			return err
		}
		eb.Color = col
		pb.Add(l, s, eb)
		padRange(&pb.Y, bound.XYs, bound.YErrors)
		pb.Y.Tick.Marker = niceTicks{}
		top = append(top, pb)

		pt := plot.New()
		xAxis(pt)
		pt.Y.Label.Text = "ms per training step"
		tl, ts, err := plotter.NewLinePoints(tps)
		if err != nil {
			return err
		}
		tl.Color, ts.Color = col, col
		tl.Width = vg.Points(1.5)
		pt.Add(tl, ts)
		pt.Y.Min = 0
		pt.Y.Max = 1.1 * maxY(tps)
		pt.Y.Tick.Marker = niceTicks{}
		bottom = append(bottom, pt)
	}
	const pw, ph, titleH = 4 * vg.Inch, 3 * vg.Inch, 0.4 * vg.Inch
	w, h := vg.Length(len(panels))*pw, 2*ph+titleH
	img := vgimg.New(w, h)
	dc := draw.New(img)
	first := all.Points[0].Run
	dc.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(10)),
		XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler},
		vg.Point{X: w / 2, Y: h - titleH/2},
		fmt.Sprintf("Fig. 3: dynamic MNIST, %d steps per run, test IWAE-%d on %d images (± s.e.); wall time per step, %d runs at once",
			first.Steps, first.EvalSamples, first.TestImages, all.Jobs))
	body := draw.Crop(dc, 0, 0, 0, -titleH)
	tiles := draw.Tiles{Rows: 2, Cols: len(panels), PadX: vg.Inch / 5, PadY: vg.Inch / 8, PadTop: vg.Inch / 10,
		PadBottom: vg.Inch / 10, PadLeft: vg.Inch / 10, PadRight: vg.Inch / 5}
	canvases := plot.Align([][]*plot.Plot{top, bottom}, tiles, body)
	for j := range panels {
		top[j].Draw(canvases[0][j])
		bottom[j].Draw(canvases[1][j])
	}
	return writePNG(path, img)
}

// padRange sets the axis to cover the points and their error bars with a
// margin (at least 0.1 nats either side).
func padRange(a *plot.Axis, xys plotter.XYs, errs plotter.YErrors) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, p := range xys {
		if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
			continue
		}
		lo, hi = min(lo, p.Y-errs[i].Low), max(hi, p.Y+errs[i].High)
	}
	if lo > hi {
		return
	}
	pad := max(0.1, 0.1*(hi-lo))
	a.Min, a.Max = lo-pad, hi+pad
}

// maxY returns the largest finite y (1 if none is positive).
func maxY(xys plotter.XYs) float64 {
	m := 0.0
	for _, p := range xys {
		if !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
			m = max(m, p.Y)
		}
	}
	if m <= 0 {
		return 1
	}
	return m
}
