package main

// The sivi command: SIVI (Yin & Zhou 2018) and IWHVI (Sobolev & Vetrov
// 2019) fitted to the 2-D toy targets of Yin & Zhou's Fig. 2 (Sec. 5.2 of
// the paper), through package sivi.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/sivi"
)

const siviUsage = `Usage: eimkit sivi [flags]

Fits a semi-implicit family to the 2-D toy targets of Yin & Zhou, "Semi-
Implicit Variational Inference" (ICML 2018, Fig. 2), all normalized (log Z = 0,
checked by quadrature): banana (z₁ ~ N(0, 2²), z₂ | z₁ ~ N(z₁²/4, 1)),
x-shape (½N(0, [[2, 1.8], [1.8, 2]]) + ½N(0, [[2, −1.8], [−1.8, 2]])) and
mixture (½N((−2, 0), I) + ½N((2, 0), I)). The family, as in their code:

	ε ~ N(0, I₁₀),   z | ε ~ N(MLP(ε), 0.1²·I),   MLP 10-40-60-40-2 (tanh here)

trained with Adam on SIVI's bound (Eq. 7, -K auxiliary draws shared by the
batch, as their code does) or on IWHVI's (-iwhvi-K draws from a learned
τ(ε | z) = N(μ(z), diag s(z)²), a 2-40-40-20 MLP). Every fitted family is then
evaluated with SIVI's bound at -eval-K auxiliary draws (the marginal ELBO to
within a few hundredths of a nat at 1000), and IWHVI's also with its own bound.
It writes, under -out:

	results.json            the numbers (bounds ± standard errors, log Z by quadrature)
	results.md              the same as a table
	<method>-<target>.png   the target density beside a histogram of samples of q

Flags:
`

var (
	siviTargets = []string{"banana", "x-shape", "mixture"}
	siviMethods = []string{"sivi", "iwhvi"}
)

type siviConfig struct {
	targets, methods         []string
	steps, k, iwK, batch     int
	evalK, evalBatches, jobs int
	plotSamples              int
	seed                     uint64
	lr                       float64
	out                      string
	quiet                    bool
}

func parseSIVIFlags(args []string, stderr io.Writer) (*siviConfig, error) {
	fs := flag.NewFlagSet("sivi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), siviUsage)
		fs.PrintDefaults()
	}
	var c siviConfig
	var targets, methods string
	fs.StringVar(&targets, "target", "all", "banana, x-shape, mixture, a comma-separated list, or all")
	fs.StringVar(&methods, "method", "all", "sivi, iwhvi, a comma-separated list, or all")
	fs.IntVar(&c.steps, "steps", 5000, "training steps of each run")
	fs.IntVar(&c.k, "K", 100, "SIVI's auxiliary draws per step (Yin & Zhou's J)")
	fs.IntVar(&c.iwK, "iwhvi-K", 10, "IWHVI's draws from τ per point and step")
	fs.IntVar(&c.batch, "batch", 40, "samples z per training step")
	fs.Float64Var(&c.lr, "lr", 1e-3, "Adam's initial learning rate; it decays exponentially to a tenth over the run")
	fs.IntVar(&c.evalK, "eval-K", 1000, "auxiliary draws of the evaluation's SIVI bound")
	fs.IntVar(&c.evalBatches, "eval-batches", 40, "independent evaluation batches of -batch points (the standard error is over batches)")
	fs.IntVar(&c.plotSamples, "plot-samples", 100000, "samples of q in each picture")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.StringVar(&c.out, "out", "results-sivi", "output `directory`")
	fs.IntVar(&c.jobs, "jobs", runtime.GOMAXPROCS(0), "runs at the same time")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) (*siviConfig, error) {
		return nil, badFlags(stderr, fs, "sivi", format, args...)
	}
	var err error
	if c.targets, err = parseList(targets, siviTargets); err != nil {
		return bad("-target: %v", err)
	}
	if c.methods, err = parseList(methods, siviMethods); err != nil {
		return bad("-method: %v", err)
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected arguments %q", fs.Args())
	case c.steps < 1 || c.batch < 1 || c.k < 0 || c.iwK < 0:
		return bad("-steps %d, -batch %d, -K %d, -iwhvi-K %d: want steps, batch ≥ 1 and K ≥ 0", c.steps, c.batch, c.k, c.iwK)
	case c.evalK < 0 || c.evalBatches < 2 || c.plotSamples < 1:
		return bad("-eval-K %d, -eval-batches %d, -plot-samples %d: want ≥ 0, ≥ 2, ≥ 1", c.evalK, c.evalBatches, c.plotSamples)
	case !(c.lr > 0) || math.IsInf(c.lr, 0):
		return bad("-lr %v: want a positive number", c.lr)
	case c.jobs < 1:
		return bad("-jobs %d: want ≥ 1", c.jobs)
	case c.out == "":
		return bad("-out must name a directory")
	}
	return &c, nil
}

