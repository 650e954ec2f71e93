package main

// The vsmc command: variational SMC on the linear-Gaussian state-space
// model of Naesseth et al. (2018), Sec. 5.3 of the paper. It trains one
// proposal per bound (ELBO, IWAE, FIVO; the FIVO paper trains each bound's
// model and proposal on that bound), evaluates every bound on every
// trained proposal, and writes the numbers next to the exact Kalman
// log-likelihood.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/statespace"
	"github.com/eimkit/eimkit/vsmc"
)

const vsmcUsage = `Usage: eimkit vsmc [flags]

Variational SMC on the linear-Gaussian state-space model of Naesseth et al.,
"Variational Sequential Monte Carlo" (2018): T = 10, latent dimension 5,
observation dimension 3, A_ij = 0.42^(|i−j|+1), Q = I, R = 0.1·I, C = [I₃ 0]
(-obs dense draws C_ij ~ N(0, 1) instead), one observed sequence drawn from
the model. It trains one proposal

	q(x_t | x_{t−1}, y_t) = N(B x_{t−1} + C y_t + b, diag(exp(2s)))

per bound — ELBO (N = 1), IWAE (never resample) and FIVO (resample when
ESS < N/2), each maximizing its own bound with Adam — then evaluates all
three bounds on every trained proposal (mean log Ẑ over -eval-runs runs,
with its standard error), next to the exact log-likelihood from the Kalman
filter. It writes, under -out:

	results.json   the numbers, settings and timings
	results.md     the same as tables
	bounds.png     each bound during training (its training objective,
	               smoothed) with the Kalman log-likelihood as a line

By default resampling passes no gradient (as FIVO and VSMC were published;
biased); -resampling-gradient adds the score-function term of the ancestors
with a moving-average baseline (unbiased for a fixed resampling schedule;
see package vsmc).

Flags:
`

// vsmcBounds are the three bounds, each trained and evaluated.
var vsmcBounds = []string{"ELBO", "IWAE", "FIVO"}

// vsmcConfig holds the parsed flags of the vsmc command.
type vsmcConfig struct {
	steps, batch, n, evalRuns, jobs int
	seed                            uint64
	lr                              float64
	out, obs                        string
	learnA, resamplingGradient      bool
	quiet                           bool
}

// objective returns the named bound with c.n particles.
func (c *vsmcConfig) objective(name string) vsmc.Objective {
	switch name {
	case "ELBO":
		return vsmc.ELBO()
	case "IWAE":
		return vsmc.IWAE(c.n)
	default:
		return vsmc.FIVO(c.n)
	}
}

// parseVSMCFlags parses args. It returns flag.ErrHelp for -h and an error
// wrapping errUsage for bad flags (both already printed to stderr).
func parseVSMCFlags(args []string, stderr io.Writer) (*vsmcConfig, error) {
	fs := flag.NewFlagSet("vsmc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), vsmcUsage)
		fs.PrintDefaults()
	}
	var c vsmcConfig
	fs.IntVar(&c.steps, "steps", 4000, "training steps of each proposal")
	fs.IntVar(&c.batch, "batch", 4, "independent SMC runs averaged in each training step")
	fs.IntVar(&c.n, "N", vsmc.DefaultN, "particles of IWAE and FIVO (the VSMC paper's example uses 4)")
	fs.Float64Var(&c.lr, "lr", 0.01, "Adam's initial learning rate; it decays exponentially to a tenth of it over the run")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the data, each training run and each evaluation get their own stream split from it")
	fs.IntVar(&c.evalRuns, "eval-runs", 5000, "SMC runs per bound and proposal in the evaluation")
	fs.StringVar(&c.obs, "obs", "sparse", "observation matrix: sparse (C = [I 0], the paper's) or dense (C_ij ~ N(0, 1))")
	fs.BoolVar(&c.learnA, "learn-A", false, "also learn the model's transition matrix A (each bound its own copy, started at the true A)")
	fs.BoolVar(&c.resamplingGradient, "resampling-gradient", false, "add the score-function term of resampling (unbiased gradient) when training FIVO")
	fs.StringVar(&c.out, "out", "results-vsmc", "output `directory`")
	fs.IntVar(&c.jobs, "jobs", runtime.GOMAXPROCS(0), "proposals trained (and evaluations run) at the same time")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors (no progress bar)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) (*vsmcConfig, error) {
		return nil, badFlags(stderr, fs, "vsmc", format, args...)
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected arguments %q", fs.Args())
	case c.steps < 1 || c.batch < 1:
		return bad("-steps %d, -batch %d: want both ≥ 1", c.steps, c.batch)
	case c.n < 1:
		return bad("-N %d: want ≥ 1", c.n)
	case !(c.lr > 0) || math.IsInf(c.lr, 0):
		return bad("-lr %v: want a positive number", c.lr)
	case c.evalRuns < 2:
		return bad("-eval-runs %d: want ≥ 2 (for a standard error)", c.evalRuns)
	case c.obs != "sparse" && c.obs != "dense":
		return bad("-obs %q: want sparse or dense", c.obs)
	case c.jobs < 1:
		return bad("-jobs %d: want ≥ 1", c.jobs)
	case c.out == "":
		return bad("-out must name a directory")
	}
	return &c, nil
}

