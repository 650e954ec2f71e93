package main

// The sivi command: SIVI (Yin & Zhou 2018) and IWHVI (Sobolev & Vetrov
// 2019) fitted to the 2-D toy targets of Yin & Zhou's Fig. 2 (Sec. 5.2 of
// the paper), through package sivi.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/experiment"
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
	<method>-<target>/      the run's checkpoint.bin and metrics.jsonl

Running the same command again resumes unfinished runs from their
checkpoints (bitwise as if uninterrupted) and re-evaluates finished ones;
results are written only when every run is done.

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
	plotSamples, every       int
	seed                     uint64
	lr                       float64
	out                      string
	quiet                    bool
}

func parseSIVIFlags(args []string, stderr io.Writer) (*siviConfig, error) {
	fs := newFlagSet("sivi", siviUsage, stderr)
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
	fs.IntVar(&c.every, "checkpoint-every", 1000, "save a checkpoint every this many steps (and at the end, and on SIGINT)")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	v := newChecker(fs)
	var err error
	if c.targets, err = parseList(targets, siviTargets); err != nil {
		v.failf("-target: %v", err)
	}
	if c.methods, err = parseList(methods, siviMethods); err != nil {
		v.failf("-method: %v", err)
	}
	v.atLeast("steps", c.steps, 1)
	v.atLeast("batch", c.batch, 1)
	v.atLeast("K", c.k, 0)
	v.atLeast("iwhvi-K", c.iwK, 0)
	v.atLeast("eval-K", c.evalK, 0)
	v.atLeast("eval-batches", c.evalBatches, 2)
	v.atLeast("plot-samples", c.plotSamples, 1)
	v.positive("lr", c.lr)
	v.atLeast("checkpoint-every", c.every, 1)
	v.atLeast("jobs", c.jobs, 1)
	v.nonEmpty("out", c.out)
	if err := v.done(); err != nil {
		return nil, err
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
	SIVI0Bound float64 `json:"sivi_0_bound"`
	// StepsDone is the number of training steps done (over every session).
	StepsDone    int       `json:"steps_done"`
	TrainSeconds float64   `json:"train_seconds"`
	Seconds      float64   `json:"seconds"`
	picture      []float64 // samples of q for the picture, row-major [·, 2]
}

// siviModel is the target as the model p(x, z) of package sivi (x unused).
type siviModel struct{ t *toyTarget }

func (m siviModel) LogJoint(_, z *ad.Tensor) *ad.Tensor { return m.t.logDensity(z) }

func (c *siviConfig) run(ctx context.Context, stderr io.Writer) error {
	start := time.Now()
	if err := checkMemory("sivi", c.memory(), fmt.Sprintf("-steps %d -K %d -iwhvi-K %d -eval-K %d -eval-batches %d -batch %d -plot-samples %d",
		c.steps, c.k, c.iwK, c.evalK, c.evalBatches, c.batch, c.plotSamples)); err != nil {
		return err
	}
	out, err := openOut(c.out)
	if err != nil {
		return err
	}
	defer out.Close()
	reportOut(stderr, c.quiet, out)
	type spec struct{ method, target string }
	var specs []spec
	for _, t := range c.targets {
		for _, m := range c.methods {
			specs = append(specs, spec{m, t})
		}
	}
	runs := make([]*siviRun, len(specs))
	total := 0
	exps := make([]*experiment.Run, len(specs))
	for i, s := range specs {
		exps[i] = c.newRun(s.method, s.target, &runs[i])
		done, err := exps[i].StepsDone()
		if err != nil {
			return err
		}
		total += c.steps - done
	}
	prog := experiment.NewProgress(stderr, total, c.quiet)
	for _, r := range exps {
		r.Progress = prog
	}
	err = experiment.Parallel(ctx, c.jobs, experiment.Seq(len(specs)), func(ctx context.Context, i int) error {
		_, err := exps[i].Do(ctx)
		if errors.Is(err, errInterrupted) {
			prog.Logf("%v", err)
		}
		return err
	})
	prog.Finish()
	if err != nil {
		if errors.Is(err, errInterrupted) {
			err = fmt.Errorf("stopped; checkpoints are saved, run the same command to resume (results were not written): %w", errInterrupted)
		}
		return err
	}
	res := &siviResults{Steps: c.steps, K: c.k, IWHVIK: c.iwK, Batch: c.batch, LR: c.lr, EvalK: c.evalK,
		EvalBatches: c.evalBatches, Seed: c.seed, Runs: runs, Seconds: time.Since(start).Seconds()}
	if err := experiment.WriteJSON(filepath.Join(c.out, "results.json"), res); err != nil {
		return err
	}
	if err := experiment.WriteString(filepath.Join(c.out, "results.md"), siviMarkdown(res)); err != nil {
		return err
	}
	for i, s := range specs {
		t := toyTargetByName(s.target)
		title := fmt.Sprintf("%s: samples of q (bound %.3f)", strings.ToUpper(s.method), runs[i].SIVIBound)
		if err := writeDensityPNG(filepath.Join(c.out, s.method+"-"+s.target+".png"), t, runs[i].picture, 120, title); err != nil {
			return err
		}
	}
	return nil
}

// memory estimates the peak memory of the jobs largest runs: a training
// step's and an evaluation batch's activations of the 10-40-60-40-2 and
// 2-40-40-20 networks over all the draws at once.
func (c *siviConfig) memory() uint64 {
	_, condPer := mlpCosts(10, []int{40, 60, 40})
	_, tauPer := mlpCosts(2, []int{40, 40})
	b := float64(c.batch)
	train := 3 * f64 * math.Max(condPer*(b+float64(c.k)), (condPer+tauPer)*b*float64(c.iwK+1))
	eval := f64 * math.Max(condPer*(b+float64(c.evalK)), 2*float64(c.k+1)*b) // the [K+1, n] log-density table
	pic := f64 * (condPer + 4) * float64(c.plotSamples)
	per := math.Max(train, math.Max(eval, pic)) + f64*b*float64(c.evalK+1) + recordBytes(c.steps) + f64*float64(c.evalBatches)
	return toBytes(float64(min(c.jobs, len(c.targets)*len(c.methods))) * per)
}

// newRun returns the harness run that trains one family on one target
// and, as its Eval, evaluates it into *out.
func (c *siviConfig) newRun(method, target string, out **siviRun) *experiment.Run {
	name := method + "/" + target
	t := toyTargetByName(target)
	p := siviModel{t}
	initRNG := rand.New(stream(c.seed, "sivi", name, "init"))
	const noiseDim = 10
	cond := sivi.NewGaussianConditional(initRNG, noiseDim, 2, 0.1, 40, 60, 40)
	q := sivi.Family{Mixing: eimfamily.NewStdNormal(noiseDim, 1), Conditional: cond}
	var tau *sivi.GaussianTau
	params := new(nn.Params)
	params.Add("conditional", cond.Net.Params()...)
	if method == "iwhvi" {
		tau = sivi.NewGaussianTau(initRNG, 2, noiseDim, 40, 40)
		// Start τ near q(ε) = N(0, I): zero output weights.
		last := tau.Net.Layers[len(tau.Net.Layers)-1]
		for i := range last.W.Data() {
			last.W.Data()[i] = 0
		}
		params.Add("tau", tau.Params()...)
	}
	ps := params.Tensors()
	for _, w := range ps {
		w.RequireGrad()
	}
	opt := &nn.Adam{LR: c.lr, Schedule: func(step int) float64 { return math.Pow(0.1, float64(step)/float64(c.steps)) }}
	pcg := stream(c.seed, "sivi", name, "train")
	rng := rand.New(pcg)
	x := ad.Zeros(c.batch, 1)
	step := func(context.Context, int) (experiment.Metrics, error) {
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
		return experiment.Metrics{Objective: v}, nil
	}
	eval := func(ctx context.Context, rec *experiment.Record) error {
		run := &siviRun{Method: method, Target: target, LogZ: t.logZ, StepsDone: rec.Steps, TrainSeconds: rec.Seconds}
		start := time.Now()
		run.FinalTrainObjective = tailMean(rec.Objectives(), max(1, c.steps/10))
		// Evaluate and draw from constant copies: no graph is recorded.
		cond := &sivi.GaussianConditional{Net: detachMLP(cond.Net), LogScale: cond.LogScale}
		q := sivi.Family{Mixing: q.Mixing, Conditional: cond}
		tau := tau
		if tau != nil {
			tau = &sivi.GaussianTau{Net: detachMLP(tau.Net), D: tau.D}
		}
		ev := rand.New(stream(c.seed, "sivi", name, "eval"))
		batchMeans := func(f func() *ad.Tensor) (float64, float64, error) {
			m := make([]float64, c.evalBatches)
			for i := range m {
				if err := ctx.Err(); err != nil {
					return 0, 0, err
				}
				m[i] = ad.Mean(f()).Item()
			}
			mean, se := meanStdErr(m)
			return mean, se, nil
		}
		var err error
		if run.SIVIBound, run.SIVIBoundStdErr, err = batchMeans(func() *ad.Tensor { return sivi.SIVI{K: c.evalK + 1}.SharedIntegrand(ev, p, q, x) }); err != nil {
			return err
		}
		if run.SIVI0Bound, _, err = batchMeans(func() *ad.Tensor { return sivi.SIVI{K: 1}.Integrand(ev, p, q, x) }); err != nil {
			return err
		}
		if tau != nil {
			m, se, err := batchMeans(func() *ad.Tensor { return sivi.IWHVI{K: c.iwK + 1}.Integrand(ev, p, q, tau, x) })
			if err != nil {
				return err
			}
			run.IWHVIBound, run.IWHVIBoundStdErr = &m, &se
		}
		pic := rand.New(stream(c.seed, "sivi", name, "picture"))
		run.picture = q.SampleZ(pic, ad.Zeros(c.plotSamples, 1)).Data()
		if err := ctx.Err(); err != nil {
			return err
		}
		run.Seconds = rec.Seconds + time.Since(start).Seconds()
		*out = run
		return nil
	}
	id := map[string]string{
		"format": "eimkit-sivi/1", "method": method, "target": target,
		"seed": strconv.FormatUint(c.seed, 10), "steps": strconv.Itoa(c.steps), // the schedule depends on it
		"batch": strconv.Itoa(c.batch), "lr": strconv.FormatFloat(c.lr, 'g', -1, 64),
	}
	if method == "iwhvi" {
		id["iwhvi-K"] = strconv.Itoa(c.iwK)
	} else {
		id["K"] = strconv.Itoa(c.k)
	}
	return &experiment.Run{
		Dir: filepath.Join(c.out, method+"-"+target), Name: name, Identity: id,
		Steps: c.steps, CheckpointEvery: c.every, Params: params, Adam: opt, RNG: pcg,
		Step: step, Eval: eval,
	}
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