func runSIVI(ctx context.Context, args []string) error {
	cfg, err := parseSIVIFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// siviResults is results.json.
type siviResults struct {
	Steps       int        `json:"steps"`
	K           int        `json:"K"`
	IWHVIK      int        `json:"iwhvi_K"`
	Batch       int        `json:"batch"`
	LR          float64    `json:"lr"`
	EvalK       int        `json:"eval_K"`
	EvalBatches int        `json:"eval_batches"`
	Seed        uint64     `json:"seed"`
	Runs        []*siviRun `json:"runs"`
	Seconds     float64    `json:"seconds"`
}

// siviRun is one fitted family and its evaluation.
type siviRun struct {
	Method string `json:"method"`
	Target string `json:"target"`
	// LogZ is the target's log normalizing constant by quadrature (0 up
	// to the quadrature's error: the targets are normalized).
	LogZ float64 `json:"log_Z"`
	// FinalTrainObjective is the mean training objective over the last
	// tenth of the steps.
	FinalTrainObjective float64 `json:"final_train_objective"`
	// SIVIBound is SIVI's bound with eval_K auxiliary draws, with its
	// standard error over the evaluation batches.
	SIVIBound       float64 `json:"sivi_bound"`
	SIVIBoundStdErr float64 `json:"sivi_bound_stderr"`
	// IWHVIBound is IWHVI's bound with the learned τ and iwhvi_K draws
	// (IWHVI runs only).
	IWHVIBound       *float64 `json:"iwhvi_bound,omitempty"`
	IWHVIBoundStdErr *float64 `json:"iwhvi_bound_stderr,omitempty"`
	// SIVI0Bound is the bound with K = 0, i.e. E[log p(z) − log q(z | ε)],
	// for scale.
	SIVI0Bound   float64 `json:"sivi_0_bound"`
	TrainSeconds float64 `json:"train_seconds"`
	Seconds      float64 `json:"seconds"`
	objectives   []float64
}

// siviModel is the target as the model p(x, z) of package sivi (x unused).
type siviModel struct{ t *toyTarget }

func (m siviModel) LogJoint(_, z *ad.Tensor) *ad.Tensor { return m.t.logDensity(z) }

func (c *siviConfig) run(ctx context.Context, stderr io.Writer) error {
	start := time.Now()
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	type spec struct{ method, target string }
	var specs []spec
	for _, t := range c.targets {
		for _, m := range c.methods {
			specs = append(specs, spec{m, t})
		}
	}
	prog := newProgress(stderr, len(specs)*c.steps, c.quiet)
	runs := make([]*siviRun, len(specs))
	errs := make([]error, len(specs))
	defer concurrentRuns(min(c.jobs, len(specs)))()
	sem := make(chan struct{}, c.jobs)
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			runs[i], errs[i] = c.fit(ctx, s.method, s.target, prog)
		}()
	}
	wg.Wait()
	prog.finish()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res := &siviResults{Steps: c.steps, K: c.k, IWHVIK: c.iwK, Batch: c.batch, LR: c.lr, EvalK: c.evalK,
		EvalBatches: c.evalBatches, Seed: c.seed, Runs: runs, Seconds: time.Since(start).Seconds()}
	if err := writeJSON(filepath.Join(c.out, "results.json"), res); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(c.out, "results.md"), func(f *os.File) error {
		_, err := io.WriteString(f, siviMarkdown(res))
		return err
	})
}