// runVSMC is the vsmc command.
func runVSMC(ctx context.Context, args []string) error {
	cfg, err := parseVSMCFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// vsmcResults is results.json.
type vsmcResults struct {
	Model  string  `json:"model"`
	Obs    string  `json:"obs"`
	T      int     `json:"T"`
	Dx     int     `json:"dx"`
	Dy     int     `json:"dy"`
	N      int     `json:"N"`
	Steps  int     `json:"steps"`
	Batch  int     `json:"batch"`
	LR     float64 `json:"lr"`
	Seed   uint64  `json:"seed"`
	LearnA bool    `json:"learn_A"`
	// ResamplingGradient reports whether FIVO was trained with the
	// score-function term of resampling.
	ResamplingGradient bool    `json:"resampling_gradient"`
	EvalRuns           int     `json:"eval_runs"`
	KalmanLogLik       float64 `json:"kalman_log_likelihood"`
	// Runs has one entry per trained proposal, in the order ELBO, IWAE,
	// FIVO.
	Runs []vsmcRun `json:"runs"`
	// FIVOMinusIWAE is FIVO's bound on the FIVO-trained proposal minus
	// IWAE's on the IWAE-trained one, with its standard error.
	FIVOMinusIWAE       jsonFloat `json:"fivo_minus_iwae"`
	FIVOMinusIWAEStdErr jsonFloat `json:"fivo_minus_iwae_stderr"`
	Seconds             float64   `json:"seconds"`
}

// vsmcRun is one trained proposal and its evaluation.
type vsmcRun struct {
	TrainedOn string `json:"trained_on"`
	Objective string `json:"objective"`
	// FinalTrainObjective is the mean training objective over the last
	// tenth of the steps.
	FinalTrainObjective jsonFloat `json:"final_train_objective"`
	// KalmanLogLik is the exact log-likelihood of the learned model (with
	// -learn-A; otherwise the true model's, the same for every run).
	KalmanLogLik float64     `json:"kalman_log_likelihood"`
	Bounds       []vsmcBound `json:"bounds"`
	TrainSeconds float64     `json:"train_seconds"`
	// objectives is the training objective of every step (for the plot).
	objectives []float64
}

// vsmcBound is one bound evaluated on one proposal.
type vsmcBound struct {
	Bound  string    `json:"bound"`
	Mean   jsonFloat `json:"mean"`
	StdErr jsonFloat `json:"stderr"`
	// Gap is the run's Kalman log-likelihood minus Mean.
	Gap jsonFloat `json:"gap"`
	// ResampledFraction is the fraction of the steps t ≥ 1 at which the
	// evaluation runs resampled.
	ResampledFraction float64 `json:"resampled_fraction"`
}

// vsmcSetup is the model and the data of an invocation.
type vsmcSetup struct {
	ss   *statespace.LinearGaussian
	ys   *ad.Tensor
	yMat *mat.Dense
	logZ float64
}

// setup builds the model (C dense or sparse) and draws the data, each
// from its own stream.
func (c *vsmcConfig) setup() vsmcSetup {
	ss := statespace.VSMCExample()
	if c.obs == "dense" {
		p := ss.Params()
		rng := rand.New(stream(c.seed, "vsmc", "C"))
		dy, dx := p.C.Dims()
		for i := range dy {
			for j := range dx {
				p.C.Set(i, j, rng.NormFloat64())
			}
		}
		var err error
		if ss, err = statespace.New(p); err != nil {
			panic(err) // unreachable: the covariances are those of VSMCExample
		}
	}
	_, y := ss.Sample(rand.New(stream(c.seed, "vsmc", "data")), statespace.VSMCExampleT)
	T, dy := y.Dims()
	return vsmcSetup{ss: ss, ys: ad.New(slices.Clone(y.RawMatrix().Data), T, dy), yMat: y, logZ: ss.KalmanLogLikelihood(y)}
}

// trainedProposal is the outcome of training on one bound.
type trainedProposal struct {
	model *vsmc.LinearGaussian
	q     *vsmc.GaussianProposal
	run   vsmcRun
}

// train trains a proposal (and A with -learn-A) on the named bound.
func (c *vsmcConfig) train(ctx context.Context, s vsmcSetup, name string, prog *progress) (*trainedProposal, error) {
	start := time.Now()
	o := c.objective(name)
	dx, dy := s.ss.Dims()
	model := vsmc.NewLinearGaussian(s.ss, c.learnA)
	q := vsmc.NewGaussianProposal(dx, dy)
	params := append(q.Params(), model.Params()...)
	steps := c.steps
	opt := &nn.Adam{LR: c.lr, Schedule: func(step int) float64 {
		return math.Pow(0.1, float64(step-1)/float64(steps))
	}}
	opts := vsmc.Options{}
	if c.resamplingGradient && name == "FIVO" {
		opts = vsmc.Options{ResamplingGradient: true, Baseline: &vsmc.Baseline{}}
	}
	rng := rand.New(stream(c.seed, "vsmc", "train", name))
	run := vsmcRun{TrainedOn: name, Objective: o.String(), objectives: make([]float64, 0, steps)}
	prog.start(name, 0, steps)
	avg := math.NaN()
	for step := 1; step <= steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var sum *ad.Tensor
		for range c.batch {
			b := o.Bound(rng, model, q, s.ys, opts)
			if sum == nil {
				sum = b
			} else {
				sum = ad.Add(sum, b)
			}
		}
		obj := ad.MulScalar(sum, 1/float64(c.batch))
		opt.Step(params, ad.Grad(ad.Neg(obj), params...))
		v := obj.Item()
		run.objectives = append(run.objectives, v)
		if math.IsNaN(avg) {
			avg = v
		} else {
			avg = 0.99*avg + 0.01*v
		}
		prog.advance(name, step, steps, avg)
	}
	run.FinalTrainObjective = jsonFloat(tailMean(run.objectives, max(1, steps/10)))
	run.TrainSeconds = time.Since(start).Seconds()
	run.KalmanLogLik = s.logZ
	if c.learnA {
		run.KalmanLogLik = model.Statespace().KalmanLogLikelihood(s.yMat)
	}
	return &trainedProposal{model: model, q: q, run: run}, nil
}

