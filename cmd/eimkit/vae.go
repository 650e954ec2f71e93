package main

// The vae command: Table 1's VAE rows (Sec. 4.2, App. D.2) — a VAE on
// binarized MNIST or Fashion-MNIST whose prior is N(0, I) or an EIM (TRS,
// SNIS, HIS, the LARS baseline), trained on the ELBO with the prior's
// lower bound and evaluated with the S-sample IWAE bound on the test set.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/vae"
)

const vaeUsage = `Usage: eimkit vae [flags]

Trains the VAE of App. D.2 — encoder 784-300-300-(2×50), Bernoulli decoder
50-300-300-784, tanh — with each prior of -prior over its 50-dimensional
latent z: N(0, I), TRS (T = 1024), SNIS (K = 1024), HIS (T = 5) or LARS
(T = 100, K = 1024), each EIM with proposal N(0, I) and energy MLP
50-100-100-1. Each run maximizes the ELBO with log p(z) replaced by the
prior's lower bound (package vae), with batches of -batch images
(dynamically binarized for dynamic-mnist and fashion-mnist), Adam at -lr,
the KL weight annealed linearly from 0 to 1 over the first -anneal-frac of
the steps and the learning rate dropped to -drop-lr at -drop-frac of them
(App. D.2's 10⁵ and 10⁶ steps of the authors' 10⁷, scaled to -steps). Every
-eval-every steps it computes the -valid-samples-sample bound on
-valid-images validation images (Fashion-MNIST has no validation split:
there the first test images, a diagnostic only). After training it
evaluates the -eval-samples-sample IWAE bound on the test images and
writes, under -out:

	results.json, results.md   test IWAE mean ± s.e. over the test images per
	                           prior and data set, beside the paper's Table 1
	<data>/<prior>/
	    samples.png            64 exact samples from the prior, decoded to
	                           Bernoulli means
	    curves.png             training objective and validation bound by step
	    result.json            the run's entry of results.json
	    eval.json              the test evaluation so far, by blocks of images
	    checkpoint.bin, metrics.jsonl

Running the same command again resumes unfinished runs from their
checkpoints (bitwise as if uninterrupted), continues an interrupted test
evaluation at its last finished block, and reuses finished runs whose
settings match. Static MNIST here is a fixed binarization drawn by this
toolkit (data.StaticMNISTSeed), not the Larochelle–Murray set the paper used.

Flags:
`

// vaeConfig holds the parsed flags of the vae command.
type vaeConfig struct {
	datasets                []string
	priors                  []vae.PriorKind
	steps, batch            int
	seed                    uint64
	lr, dropLR              float64
	annealFrac, dropFrac    float64
	latent                  int
	hidden, energyHidden    []int
	K, trsT, larsT, hisT    int
	evalSamples, testImages int
	evalEvery, validImages  int
	validSamples            int
	larsZDraws, validLARSZ  int
	every, jobs             int
	out                     string
	quiet                   bool
	onStep                  func(run string, step int) // for tests: see experiment.Progress.OnStep
	loaded                  map[string]*data.Splits    // the data sets, by name
}

// vaePriorOrder is the order of Table 1's rows.
var vaePriorOrder = []vae.PriorKind{vae.Gaussian, vae.TRS, vae.SNIS, vae.HIS, vae.LARS}

// vaeDataOrder is the order of Table 1's columns.
var vaeDataOrder = []string{data.NameStaticMNIST, data.NameDynamicMNIST, data.NameFashionMNIST}

// vaeEvalBlock is the number of test images per evaluation block: the
// unit of progress and of resuming an interrupted evaluation.
const vaeEvalBlock = 1000