// fit trains one family on one target, evaluates it and draws its picture.
func (c *siviConfig) fit(ctx context.Context, method, target string, prog *progress) (*siviRun, error) {
	start := time.Now()
	name := method + "/" + target
	t := toyTargetByName(target)
	p := siviModel{t}
	initRNG := rand.New(stream(c.seed, "sivi", name, "init"))
	const noiseDim = 10
	cond := sivi.NewGaussianConditional(initRNG, noiseDim, 2, 0.1, 40, 60, 40)
	q := sivi.Family{Mixing: eimfamily.NewStdNormal(noiseDim, 1), Conditional: cond}
	var tau *sivi.GaussianTau
	ps := cond.Net.Params()
	if method == "iwhvi" {
		tau = sivi.NewGaussianTau(initRNG, 2, noiseDim, 40, 40)
		// Start τ near q(ε) = N(0, I): zero output weights.
		last := tau.Net.Layers[len(tau.Net.Layers)-1]
		for i := range last.W.Data() {
			last.W.Data()[i] = 0
		}
		ps = append(ps, tau.Params()...)
	}
	for _, w := range ps {
		w.RequireGrad()
	}
	opt := &nn.Adam{LR: c.lr, Schedule: func(step int) float64 { return math.Pow(0.1, float64(step)/float64(c.steps)) }}
	rng := rand.New(stream(c.seed, "sivi", name, "train"))
	x := ad.Zeros(c.batch, 1)
	run := &siviRun{Method: method, Target: target, LogZ: t.logZ}
	prog.start(name, 0, c.steps)
	avg := ema{}
	for step := range c.steps {
		if err := ctx.Err(); err != nil {
			return nil, errInterrupted
		}
		var w *ad.Tensor
		if method == "iwhvi" {
			w = sivi.IWHVI{K: c.iwK + 1}.Integrand(rng, p, q, tau, x)
		} else {
			w = sivi.SIVI{K: c.k + 1}.SharedIntegrand(rng, p, q, x)
		}
		obj := ad.Mean(w)
		loss := ad.Neg(obj)
		g := ad.Grad(loss, ps...)
		v := obj.Item()
		ad.Release(loss)
		opt.Step(ps, g)
		run.objectives = append(run.objectives, v)
		avg = avg.add(v)
		prog.advance(name, step+1, c.steps, avg.value())
	}
	run.TrainSeconds = time.Since(start).Seconds()
	run.FinalTrainObjective = tailMean(run.objectives, max(1, c.steps/10))
	prog.evaluating(name)
	// Evaluate and draw from constant copies: no graph is recorded.
	cond = &sivi.GaussianConditional{Net: detachMLP(cond.Net), LogScale: cond.LogScale}
	q.Conditional = cond
	if tau != nil {
		tau = &sivi.GaussianTau{Net: detachMLP(tau.Net), D: tau.D}
	}
	ev := rand.New(stream(c.seed, "sivi", name, "eval"))
	batchMeans := func(f func() *ad.Tensor) (float64, float64) {
		m := make([]float64, c.evalBatches)
		for i := range m {
			m[i] = ad.Mean(f()).Item()
		}
		return meanStdErr(m)
	}
	run.SIVIBound, run.SIVIBoundStdErr = batchMeans(func() *ad.Tensor { return sivi.SIVI{K: c.evalK + 1}.SharedIntegrand(ev, p, q, x) })
	run.SIVI0Bound, _ = batchMeans(func() *ad.Tensor { return sivi.SIVI{K: 1}.Integrand(ev, p, q, x) })
	if tau != nil {
		m, se := batchMeans(func() *ad.Tensor { return sivi.IWHVI{K: c.iwK + 1}.Integrand(ev, p, q, tau, x) })
		run.IWHVIBound, run.IWHVIBoundStdErr = &m, &se
	}
	pic := rand.New(stream(c.seed, "sivi", name, "picture"))
	zs := q.SampleZ(pic, ad.Zeros(c.plotSamples, 1))
	title := fmt.Sprintf("%s: samples of q (bound %.3f)", strings.ToUpper(method), run.SIVIBound)
	if err := writeDensityPNG(filepath.Join(c.out, method+"-"+target+".png"), t, zs.Data(), 120, title); err != nil {
		return nil, err
	}
	prog.done(name)
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

func siviMarkdown(r *siviResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# SIVI and IWHVI on Yin & Zhou's toy targets\n\n")
	fmt.Fprintf(&b, "%d steps, batch %d, SIVI K = %d (shared), IWHVI K = %d, Adam lr %g; evaluation: SIVI bound with K = %d, %d batches of %d points; seed %d.\n\n",
		r.Steps, r.Batch, r.K, r.IWHVIK, r.LR, r.EvalK, r.EvalBatches, r.Batch, r.Seed)
	fmt.Fprintf(&b, "| method | target | log Z (quadrature) | SIVI bound (K = %d) | IWHVI bound (own K) | K = 0 bound | final train objective | seconds |\n|---|---|---|---|---|---|---|---|\n", r.EvalK)
	for _, run := range r.Runs {
		iw := "—"
		if run.IWHVIBound != nil {
			iw = fmt.Sprintf("%.4f ± %.4f", *run.IWHVIBound, *run.IWHVIBoundStdErr)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2e | %.4f ± %.4f | %s | %.4f | %.4f | %.1f |\n", run.Method, run.Target, run.LogZ,
			run.SIVIBound, run.SIVIBoundStdErr, iw, run.SIVI0Bound, run.FinalTrainObjective, run.Seconds)
	}
	fmt.Fprintf(&b, "\nEvery bound is ≤ log Z; the gap is KL(q ‖ p) plus the bound's own slack.\n")
	return b.String()
}

// detachMLP returns a copy of m whose parameters are constants sharing m's
// values.
func detachMLP(m *nn.MLP) *nn.MLP {
	out := &nn.MLP{}
	for _, l := range m.Layers {
		out.Layers = append(out.Layers, &nn.Linear{W: l.W.Detach(), B: l.B.Detach()})
	}
	return out
}