// evaluate returns the mean and standard error of the named bound over
// c.evalRuns runs on a trained proposal, and the fraction of steps that
// resampled.
func (c *vsmcConfig) evaluate(ctx context.Context, s vsmcSetup, tp *trainedProposal, bound string) (vsmcBound, error) {
	o := c.objective(bound)
	rng := rand.New(stream(c.seed, "vsmc", "eval", tp.run.TrainedOn, bound))
	v := make([]float64, c.evalRuns)
	resampled, steps := 0, 0
	for i := range v {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return vsmcBound{}, err
			}
		}
		r := o.Run(rng, tp.model, tp.q, s.ys)
		v[i] = r.LogZ.Item()
		for _, b := range r.Resampled[1:] {
			steps++
			if b {
				resampled++
			}
		}
	}
	mean, se := meanStdErr(v)
	frac := 0.0
	if steps > 0 {
		frac = float64(resampled) / float64(steps)
	}
	return vsmcBound{Bound: bound, Mean: jsonFloat(mean), StdErr: jsonFloat(se),
		Gap: jsonFloat(tp.run.KalmanLogLik - mean), ResampledFraction: frac}, nil
}

// run trains, evaluates and writes the outputs. Nothing is written if the
// command is interrupted (the whole job takes well under a minute).
func (c *vsmcConfig) run(ctx context.Context, stderr io.Writer) error {
	start := time.Now()
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	s := c.setup()
	prog := newProgress(stderr, len(vsmcBounds)*c.steps, c.quiet)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// parallel runs f(i) for i < n on c.jobs goroutines; the first error
	// cancels the rest.
	parallel := func(n int, f func(i int) error) {
		defer concurrentRuns(min(c.jobs, n))()
		work := make(chan int)
		var wg sync.WaitGroup
		for range min(c.jobs, n) {
			wg.Go(func() {
				for i := range work {
					if ctx.Err() != nil {
						continue
					}
					if err := f(i); err != nil {
						cancel(err)
					}
				}
			})
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	trained := make([]*trainedProposal, len(vsmcBounds))
	parallel(len(vsmcBounds), func(i int) error {
		tp, err := c.train(ctx, s, vsmcBounds[i], prog)
		if err != nil {
			return err
		}
		prog.done(vsmcBounds[i])
		trained[i] = tp
		return nil
	})
	prog.finish()
	nb := len(vsmcBounds)
	evals := make([]vsmcBound, nb*nb)
	if context.Cause(ctx) == nil {
		parallel(nb*nb, func(k int) error {
			b, err := c.evaluate(ctx, s, trained[k/nb], vsmcBounds[k%nb])
			evals[k] = b
			return err
		})
	}
	if err := context.Cause(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("vsmc stopped before writing results: %w", errInterrupted)
		}
		return err
	}

	dx, dy := s.ss.Dims()
	res := &vsmcResults{
		Model: "linear-Gaussian, Naesseth et al. (2018): A_ij = 0.42^(|i−j|+1), Q = I, R = 0.1·I, μ₀ = 0, Σ₀ = I",
		Obs:   c.obs, T: s.ys.Dim(0), Dx: dx, Dy: dy, N: c.n, Steps: c.steps, Batch: c.batch, LR: c.lr,
		Seed: c.seed, LearnA: c.learnA, ResamplingGradient: c.resamplingGradient, EvalRuns: c.evalRuns,
		KalmanLogLik: s.logZ,
	}
	for i, tp := range trained {
		tp.run.Bounds = evals[i*nb : (i+1)*nb]
		res.Runs = append(res.Runs, tp.run)
	}
	own := func(name string) vsmcBound {
		i := slices.Index(vsmcBounds, name)
		return res.Runs[i].Bounds[i]
	}
	fivo, iwae := own("FIVO"), own("IWAE")
	res.FIVOMinusIWAE = fivo.Mean - iwae.Mean
	res.FIVOMinusIWAEStdErr = jsonFloat(math.Hypot(float64(fivo.StdErr), float64(iwae.StdErr)))
	res.Seconds = time.Since(start).Seconds()

	if err := writeJSON(filepath.Join(c.out, "results.json"), res); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(c.out, "results.md"), func(f *os.File) error {
		_, err := f.WriteString(vsmcMarkdown(res))
		return err
	}); err != nil {
		return err
	}
	if err := writeBoundsPNG(filepath.Join(c.out, "bounds.png"), res); err != nil {
		return fmt.Errorf("bounds.png: %w", err)
	}
	prog.logf("Kalman log p(y) = %.4f; FIVO %.4f ± %.4f, IWAE %.4f ± %.4f, ELBO %.4f ± %.4f (each on its own proposal, N = %d); wrote %s (%.1f s)",
		s.logZ, float64(fivo.Mean), float64(fivo.StdErr), float64(iwae.Mean), float64(iwae.StdErr),
		float64(own("ELBO").Mean), float64(own("ELBO").StdErr), c.n, filepath.Join(c.out, "results.json"), res.Seconds)
	return nil
}