// parseVAEFlags parses args. It returns flag.ErrHelp for -h and an error
// wrapping errUsage for bad flags (both already printed to stderr).
func parseVAEFlags(args []string, stderr io.Writer) (*vaeConfig, error) {
	fs := newFlagSet("vae", vaeUsage, stderr)
	var (
		c                            vaeConfig
		dataFlag, priorFlag          string
		hiddenFlag, energyHiddenFlag string
	)
	fs.StringVar(&dataFlag, "data", data.NameDynamicMNIST, "data sets: dynamic-mnist, static-mnist, fashion-mnist, a comma-separated list, or all")
	fs.StringVar(&priorFlag, "prior", "all", "priors: gaussian, trs, snis, his, lars, a comma-separated list, or all")
	fs.IntVar(&c.steps, "steps", vaeDefaultSteps, "training steps of every run (the authors' code: 10⁷)")
	fs.IntVar(&c.batch, "batch", 128, "training batch size (the authors' batch_size)")
	fs.Float64Var(&c.lr, "lr", 3e-4, "Adam's learning rate before the drop (App. D.2)")
	fs.Float64Var(&c.dropLR, "drop-lr", 1e-4, "Adam's learning rate after the drop (App. D.2)")
	fs.Float64Var(&c.annealFrac, "anneal-frac", 0.01, "fraction of the steps over which the KL weight rises from 0 to 1 (App. D.2: 10⁵ of 10⁷); 0: no annealing")
	fs.Float64Var(&c.dropFrac, "drop-frac", 0.1, "fraction of the steps after which the learning rate drops (App. D.2: 10⁶ of 10⁷); 1: no drop")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: initialization, batches, binarization, each run and each evaluation get their own stream split from it")
	fs.IntVar(&c.latent, "latent", 50, "dimension of the latent z")
	fs.StringVar(&hiddenFlag, "hidden", "300,300", "hidden widths of the encoder, the decoder and HIS's q(ρ_T | z) network (tanh)")
	fs.StringVar(&energyHiddenFlag, "energy-hidden", "100,100", "hidden widths of the EIM priors' energy MLP (tanh)")
	fs.IntVar(&c.K, "K", 1024, "SNIS's candidates, and LARS's proposal draws per step for its estimate of Z")
	fs.IntVar(&c.trsT, "trs-T", 1024, "TRS's truncation T (the authors' code uses K)")
	fs.IntVar(&c.larsT, "lars-T", 100, "LARS's truncation T (the authors' lars_T)")
	fs.IntVar(&c.hisT, "his-T", 5, "HIS's leapfrog steps")
	fs.IntVar(&c.evalSamples, "eval-samples", 1000, "S of the test bound (Table 1: 1000)")
	fs.IntVar(&c.testImages, "test-images", 0, "test images evaluated, the first ones of the test split (0: all 10,000)")
	fs.IntVar(&c.larsZDraws, "lars-z-draws", 100_000_000, "proposal draws behind LARS's plug-in Z in the test evaluation (Bauer & Mnih: 10¹⁰)")
	fs.IntVar(&c.evalEvery, "eval-every", 5000, "compute the validation bound every this many steps (0: never)")
	fs.IntVar(&c.validImages, "valid-images", 500, "validation images of the validation bound")
	fs.IntVar(&c.validSamples, "valid-samples", 100, "S of the validation bound")
	fs.IntVar(&c.validLARSZ, "valid-lars-z-draws", 1<<20, "proposal draws behind LARS's plug-in Z in the validation bound")
	fs.IntVar(&c.every, "checkpoint-every", 1000, "save a checkpoint every this many steps (and at the end, and on SIGINT)")
	fs.IntVar(&c.jobs, "jobs", runtime.GOMAXPROCS(0), "runs trained (and evaluated) at the same time, each on one core; with 1, ad's products use every core")
	fs.StringVar(&c.out, "out", "results-vae", "output `directory`")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors (no progress bar)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	v := newChecker(fs)
	var err error
	if c.datasets, err = parseList(dataFlag, vaeDataOrder); err != nil {
		v.failf("-data: %v", err)
	}
	names := make([]string, len(vaePriorOrder))
	for i, k := range vaePriorOrder {
		names[i] = string(k)
	}
	ps, err := parseList(priorFlag, names)
	if err != nil {
		v.failf("-prior: %v", err)
	}
	for _, p := range ps {
		c.priors = append(c.priors, vae.PriorKind(p))
	}
	c.checkShared(v, hiddenFlag, energyHiddenFlag)
	v.atLeast("K", c.K, 1)
	v.atLeast("trs-T", c.trsT, 1)
	v.atLeast("lars-T", c.larsT, 1)
	v.atLeast("his-T", c.hisT, 1)
	v.atLeast("lars-z-draws", c.larsZDraws, 1)
	v.atLeast("valid-lars-z-draws", c.validLARSZ, 1)
	if err := v.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkShared parses -hidden and -energy-hidden into c and checks the
// ranges of the flags the vae and fig3 commands share.
func (c *vaeConfig) checkShared(v *flagChecker, hiddenFlag, energyHiddenFlag string) {
	var err error
	if c.hidden, err = parseWidths(hiddenFlag); err != nil {
		v.failf("-hidden %q: %v", hiddenFlag, err)
	}
	if c.energyHidden, err = parseWidths(energyHiddenFlag); err != nil {
		v.failf("-energy-hidden %q: %v", energyHiddenFlag, err)
	}
	v.atLeast("steps", c.steps, 1)
	v.atLeast("batch", c.batch, 1)
	v.positive("lr", c.lr)
	v.positive("drop-lr", c.dropLR)
	if !(c.annealFrac >= 0 && c.annealFrac <= 1) {
		v.failf("-anneal-frac %v: want a fraction in [0, 1]", c.annealFrac)
	}
	if !(c.dropFrac > 0 && c.dropFrac <= 1) {
		v.failf("-drop-frac %v: want a fraction in (0, 1]", c.dropFrac)
	}
	v.atLeast("latent", c.latent, 1)
	v.atLeast("eval-samples", c.evalSamples, 1)
	v.atLeast("test-images", c.testImages, 0)
	v.atLeast("eval-every", c.evalEvery, 0)
	v.atLeast("valid-images", c.validImages, 1)
	v.atLeast("valid-samples", c.validSamples, 1)
	v.atLeast("checkpoint-every", c.every, 1)
	v.atLeast("jobs", c.jobs, 1)
	v.nonEmpty("out", c.out)
}

// vaeDefaultSteps is the default of -steps: the reduced budget of
// docs/vae.md, with which the five priors of one data set train and are
// evaluated in about two hours on two cores (-jobs 2; 1.7–1.8 h computed from
// the measured step and evaluation times).
const vaeDefaultSteps = 60_000

// parseWidths parses "300,300" into widths ≥ 1.
func parseWidths(s string) ([]int, error) {
	var ws []int
	for _, f := range strings.Split(s, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 {
			return nil, errors.New("want positive widths separated by commas")
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// runVAE is the vae command.
func runVAE(ctx context.Context, args []string) error {
	cfg, err := parseVAEFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// vaeRun is one training run: a prior on a data set. K and hisT, if not
// 0, replace the command's -K and -his-T for this run (fig3 trains one
// run per value); tag is then added to its name ("dynamic-mnist/snis-K16").
type vaeRun struct {
	c       *vaeConfig
	data    string
	prior   vae.PriorKind
	dir     string
	K, hisT int
	tag     string
}

// name is "data/prior" and the tag, the run's name in messages.
func (r *vaeRun) name() string { return r.data + "/" + string(r.prior) + r.tag }

// k returns the run's SNIS candidates (and LARS's draws for Z).
func (r *vaeRun) k() int {
	if r.K != 0 {
		return r.K
	}
	return r.c.K
}

// hisSteps returns the run's HIS leapfrog steps.
func (r *vaeRun) hisSteps() int {
	if r.hisT != 0 {
		return r.hisT
	}
	return r.c.hisT
}

// modelConfig returns the vae.Config of the run.
func (r *vaeRun) modelConfig() vae.Config {
	c := r.c
	return vae.Config{
		Prior: r.prior, Data: 784, Latent: c.latent,
		EncoderHidden: c.hidden, DecoderHidden: c.hidden, HISQHidden: c.hidden, EnergyHidden: c.energyHidden,
		K: r.k(), TRST: c.trsT, LARST: c.larsT, HIST: r.hisSteps(), LARSEvalDraws: c.larsZDraws,
	}
}

// schedule returns App. D.2's schedule scaled to the run's steps.
func (r *vaeRun) schedule() vae.Schedule {
	s := vae.Schedule{Steps: r.c.steps, AnnealFrac: r.c.annealFrac, DropFrac: r.c.dropFrac, LR: r.c.lr, DropLR: r.c.dropLR}
	if r.c.annealFrac == 0 {
		s.AnnealFrac = -1 // vae.Schedule: negative means no annealing
	}
	return s
}

// identity returns the settings that determine the run's training
// computation and its metrics log (the validation curve is in it). The
// steps are part of it: the schedule is scaled to them.
func (r *vaeRun) identity() map[string]string {
	c := r.c
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	id := map[string]string{
		"format": "eimkit-vae/1", "data": r.data, "prior": string(r.prior), "seed": strconv.FormatUint(c.seed, 10),
		"steps": strconv.Itoa(c.steps), "batch": strconv.Itoa(c.batch), "lr": f(c.lr), "drop-lr": f(c.dropLR),
		"anneal-frac": f(c.annealFrac), "drop-frac": f(c.dropFrac), "latent": strconv.Itoa(c.latent),
		"hidden": intsString(c.hidden), "eval-every": strconv.Itoa(c.evalEvery),
	}
	if c.evalEvery > 0 {
		id["valid-images"] = strconv.Itoa(c.validImages)
		id["valid-samples"] = strconv.Itoa(c.validSamples)
	}
	if r.prior != vae.Gaussian {
		id["energy-hidden"] = intsString(c.energyHidden)
	}
	switch r.prior {
	case vae.SNIS:
		id["K"] = strconv.Itoa(r.k())
	case vae.TRS:
		id["trs-T"] = strconv.Itoa(c.trsT)
	case vae.HIS:
		id["his-T"] = strconv.Itoa(r.hisSteps())
	case vae.LARS:
		id["K"] = strconv.Itoa(r.k())
		id["lars-T"] = strconv.Itoa(c.larsT)
		if c.evalEvery > 0 {
			id["valid-lars-z-draws"] = strconv.Itoa(c.validLARSZ)
		}
	}
	return id
}

// resultSettings are the settings a result.json or eval.json is valid
// for: the identity and the test evaluation's settings.
func (r *vaeRun) resultSettings() map[string]string {
	s := r.identity()
	s["eval-samples"] = strconv.Itoa(r.c.evalSamples)
	s["test-images"] = strconv.Itoa(r.testImages())
	s["eval-block"] = strconv.Itoa(vaeEvalBlock)
	if r.prior == vae.LARS {
		s["lars-z-draws"] = strconv.Itoa(r.c.larsZDraws)
	}
	return s
}

// testImages returns the number of test images evaluated.
func (r *vaeRun) testImages() int {
	n := r.c.loaded[r.data].Test.Len()
	if r.c.testImages > 0 {
		return min(n, r.c.testImages)
	}
	return n
}

// bare returns the run as the harness sees it without its model.
func (r *vaeRun) bare() *experiment.Run {
	return &experiment.Run{Dir: r.dir, Name: r.name(), Identity: r.identity(), Steps: r.c.steps, CheckpointEvery: r.c.every}
}

// vaeTrained is a run's model and what its steps need.
type vaeTrained struct {
	m     *vae.Model
	sched vae.Schedule
}

// newRun builds the run's model, initialized from a stream that depends
// on the seed and the data set only (so every prior starts from the same
// encoder and decoder), and the harness run that trains it. Step step
// takes the batch data.Batcher deals for it (the same for every prior),
// binarized with a stream of (seed, data set, step) (the same bits for
// every prior), and one Adam step on the objective at the scheduled KL
// weight; every -eval-every steps it adds the validation bound to the
// metrics.
func (r *vaeRun) newRun(prog *experiment.Progress) (*experiment.Run, *vaeTrained, error) {
	c := r.c
	sp := c.loaded[r.data]
	train := sp.Train
	m, err := vae.NewModel(rand.New(stream(c.seed, "vae", "init", r.data)), r.modelConfig(), train.Mean())
	if err != nil {
		return nil, nil, err
	}
	sched := r.schedule()
	opt := sched.Adam()
	ps := m.Params()
	params := ps.Tensors()
	run := r.bare()
	run.Params, run.Adam, run.Progress = ps, opt, prog
	run.RNG = stream(c.seed, "vae", "train", r.data, string(r.prior))
	if lp, ok := m.Prior.(*vae.LARSPrior); ok {
		run.State = larsState{lp}
	}
	rng := rand.New(run.RNG)
	batcher := &data.Batcher{N: train.Len(), Size: c.batch, Seed: stream(c.seed, "vae", "batches", r.data).Uint64()}
	binSeed := stream(c.seed, "vae", "binarize", r.data).Uint64()
	valid := r.validationImages()
	run.Step = func(_ context.Context, step int) (experiment.Metrics, error) {
		idx := batcher.Indices(step)
		xs := make([]float64, len(idx)*train.Dim())
		train.Binarize(rand.New(rand.NewPCG(binSeed, uint64(step))), xs, idx)
		beta := sched.KLWeight(step)
		v, err := m.TrainStep(rng, opt, params, ad.New(xs, len(idx), train.Dim()), beta)
		if errors.Is(err, vae.ErrNotFinite) {
			return experiment.Metrics{Objective: v}, nil // the harness reports it
		}
		if err != nil {
			return experiment.Metrics{}, err
		}
		met := experiment.Metrics{Objective: v}
		if c.evalEvery > 0 && (step+1)%c.evalEvery == 0 {
			// Not cancelled by ctx: the harness stops between steps, and
			// the validation bound is kept small (a few seconds).
			b, err := r.validate(context.Background(), m, valid, step+1)
			if err != nil {
				return experiment.Metrics{}, err
			}
			met.Values = map[string]float64{"kl_weight": beta, "valid_bound": b}
		} else if beta < 1 {
			met.Values = map[string]float64{"kl_weight": beta}
		}
		return met, nil
	}
	return run, &vaeTrained{m: m, sched: sched}, nil
}

// validationImages returns the validation images, binarized once with a
// stream of the seed and data set (static MNIST's are fixed already).
func (r *vaeRun) validationImages() *ad.Tensor {
	c := r.c
	sp := c.loaded[r.data]
	set := sp.Valid
	if set == nil {
		set = sp.Test
	}
	n := min(c.validImages, set.Len())
	xs := make([]float64, n*set.Dim())
	set.Binarize(rand.New(stream(c.seed, "vae", "valid-binarize", r.data)), xs, data.Range(0, n))
	return ad.New(xs, n, set.Dim())
}

// validate returns the mean validation bound at the model's current
// parameters, from a stream of (seed, run, step). LARS uses a fresh copy
// of its prior with -valid-lars-z-draws draws for Z, so that the test
// evaluation never reuses this smaller estimate.
func (r *vaeRun) validate(ctx context.Context, m *vae.Model, x *ad.Tensor, step int) (float64, error) {
	em := *m
	if lp, ok := m.Prior.(*vae.LARSPrior); ok {
		em.Prior = &vae.LARSPrior{Model: lp.Model, EvalDraws: r.c.validLARSZ}
	}
	v, err := em.Eval(ctx, rand.New(stream(r.c.seed, "vae", "valid", r.data, string(r.prior), strconv.Itoa(step))), x, r.c.validSamples)
	if err != nil {
		return 0, err
	}
	mean, _ := meanStdErr(v)
	return mean, nil
}

// larsState carries LARS's moving average of Z through a checkpoint.
type larsState struct{ p *vae.LARSPrior }

func (s larsState) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(s.p.Model.ZAvg, 'g', -1, 64)), nil
}

func (s larsState) UnmarshalText(b []byte) error {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("LARS's moving average of Z: %w", err)
	}
	s.p.Model.ZAvg = v
	return nil
}

// run loads the data, trains (or resumes) and evaluates every run, and
// writes the outputs. Nothing is written if a run fails or the command is
// interrupted; training and finished evaluation blocks are saved.
func (c *vaeConfig) run(ctx context.Context, stderr io.Writer) error {
	if err := c.checkMemory(); err != nil {
		return err
	}
	// The data first: a missing or corrupt file is reported before
	// anything is created under -out.
	if err := c.load("vae"); err != nil {
		return err
	}
	out, err := openOut(c.out)
	if err != nil {
		return err
	}
	defer out.Close()
	reportOut(stderr, c.quiet, out)
	start := time.Now()

	var runs []*vaeRun
	for _, d := range c.datasets {
		for _, p := range c.priors {
			runs = append(runs, &vaeRun{c: c, data: d, prior: p, dir: filepath.Join(c.out, d, string(p))})
		}
	}
	prog, err := c.progress(stderr, runs)
	if err != nil {
		return err
	}
	order := experiment.Seq(len(runs))
	slices.SortStableFunc(order, func(a, b int) int { // the longest first
		return vaeStepCost[runs[b].prior] - vaeStepCost[runs[a].prior]
	})
	results, err := c.doRuns(ctx, prog, runs, order)
	prog.Finish()
	if err != nil {
		if errors.Is(err, errInterrupted) {
			err = fmt.Errorf("vae stopped before writing results; training (and finished evaluation blocks) are saved, run the same command to resume: %w", errInterrupted)
		}
		return err
	}
	all := &vaeResults{
		Note:    vaeStaticNote,
		Seconds: time.Since(start).Seconds(),
		Runs:    results,
	}
	if err := experiment.WriteJSON(filepath.Join(c.out, "results.json"), all); err != nil {
		return err
	}
	md := vaeMarkdown(all, c)
	if err := experiment.WriteString(filepath.Join(c.out, "results.md"), md); err != nil {
		return err
	}
	prog.Logf("wrote %s (%d runs, %.1f s)", filepath.Join(c.out, "results.md"), len(runs), all.Seconds)
	return nil
}

// load loads c.datasets into c.loaded and checks -batch and -test-images
// against them; cmd names the command in its messages.
func (c *vaeConfig) load(cmd string) error {
	c.loaded = map[string]*data.Splits{}
	for _, d := range c.datasets {
		sp, err := data.LoadImageSet(d)
		if err != nil {
			return err
		}
		if c.batch > sp.Train.Len() {
			return &usageErr{msg: fmt.Sprintf("%s: -batch %d is more than the %d training images of %s", cmd, c.batch, sp.Train.Len(), d)}
		}
		if c.testImages > sp.Test.Len() {
			return &usageErr{msg: fmt.Sprintf("%s: -test-images %d is more than the %d test images of %s", cmd, c.testImages, sp.Test.Len(), d)}
		}
		c.loaded[d] = sp
	}
	return nil
}

// progress returns the progress report over the training steps the runs
// still need (none for a run whose result is reused).
func (c *vaeConfig) progress(stderr io.Writer, runs []*vaeRun) (*experiment.Progress, error) {
	total := 0
	for _, r := range runs {
		if res, _ := r.readResult(); res != nil {
			continue
		}
		done, err := r.bare().StepsDone()
		if err != nil {
			return nil, err
		}
		total += c.steps - done
	}
	prog := experiment.NewProgress(stderr, total, c.quiet)
	prog.OnStep = c.onStep
	return prog, nil
}

// doRuns does (vaeRun.do) the runs, -jobs at a time in the given order,
// and returns their results in the runs' order.
func (c *vaeConfig) doRuns(ctx context.Context, prog *experiment.Progress, runs []*vaeRun, order []int) ([]*vaeResult, error) {
	results := make([]*vaeResult, len(runs))
	err := experiment.Parallel(ctx, c.jobs, order, func(ctx context.Context, i int) error {
		res, err := runs[i].do(ctx, prog)
		if errors.Is(err, errInterrupted) {
			prog.Logf("%v", err)
		}
		results[i] = res
		return err
	})
	return results, err
}

// vaeStepCost is each prior's rough cost of a run (training steps, the
// test evaluation, LARS's Z) relative to the Gaussian prior's, from the
// times in docs/vae.md, used only to start the longest runs first.
var vaeStepCost = map[vae.PriorKind]int{vae.Gaussian: 10, vae.TRS: 13, vae.SNIS: 11, vae.HIS: 16, vae.LARS: 12}

// do runs one run to its result: reused if its result.json is current,
// otherwise trained (or continued) and evaluated.
func (r *vaeRun) do(ctx context.Context, prog *experiment.Progress) (*vaeResult, error) {
	if res, err := r.readResult(); err != nil {
		return nil, err
	} else if res != nil {
		prog.Logf("%s: reusing %s", r.name(), filepath.Join(r.dir, "result.json"))
		return res, nil
	}
	run, tr, err := r.newRun(prog)
	if err != nil {
		return nil, err
	}
	var res *vaeResult
	run.Eval = func(ctx context.Context, rec *experiment.Record) error {
		res, err = r.evaluate(ctx, prog, tr, rec)
		return err
	}
	if _, err := run.Do(ctx); err != nil {
		return nil, err
	}
	prog.Logf("%s: %d steps, test IWAE-%d %.3f ± %.3f over %d images (train %.0f s, test %.0f s)", r.name(), res.Steps,
		res.EvalSamples, float64(res.TestBound), float64(res.TestBoundStdErr), res.TestImages, res.TrainSeconds, res.EvalSeconds)
	return res, nil
}

// checkMemory refuses settings whose estimated peak does not fit.
func (c *vaeConfig) checkMemory() error {
	enc, _ := mlpCosts(784, c.hidden)
	dec, decPer := mlpCosts(c.latent, c.hidden)
	en, enPer := mlpCosts(c.latent, c.energyHidden)
	// Parameters with gradients and Adam's moments (the encoder and
	// decoder have wider outputs than mlpCosts's single one).
	params := 4 * f64 * (enc + dec + en + float64(2*c.latent+784)*float64(c.hidden[len(c.hidden)-1]))
	b := float64(c.batch)
	// A training step: the networks over the batch, and the prior's draws
	// (SNIS's K, TRS's T, LARS's K and T, HIS's T leapfrog steps with the
	// gradient of the gradient) through the energy, with the backward pass.
	vaePer := float64(784*4) + 4*decPer
	prior := 0.0
	for _, p := range c.priors {
		switch p {
		case vae.SNIS:
			prior = max(prior, float64(c.K)*enPer)
		case vae.TRS:
			prior = max(prior, float64(c.trsT)*enPer)
		case vae.LARS:
			prior = max(prior, float64(c.K+c.larsT)*enPer)
		case vae.HIS:
			prior = max(prior, 4*b*float64(c.hisT+1)*(enPer+decPer))
		}
	}
	train := 3 * f64 * (b*vaePer + prior)
	// The evaluation: a block of images, its chunk of 4096 (sample, image)
	// rows through the decoder and the prior, SNIS's candidates of a
	// chunk's 40 samples, and the S weights per image.
	eval := f64 * (3*vaeEvalBlock*784 + 40*float64(c.K)*enPer + 4096*(decPer+784+float64(c.hisT+1)*enPer) +
		float64(c.evalSamples)*100 + float64(c.validImages)*784)
	need := float64(min(c.jobs, len(c.priors)*len(c.datasets)))*(params+train+eval) + 70_000*784*float64(len(c.datasets))
	return checkMemory("vae", toBytes(need), fmt.Sprintf("-batch %d -hidden %s -K %d -trs-T %d -eval-samples %d -jobs %d",
		c.batch, intsString(c.hidden), c.K, c.trsT, c.evalSamples, c.jobs))
}