// vsmcMarkdown formats the results as two tables: each bound on its own
// proposal, and every bound on every proposal.
func vsmcMarkdown(r *vsmcResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Variational SMC on the linear-Gaussian model (T = %d, dx = %d, dy = %d, C %s), N = %d particles for IWAE and FIVO.\n\n",
		r.T, r.Dx, r.Dy, r.Obs, r.N)
	fmt.Fprintf(&b, "Exact log p(y) (Kalman filter): **%.4f**\n\n", r.KalmanLogLik)
	b.WriteString("| bound | trained on | E[log Ẑ] | ± s.e. | gap to Kalman | resampled | final train objective | train s |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for i, run := range r.Runs {
		e := run.Bounds[i]
		fmt.Fprintf(&b, "| %s | %s | %.4f | %.4f | %.4f | %.0f%% | %.4f | %.1f |\n", run.Objective, run.TrainedOn,
			float64(e.Mean), float64(e.StdErr), float64(e.Gap), 100*e.ResampledFraction, float64(run.FinalTrainObjective), run.TrainSeconds)
	}
	fmt.Fprintf(&b, "\nFIVO − IWAE (each on its own proposal): %.4f ± %.4f nats.\n\n", float64(r.FIVOMinusIWAE), float64(r.FIVOMinusIWAEStdErr))
	b.WriteString("Every bound on every trained proposal (E[log Ẑ] ± s.e.; gap to Kalman in parentheses):\n\n| trained on |")
	for _, name := range vsmcBounds {
		fmt.Fprintf(&b, " %s |", name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(vsmcBounds)) + "\n")
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "| %s |", run.TrainedOn)
		for _, e := range run.Bounds {
			fmt.Fprintf(&b, " %.4f ± %.4f (%.4f) |", float64(e.Mean), float64(e.StdErr), float64(e.Gap))
		}
		b.WriteString("\n")
	}
	grad := "the published gradient (resampling passes none)"
	if r.ResamplingGradient {
		grad = "FIVO with the score-function term of resampling (moving-average baseline), the others reparameterized"
	}
	fmt.Fprintf(&b, "\nSeed %d; %d steps of Adam (lr %g decaying to %g), %d SMC runs per step, %s", r.Seed, r.Steps, r.LR, r.LR/10, r.Batch, grad)
	if r.LearnA {
		b.WriteString("; A learned with the proposal (gaps are to each run's own Kalman log-likelihood")
		for _, run := range r.Runs {
			fmt.Fprintf(&b, ", %s %.4f", run.TrainedOn, run.KalmanLogLik)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ". E[log Ẑ]: mean over %d evaluation runs; resampled: fraction of steps t ≥ 1 at which they resampled. %.1f s in all.\n", r.EvalRuns, r.Seconds)
	return b.String()
}

// writeBoundsPNG plots each run's training objective against the step
// (smoothed over windows) with the Kalman log-likelihood as a dashed line.
// The y range starts 3 nats below the Kalman value (or at the lowest
// smoothed point if that is higher), so the first steps do not flatten the
// picture.
func writeBoundsPNG(path string, r *vsmcResults) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Variational SMC, linear-Gaussian (C %s), N = %d", r.Obs, r.N)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "training objective E[log Ẑ] (nats)"
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	truth := r.KalmanLogLik
	lowest, highest := truth, truth
	for i, run := range r.Runs {
		pts := smoothed(run.objectives, max(1, len(run.objectives)/200))
		for _, pt := range pts {
			if !math.IsNaN(pt.Y) && !math.IsInf(pt.Y, 0) {
				lowest, highest = min(lowest, pt.Y), max(highest, pt.Y)
			}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(run.Objective, l)
	}
	ref, err := plotter.NewLine(plotter.XYs{{X: 0, Y: truth}, {X: float64(r.Steps), Y: truth}})
	if err != nil {
		return err
	}
	ref.Color = color.Black
	ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(ref)
	p.Legend.Add(fmt.Sprintf("Kalman log p(y) = %.3f", truth), ref)
	p.X.Min, p.X.Max = 0, float64(r.Steps)
	p.Y.Min = max(lowest, truth-3) - 0.05
	p.Y.Max = highest + 0.1
	img := vgimg.New(6*vg.Inch, 4*vg.Inch)
	p.Draw(draw.New(img))
	return writePNG(path, img)
}
