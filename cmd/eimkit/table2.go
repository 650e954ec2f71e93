package main

// The eimdata command: EIMs over the data whose proposal is a VAE —
// Table 1's "SNIS w/ VAE proposal", "SNIS w/ ConvHVAE proposal" and
// "LARS w/ VAE proposal" rows on dynamically binarized MNIST (and its
// ConvHVAE w/ EIM prior rows), and Table 2's small-VAE and VAE rows on
// continuous (dequantized, logit-space) MNIST, Fashion-MNIST and CelebA
// (a folder of the user's 64×64 images: data.LoadImageDir). Two
// phases, each a resumable harness run: the proposal (a VAE or ConvHVAE)
// on its ELBO, then each EIM of -model on top of it (energy and proposal
// trained together, as in the authors' code).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/vae"
)

const eimdataUsage = `Usage: eimkit eimdata [flags]

Trains a proposal on -data — -proposal full: App. D.2's VAE (encoder
D-300-300-(2×50), decoder 50-300-300-D, tanh; D = 784, or 64·64·3 = 12288
for CelebA); small: Table 2's "small VAE" (one tanh layer of 20 units, 10-d
latent); convhvae: Table 1's convolutional hierarchical VAE (binary data
only) — with prior N(0, I) or the EIM prior of -proposal-prior over its
(top) latent, on its ELBO. dynamic-mnist has a Bernoulli decoder and images
binarized afresh every step; continuous-mnist / continuous-fashion / celeba
a Gaussian decoder on the logit of the dequantized images (λ = 10⁻⁶),
centered by the logit of the training mean. celeba reads -celeba-dir (or
$EIMKIT_CELEBA_DIR), a folder of -celeba-size × -celeba-size PNG or JPEG
images (no CelebA ships with eimkit); its test split is the lexically last
-celeba-test files (0: CelebA's own test partition if the folder holds its
202,599 images under their names 000001 … 202599, else the last tenth),
its training split the files before them. Then trains each EIM of -model
over the data with that model as its proposal π (package vae: DataSNIS,
DataLARS, DataHIS), starting from the trained proposal and training energy
and proposal together; π enters the bounds through its own ELBO integrand
(training) and importance weights (evaluation). SNIS uses K = 1024 candidates on
binary data and 128 on continuous data (App. D.3), HIS T = 5 leapfrog
steps (continuous data only), LARS T = 100. -candidate-grad chooses SNIS's
gradient through binary candidates: pathwise (none, the paper's choice),
vimco or gumbel. -model none trains and evaluates the proposal alone
(Table 1's VAE and ConvHVAE w/ EIM prior rows).

Both phases are evaluated with the -eval-samples-sample bound on the first
-test-images test images (continuous data: on the 8-bit pixel scale,
with the logit transform's change of variables, as Table 2 reports).
Writes under -out:

	results.json, results.md   this command's rows beside the paper's
	                           Table 1 (dynamic MNIST column) or Table 2
	<data>/<prop>/             the proposal's run (<prop>: vae, small-vae or
	                           convhvae, with -<prior> for an EIM prior):
	                           checkpoint.bin, metrics.jsonl, result.json,
	                           samples.png (64 samples)
	<data>/<prop>+<model>[-<grad>]/
	                           each EIM's run, the same files

Running the same command again resumes unfinished runs from their
checkpoints (bitwise as if uninterrupted) and reuses finished results whose
settings match; an interrupted evaluation starts again. Several commands
may share -out one after another (the proposal is trained once): each
writes results.json and results.md with its own rows.

Flags:
`

// eimdataConfig holds the parsed flags of the eimdata command.
type eimdataConfig struct {
	data, proposal              string
	prior                       vae.PriorKind // the proposal's prior
	priorK, convFilters         int
	models                      []string
	grad                        vae.CandidateGradient
	proposalSteps, steps, batch int
	seed                        uint64
	lr                          float64
	latent                      int
	hidden, energyHidden        []int
	K, larsT, hisT, larsZDraws  int
	hisAlpha, hisEps            float64
	annealFrac                  float64
	evalSamples, testImages     int
	every                       int
	out                         string
	quiet                       bool
	onStep                      func(run string, step int)
	loaded                      *data.Splits
	logitMean                   []float64 // continuous data: s̄, the logit of the dequantized training mean
	// -data celeba: the folder, the images' side, the test images asked
	// for (0: the default split); after load, the split chosen and the
	// SHA-256 of the folder's decoded pixels (both in the identity).
	celebaDir              string
	celebaSize, celebaTest int
	celebaSplit, celebaSum string
}

var (
	eimdataDataOrder  = []string{"dynamic-mnist", "continuous-mnist", "continuous-fashion", "celeba"}
	eimdataModelOrder = []string{"snis", "lars", "his"}
)

// continuous reports whether the data set is continuous (Table 2).
func (c *eimdataConfig) continuous() bool {
	return strings.HasPrefix(c.data, "continuous-") || c.data == "celeba"
}

// dim is D, the values per image: 784 for (Fashion-)MNIST, size·size·3
// for CelebA.
func (c *eimdataConfig) dim() int {
	if c.data == "celeba" {
		return c.celebaSize * c.celebaSize * 3
	}
	return 784
}

// parseEIMDataFlags parses args. It returns flag.ErrHelp for -h and an
// error wrapping errUsage for bad flags (both already printed to stderr).
func parseEIMDataFlags(args []string, stderr io.Writer) (*eimdataConfig, error) {
	fs := newFlagSet("eimdata", eimdataUsage, stderr)
	var (
		c                            eimdataConfig
		modelFlag, gradFlag          string
		hiddenFlag, energyHiddenFlag string
	)
	fs.StringVar(&c.data, "data", "dynamic-mnist", "data set: dynamic-mnist, continuous-mnist, continuous-fashion or celeba (continuous, from -celeba-dir)")
	fs.StringVar(&c.celebaDir, "celeba-dir", "", "-data celeba: the `folder` of PNG or JPEG images, read in lexical order of names (empty: $"+data.CelebADirEnv+")")
	fs.IntVar(&c.celebaSize, "celeba-size", data.DefaultImageSize, "-data celeba: the images' side in pixels (the paper's 64); every image must be this size")
	fs.IntVar(&c.celebaTest, "celeba-test", 0, "-data celeba: test images, the lexically last files (0: CelebA's own test partition if the folder holds its 202,599 images by name, else the last tenth)")
	var priorFlag string
	fs.StringVar(&c.proposal, "proposal", "full", "proposal: full (App. D.2's VAE), small (Table 2's small VAE) or convhvae (the ConvHVAE of Table 1, binary data only)")
	fs.StringVar(&priorFlag, "proposal-prior", "gaussian", "the proposal's prior over its (top) latent: gaussian, trs, snis, his or lars (Table 1's VAE and ConvHVAE w/ EIM prior rows)")
	fs.IntVar(&c.priorK, "prior-K", 1024, "the proposal's EIM prior: SNIS's K, TRS's T, LARS's draws per step (its T is -lars-T, HIS's -his-T)")
	fs.IntVar(&c.convFilters, "conv-filters", 32, "ConvHVAE's filters per convolution")
	fs.StringVar(&modelFlag, "model", "snis", "EIMs over the data: snis, lars, his (continuous data only), a comma-separated list, all, or none (the proposal alone)")
	fs.StringVar(&gradFlag, "candidate-grad", "pathwise", "SNIS's gradient through binary candidates: pathwise (none), vimco or gumbel")
	fs.IntVar(&c.proposalSteps, "proposal-steps", 60_000, "training steps of the proposal VAE")
	fs.IntVar(&c.steps, "steps", 60_000, "training steps of each EIM on top of the proposal")
	fs.IntVar(&c.batch, "batch", 128, "training batch size")
	fs.Float64Var(&c.lr, "lr", 3e-4, "Adam's learning rate (dropped to a third at a tenth of each phase's steps, App. D.2's schedule scaled)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.IntVar(&c.latent, "latent", 0, "latent dimension of the proposal (0: 50 for full, 10 for small)")
	fs.StringVar(&hiddenFlag, "hidden", "", "hidden widths of the proposal's encoder and decoder (empty: 300,300 for full, 20 for small)")
	fs.StringVar(&energyHiddenFlag, "energy-hidden", "100,100", "hidden widths of the energy MLP (tanh), and of HIS's q(ρ_T | x) network")
	fs.IntVar(&c.K, "K", 0, "SNIS's candidates and LARS's draws per step for Z (0: 1024 on binary, 128 on continuous data)")
	fs.IntVar(&c.larsT, "lars-T", 100, "LARS's truncation T")
	fs.IntVar(&c.hisT, "his-T", vae.ContinuousHIST, "HIS's leapfrog steps")
	fs.Float64Var(&c.annealFrac, "anneal-frac", 0.01, "fraction of the proposal's steps over which its KL weight rises from 0 to 1; 0: no annealing")
	fs.Float64Var(&c.hisAlpha, "his-alpha", 0.9995, "HIS's initial temperatures α_t, in (0, 1)")
	fs.Float64Var(&c.hisEps, "his-eps", 0.01, "HIS's initial step size in every dimension, > 0")
	fs.IntVar(&c.larsZDraws, "lars-z-draws", 1_000_000, "proposal draws behind LARS's plug-in Z in the test evaluation")
	fs.IntVar(&c.evalSamples, "eval-samples", 1000, "S of the test bound (Tables 1 and 2: 1000)")
	fs.IntVar(&c.testImages, "test-images", 0, "test images evaluated, the first ones of the test split (0: all 10,000)")
	fs.IntVar(&c.every, "checkpoint-every", 1000, "save a checkpoint every this many steps (and at the end, and on SIGINT)")
	fs.StringVar(&c.out, "out", "results-eimdata", "output `directory`")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors (no progress bar)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	v := newChecker(fs)
	var err error
	if _, err := parseList(c.data, eimdataDataOrder); err != nil || strings.Contains(c.data, ",") || c.data == "all" {
		v.failf("-data %q: want one of %s", c.data, strings.Join(eimdataDataOrder, ", "))
	}
	if c.data == "celeba" {
		if c.celebaDir == "" {
			c.celebaDir = os.Getenv(data.CelebADirEnv)
		}
		if c.celebaDir == "" {
			v.failf("-data celeba needs -celeba-dir or $%s: the folder of your CelebA images (none ships with eimkit)", data.CelebADirEnv)
		}
		if c.celebaSize < 1 || c.celebaSize > 1<<16 {
			v.failf("-celeba-size %d: want 1 … 65536", c.celebaSize)
		}
		v.atLeast("celeba-test", c.celebaTest, 0)
	} else {
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "celeba-") {
				v.failf("-%s is for -data celeba", f.Name)
			}
		})
	}
	switch {
	case c.proposal != "full" && c.proposal != "small" && c.proposal != "convhvae":
		v.failf("-proposal %q: want full, small or convhvae", c.proposal)
	case c.proposal == "convhvae" && c.continuous():
		v.failf("-proposal convhvae has a Bernoulli decoder: use -data dynamic-mnist")
	}
	if pk, err := vae.ParsePriorKind(priorFlag); err != nil {
		v.failf("-proposal-prior %q: want gaussian, trs, snis, his or lars", priorFlag)
	} else {
		c.prior = pk
	}
	v.atLeast("prior-K", c.priorK, 1)
	v.atLeast("conv-filters", c.convFilters, 1)
	if modelFlag == "none" {
		c.models = nil // the proposal alone
	} else if c.models, err = parseList(modelFlag, eimdataModelOrder); err != nil {
		v.failf("-model: %v", err)
	}
	if !c.continuous() && modelFlag == "all" {
		c.models = []string{"snis", "lars"} // all that binary data allows
	}
	for _, m := range c.models {
		if m == "his" && !c.continuous() {
			v.failf("-model his needs continuous data (-data continuous-mnist, continuous-fashion or celeba): HIS differentiates π̂ at x₀")
		}
	}
	if c.grad, err = vae.ParseCandidateGradient(gradFlag); err != nil {
		v.failf("-candidate-grad %q: want pathwise, vimco or gumbel", gradFlag)
	}
	if c.continuous() && c.grad != vae.CandidatePathwise {
		v.failf("-candidate-grad %s is for binary data: continuous candidates are reparameterized", gradFlag)
	}
	if hiddenFlag != "" {
		if c.hidden, err = parseWidths(hiddenFlag); err != nil {
			v.failf("-hidden %q: %v", hiddenFlag, err)
		}
	}
	if c.energyHidden, err = parseWidths(energyHiddenFlag); err != nil {
		v.failf("-energy-hidden %q: %v", energyHiddenFlag, err)
	}
	v.atLeast("proposal-steps", c.proposalSteps, 1)
	v.atLeast("steps", c.steps, 1)
	v.atLeast("batch", c.batch, 1)
	v.positive("lr", c.lr)
	v.atLeast("latent", c.latent, 0)
	v.atLeast("K", c.K, 0)
	v.atLeast("lars-T", c.larsT, 1)
	v.atLeast("his-T", c.hisT, 1)
	if !(c.hisAlpha > 0 && c.hisAlpha < 1) {
		v.failf("-his-alpha %v: want a value in (0, 1)", c.hisAlpha)
	}
	v.positive("his-eps", c.hisEps)
	if !(c.annealFrac >= 0 && c.annealFrac <= 1) {
		v.failf("-anneal-frac %v: want a fraction in [0, 1]", c.annealFrac)
	}
	v.atLeast("lars-z-draws", c.larsZDraws, 1)
	v.atLeast("eval-samples", c.evalSamples, 1)
	v.atLeast("test-images", c.testImages, 0)
	v.atLeast("checkpoint-every", c.every, 1)
	v.nonEmpty("out", c.out)
	if err := v.done(); err != nil {
		return nil, err
	}
	if c.K == 0 {
		c.K = 1024
		if c.continuous() {
			c.K = vae.ContinuousSNISK
		}
	}
	return &c, nil
}

// runEIMData is the eimdata command.
func runEIMData(ctx context.Context, args []string) error {
	cfg, err := parseEIMDataFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// proposalConfig returns the proposal VAE's vae.Config.
func (c *eimdataConfig) proposalConfig() vae.Config {
	var vc vae.Config
	if c.proposal == "small" {
		vc = vae.SmallContinuousConfig()
	}
	vc.Prior, vc.Data = c.prior, c.dim()
	vc.K, vc.TRST, vc.LARST, vc.HIST, vc.LARSEvalDraws = c.priorK, c.priorK, c.larsT, c.hisT, c.larsZDraws
	if c.latent > 0 {
		vc.Latent = c.latent
	}
	if c.hidden != nil {
		vc.EncoderHidden, vc.DecoderHidden, vc.HISQHidden = c.hidden, c.hidden, c.hidden
	}
	if c.prior != vae.Gaussian {
		vc.EnergyHidden = c.energyHidden
	}
	return vc
}

// convConfig returns the ConvHVAE's configuration: -hidden's first width
// is its dense layers' width.
func (c *eimdataConfig) convConfig() vae.ConvConfig {
	cc := vae.ConvConfig{Config: c.proposalConfig(), Filters: c.convFilters}
	if c.hidden != nil {
		cc.Hidden = c.hidden[0]
	}
	return cc
}

// propName names the proposal in directories and the paper's table:
// vae, small-vae or convhvae, with -<prior> for an EIM prior.
func (c *eimdataConfig) propName() string {
	n := map[string]string{"full": "vae", "small": "small-vae", "convhvae": "convhvae"}[c.proposal]
	if c.prior != vae.Gaussian {
		n += "-" + string(c.prior)
	}
	return n
}

// proposalIdentity is the settings that determine the proposal's
// training.
func (c *eimdataConfig) proposalIdentity() map[string]string {
	vc := c.proposalConfig()
	id := map[string]string{
		"format": "eimkit-eimdata/1", "data": c.data, "proposal": c.proposal, "seed": strconv.FormatUint(c.seed, 10),
		"steps": strconv.Itoa(c.proposalSteps), "batch": strconv.Itoa(c.batch), "lr": strconv.FormatFloat(c.lr, 'g', -1, 64),
		"latent": strconv.Itoa(vc.Latent), "hidden": intsString(vc.EncoderHidden), "prior": string(c.prior),
	}
	if c.proposal == "convhvae" {
		id["conv-filters"] = strconv.Itoa(c.convFilters)
	}
	if c.annealFrac != 0.01 { // absent from the identities of runs made before the flag
		id["anneal-frac"] = strconv.FormatFloat(c.annealFrac, 'g', -1, 64)
	}
	switch c.prior {
	case vae.SNIS, vae.TRS:
		id["prior-K"] = strconv.Itoa(c.priorK)
	case vae.LARS:
		id["prior-K"], id["lars-T"] = strconv.Itoa(c.priorK), strconv.Itoa(c.larsT)
	case vae.HIS:
		id["his-T"] = strconv.Itoa(c.hisT)
	}
	if c.prior != vae.Gaussian {
		id["energy-hidden"] = intsString(c.energyHidden)
	}
	if c.data == "celeba" {
		// The folder's path may move; its images and split may not.
		id["celeba-size"], id["celeba-split"], id["celeba-pixels-sha256"] = strconv.Itoa(c.celebaSize), c.celebaSplit, c.celebaSum
	}
	return id
}

// eimName is the directory and row name of an EIM run.
func (c *eimdataConfig) eimName(model string) string {
	if model == "snis" && c.grad != vae.CandidatePathwise {
		return model + "-" + c.grad.String()
	}
	return model
}

// eimDir is an EIM run's directory, beside its proposal's (two levels
// under -out, where the harness removes leftover temporary files).
func (c *eimdataConfig) eimDir(model string) string {
	return filepath.Join(c.out, c.data, c.propName()+"+"+c.eimName(model))
}

// eimIdentity is the settings that determine an EIM's training: the
// proposal's (its starting point) and the EIM's own.
func (c *eimdataConfig) eimIdentity(model string) map[string]string {
	id := map[string]string{}
	for k, v := range c.proposalIdentity() {
		id["proposal."+k] = v
	}
	id["model"], id["steps"], id["energy-hidden"] = model, strconv.Itoa(c.steps), intsString(c.energyHidden)
	switch model {
	case "snis":
		id["K"], id["candidate-grad"] = strconv.Itoa(c.K), c.grad.String()
	case "lars":
		id["K"], id["lars-T"] = strconv.Itoa(c.K), strconv.Itoa(c.larsT)
	case "his":
		id["his-T"], id["his-alpha"] = strconv.Itoa(c.hisT), strconv.FormatFloat(c.hisAlpha, 'g', -1, 64)
		// Version 2 starts q(ρ_T | x) at N(0, I) (vae.NewDataHIS).
		id["his-eps"], id["his-init"] = strconv.FormatFloat(c.hisEps, 'g', -1, 64), "2"
	}
	return id
}

// schedule is App. D.2's learning-rate drop scaled to a phase's steps;
// the proposal's KL weight is annealed over its first -anneal-frac.
func (c *eimdataConfig) schedule(steps int, anneal bool) vae.Schedule {
	s := vae.Schedule{Steps: steps, LR: c.lr, DropLR: c.lr / 3, AnnealFrac: c.annealFrac, DropFrac: 0.1}
	if !anneal || c.annealFrac == 0 {
		s.AnnealFrac = -1
	}
	return s
}

// batchAt returns training batch step, the same for every run of a data
// set: binarized (dynamic MNIST) or dequantized, logit-transformed and
// centered (continuous data) with a stream of (seed, data, step).
func (c *eimdataConfig) batchAt(b *data.Batcher, step int) *ad.Tensor {
	train := c.loaded.Train
	idx := b.Indices(step)
	rng := rand.New(stream(c.seed, "eimdata", "pixels", c.data, strconv.Itoa(step)))
	if !c.continuous() {
		return train.BinarizedBatch(rng, idx)
	}
	s, _ := data.LogitTransform{}.Batch(train.DequantizedBatch(rng, idx))
	return vae.CenterLogits(s, c.logitMean)
}

// testSet returns the model-space test images x and, for continuous
// data, their dequantized intensities y (for the pixel-scale term).
func (c *eimdataConfig) testSet() (x, y *ad.Tensor) {
	test := c.loaded.Test
	n := test.Len()
	if c.testImages > 0 {
		n = min(n, c.testImages)
	}
	rng := rand.New(stream(c.seed, "eimdata", "test-pixels", c.data))
	if !c.continuous() {
		return test.BinarizedBatch(rng, data.Range(0, n)), nil
	}
	y = test.DequantizedBatch(rng, data.Range(0, n))
	s, _ := data.LogitTransform{}.Batch(y)
	return vae.CenterLogits(s, c.logitMean), y
}

// proposalModel is what the command needs of a proposal: *vae.Model or
// *vae.ConvHVAE.
type proposalModel interface {
	vae.DataProposal
	TrainStep(rng *rand.Rand, opt *nn.Adam, params []*ad.Tensor, x *ad.Tensor, beta float64) (float64, error)
	Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error)
}

// newProposal builds the proposal from its initialization stream.
func (c *eimdataConfig) newProposal() (proposalModel, error) {
	rng := rand.New(stream(c.seed, "eimdata", "init", c.data, c.propName()))
	if c.proposal == "convhvae" {
		return vae.NewConvHVAE(rng, c.convConfig(), c.loaded.Train.Mean())
	}
	if c.continuous() {
		return vae.NewGaussianModel(rng, c.proposalConfig(), nil) // on centered logits
	}
	return vae.NewModel(rng, c.proposalConfig(), c.loaded.Train.Mean())
}

// proposalRun returns the proposal's harness run training m.
func (c *eimdataConfig) proposalRun(m proposalModel, prog *experiment.Progress) *experiment.Run {
	sched := c.schedule(c.proposalSteps, true)
	opt := sched.Adam()
	ps := m.Params()
	params := ps.Tensors()
	dir := filepath.Join(c.out, c.data, c.propName())
	run := &experiment.Run{Dir: dir, Name: c.data + "/" + c.propName(), Identity: c.proposalIdentity(),
		Steps: c.proposalSteps, CheckpointEvery: c.every, Params: ps, Adam: opt, Progress: prog,
		RNG: stream(c.seed, "eimdata", "train", c.data, c.propName())}
	var prior vae.Prior
	switch m := m.(type) {
	case *vae.Model:
		prior = m.Prior
	case *vae.ConvHVAE:
		prior = m.Prior
	}
	if lp, ok := prior.(*vae.LARSPrior); ok {
		run.State = larsState{lp}
	}
	rng := rand.New(run.RNG)
	batcher := &data.Batcher{N: c.loaded.Train.Len(), Size: c.batch, Seed: stream(c.seed, "eimdata", "batches", c.data).Uint64()}
	run.Step = func(_ context.Context, step int) (experiment.Metrics, error) {
		v, err := m.TrainStep(rng, opt, params, c.batchAt(batcher, step), sched.KLWeight(step))
		if err != nil && !errors.Is(err, vae.ErrNotFinite) {
			return experiment.Metrics{}, err
		}
		return experiment.Metrics{Objective: v}, nil // a non-finite value: the harness reports it
	}
	return run
}

// dataEIM is what the command needs of DataSNIS, DataLARS and DataHIS.
type dataEIM interface {
	Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor
	Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error)
}

// newEIM builds the EIM of model over proposal p from its own stream.
func (c *eimdataConfig) newEIM(model string, p vae.DataProposal) (dataEIM, func(*rand.Rand, int) *ad.Tensor, *vae.DataLARS) {
	rng := rand.New(stream(c.seed, "eimdata", "init-eim", c.data, c.propName(), model))
	var mean *ad.Tensor
	d := c.dim()
	if !c.continuous() {
		mean = ad.New(c.loaded.Train.Mean(), d)
	}
	switch model {
	case "snis":
		m := &vae.DataSNIS{Proposal: p, Energy: eimfamily.NewMLPEnergy(rng, d, 0, c.energyHidden...), Mean: mean, K: c.K, Gradient: c.grad}
		return m, m.Sample, nil
	case "lars":
		m := vae.NewDataLARS(rng, p, d, mean, c.larsT, c.K, c.larsZDraws, c.energyHidden...)
		return m, func(r *rand.Rand, n int) *ad.Tensor { return m.Sample(r, d, n) }, m
	default: // his
		m := vae.NewDataHIS(rng, p, d, mean, c.hisT, c.hisAlpha, c.hisEps, c.energyHidden, c.energyHidden)
		return m, m.Sample, nil
	}
}

// dataLARSState carries DataLARS's moving average of Z through a
// checkpoint.
type dataLARSState struct{ m *vae.DataLARS }

func (s dataLARSState) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(s.m.ZAvg, 'g', -1, 64)), nil
}

func (s dataLARSState) UnmarshalText(b []byte) error {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("LARS's moving average of Z: %w", err)
	}
	s.m.ZAvg = v
	return nil
}

// eimdataRow is one row of results.json: the proposal VAE or an EIM on
// top of it.
type eimdataRow struct {
	Data     string `json:"data"`
	Proposal string `json:"proposal"`
	// Model is "vae" for the proposal itself, else snis, lars or his
	// (snis-vimco, snis-gumbel with another -candidate-grad).
	Model string `json:"model"`
	Label string `json:"label"`
	Steps int    `json:"steps"`
	Seed  uint64 `json:"seed"`
	// TestBound is the mean over the test images of the S-sample bound
	// (LARS: a plug-in estimate at an estimated Z), on the 8-bit pixel
	// scale for continuous data; TestBoundStdErr its standard error over
	// the images.
	TestBound       jsonFloat `json:"test_bound"`
	TestBoundStdErr jsonFloat `json:"test_bound_stderr"`
	Scale           string    `json:"scale"`
	EvalSamples     int       `json:"eval_samples"`
	TestImages      int       `json:"test_images"`
	// Paper is the paper's number for the row (Table 1's dynamic MNIST
	// column or Table 2), absent if it reports none.
	Paper       *float64 `json:"paper,omitempty"`
	PaperStdErr *float64 `json:"paper_stderr,omitempty"`
	// OwnProposal (an EIM's row only) is the bound of the EIM's own
	// proposal alone after the EIM's training, which trains it too: the
	// EIM's gain over it is the energy's.
	OwnProposal       *jsonFloat `json:"own_proposal_bound,omitempty"`
	OwnProposalStdErr *jsonFloat `json:"own_proposal_bound_stderr,omitempty"`
	// EnergyGain (an EIM's row only) is the mean over the test images of
	// the EIM's bound minus its own proposal's, image by image, with the
	// standard error of that paired difference: both bounds vary mostly
	// with the image, so the paired error is far smaller than either
	// bound's own and is what says whether the energy helped.
	EnergyGain       *jsonFloat `json:"energy_gain,omitempty"`
	EnergyGainStdErr *jsonFloat `json:"energy_gain_stderr,omitempty"`
	// HIS (HIS rows only) is the learned dynamics after training.
	HIS          *hisState         `json:"his,omitempty"`
	TrainSeconds float64           `json:"train_seconds"`
	EvalSeconds  float64           `json:"eval_seconds"`
	Settings     map[string]string `json:"settings"`
}

// hisLogEvery is how often (in steps) an HIS run's metrics.jsonl records
// its dynamics' step sizes and temperatures (hisState.values).
const hisLogEvery = 100

// hisState summarizes HIS's learned dynamics: the step size ε (one per
// dimension: its mean, smallest and largest) and the temperatures α₀, …,
// α_T. They say how far the dynamics move x, hence whether the energy can
// shape the density at all (docs/table2.md, "HIS's starting point").
type hisState struct {
	StepSizeMean float64   `json:"step_size_mean"`
	StepSizeMin  float64   `json:"step_size_min"`
	StepSizeMax  float64   `json:"step_size_max"`
	Alphas       []float64 `json:"alphas"`
}

func hisDynamics(h *vae.DataHIS) *hisState {
	eps := h.Model.StepSize()
	s := &hisState{StepSizeMin: math.Inf(1), StepSizeMax: math.Inf(-1), Alphas: h.Model.Alphas()}
	for _, v := range eps {
		s.StepSizeMean += v / float64(len(eps))
		s.StepSizeMin = min(s.StepSizeMin, v)
		s.StepSizeMax = max(s.StepSizeMax, v)
	}
	return s
}

// values is the metrics.jsonl record of s.
func (s *hisState) values() map[string]float64 {
	v := map[string]float64{"his_eps_mean": s.StepSizeMean, "his_eps_min": s.StepSizeMin, "his_eps_max": s.StepSizeMax}
	for t, a := range s.Alphas {
		v[fmt.Sprintf("his_alpha_%d", t)] = a
	}
	return v
}

// eimdataResults is results.json.
type eimdataResults struct {
	Note    string        `json:"note"`
	Seconds float64       `json:"seconds"`
	Rows    []*eimdataRow `json:"rows"`
}

// eimdataPaper is the paper's value and standard error for (data,
// proposal, model): Table 1's dynamic MNIST column and Table 2.
var eimdataPaper = map[string][2]float64{
	"dynamic-mnist/vae/vae":             {-84.82, 0.12},
	"dynamic-mnist/vae-trs/vae":         {-82.74, 0.10},
	"dynamic-mnist/vae-snis/vae":        {-82.52, 0.03},
	"dynamic-mnist/vae-his/vae":         {-82.43, 0.05},
	"dynamic-mnist/vae-lars/vae":        {-83.03, math.NaN()},
	"dynamic-mnist/convhvae/vae":        {-81.14, 0.04},
	"dynamic-mnist/convhvae-trs/vae":    {-80.31, 0.04},
	"dynamic-mnist/convhvae-snis/vae":   {-80.19, 0.07},
	"dynamic-mnist/convhvae-his/vae":    {-80.51, 0.07},
	"dynamic-mnist/convhvae-lars/vae":   {-80.30, math.NaN()},
	"dynamic-mnist/vae/snis":            {-83.43, 0.07},
	"dynamic-mnist/convhvae/snis":       {-79.91, 0.05},
	"dynamic-mnist/vae/lars":            {-83.63, math.NaN()},
	"continuous-mnist/small-vae/vae":    {-1258.81, 0.49},
	"continuous-mnist/small-vae/lars":   {-1254.27, 0.62},
	"continuous-mnist/small-vae/snis":   {-1253.67, 0.29},
	"continuous-mnist/small-vae/his":    {-1186.06, 6.12},
	"continuous-mnist/vae/vae":          {-991.46, 0.39},
	"continuous-mnist/vae/lars":         {-987.62, 0.16},
	"continuous-mnist/vae/snis":         {-988.29, 0.20},
	"continuous-mnist/vae/his":          {-990.68, 0.41},
	"continuous-fashion/small-vae/vae":  {-2467.91, 0.68},
	"continuous-fashion/small-vae/lars": {-2463.71, 0.24},
	"continuous-fashion/small-vae/snis": {-2463.60, 0.31},
	"continuous-fashion/small-vae/his":  {-2419.83, 2.47},
	"continuous-fashion/vae/vae":        {-2242.50, 0.70},
	"continuous-fashion/vae/lars":       {-2236.87, 1.36},
	"continuous-fashion/vae/snis":       {-2238.04, 0.43},
	"continuous-fashion/vae/his":        {-2244.66, 1.47},
	"celeba/small-vae/vae":              {-60130.94, 34.15},
	"celeba/small-vae/lars":             {-60116.65, 1.14},
	"celeba/small-vae/snis":             {-60115.99, 19.75},
	"celeba/small-vae/his":              {-59711.30, 53.08},
	"celeba/vae/vae":                    {-57471.48, 11.65},
	"celeba/vae/lars":                   {-57488.21, 18.41},
	"celeba/vae/snis":                   {-57470.42, 6.54},
	"celeba/vae/his":                    {-56643.64, 8.78},
}

// rowLabel is the paper's name of a row.
func (c *eimdataConfig) rowLabel(model string) string {
	vaeName := map[string]string{"full": "VAE", "small": "small VAE", "convhvae": "ConvHVAE"}[c.proposal]
	prior := map[vae.PriorKind]string{vae.Gaussian: "Gaussian", vae.TRS: "TRS", vae.SNIS: "SNIS", vae.HIS: "HIS", vae.LARS: "LARS"}[c.prior]
	if model == "vae" {
		switch {
		case c.continuous() && c.prior == vae.Gaussian && c.proposal == "small":
			return "Small VAE"
		case c.continuous() && c.prior == vae.Gaussian:
			return "VAE"
		case c.proposal == "small":
			return "Small VAE w/ " + prior + " prior"
		}
		return vaeName + " w/ " + prior + " prior"
	}
	name := strings.ToUpper(strings.SplitN(model, "-", 2)[0]) + " w/ " + vaeName + " proposal"
	if c.prior != vae.Gaussian {
		name += " (its prior " + prior + ")"
	}
	if c.grad != vae.CandidatePathwise && strings.HasPrefix(model, "snis") {
		name += " (" + c.grad.String() + " gradient)"
	}
	return name
}

// evaluate computes the test bound of eval (model-space values per image)
// from a stream of the run's name (not of dir, which holds -out),
// converts it to the pixel scale for continuous data, writes the sample
// grid and the row's result.json under dir, and returns the row. For an
// EIM, prop (else nil) is its proposal's own evaluation after the EIM's
// training, which trains the proposal too: the EIM's gain over it is the
// energy's, its gain over phase 1's proposal includes the proposal's
// further training.
func (c *eimdataConfig) evaluate(ctx context.Context, dir, name, model string, steps int, settings map[string]string, rec *experiment.Record,
	eval, prop func(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error), sample func(*rand.Rand, int) *ad.Tensor,
	his *hisState) (*eimdataRow, error) {
	start := time.Now()
	x, y := c.testSet()
	bound := func(f func(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error), stream *rand.PCG) ([]float64, error) {
		v, err := f(ctx, rand.New(stream), x, c.evalSamples)
		if err != nil {
			return nil, err
		}
		if c.continuous() {
			v = vae.PixelLogLik(v, y, data.LogitTransform{})
		}
		return v, nil
	}
	v, err := bound(eval, stream(c.seed, "eimdata", "eval", name))
	if err != nil {
		return nil, err
	}
	mean, se := meanStdErr(v)
	perImage := testBounds{Bounds: v}
	scale := "nats (binary images)"
	if c.continuous() {
		scale = "nats on the 8-bit pixel scale"
	}
	row := &eimdataRow{Data: c.data, Proposal: c.propName(), Model: model, Label: c.rowLabel(model), Steps: steps, Seed: c.seed,
		TestBound: jsonFloat(mean), TestBoundStdErr: jsonFloat(se), Scale: scale, EvalSamples: c.evalSamples,
		TestImages: x.Dim(0), HIS: his, TrainSeconds: rec.Seconds, Settings: settings}
	if prop != nil {
		vp, err := bound(prop, stream(c.seed, "eimdata", "eval-own-proposal", name))
		if err != nil {
			return nil, err
		}
		pm, pse := meanStdErr(vp)
		row.OwnProposal, row.OwnProposalStdErr = (*jsonFloat)(&pm), (*jsonFloat)(&pse)
		gain := make([]float64, len(v))
		for i := range v {
			gain[i] = v[i] - vp[i]
		}
		gm, gse := meanStdErr(gain)
		row.EnergyGain, row.EnergyGainStdErr = (*jsonFloat)(&gm), (*jsonFloat)(&gse)
		perImage.OwnProposal = vp
	}
	row.EvalSeconds = time.Since(start).Seconds()
	key := c.data + "/" + c.propName() + "/" + strings.SplitN(model, "-", 2)[0]
	if p, ok := eimdataPaper[key]; ok && (model == "vae" || !strings.Contains(model, "-")) {
		row.Paper = &p[0]
		if !math.IsNaN(p[1]) {
			row.PaperStdErr = &p[1]
		}
	}
	if err := c.writeSamples(filepath.Join(dir, "samples.png"), samplesOneByOne(sample, rand.New(stream(c.seed, "eimdata", "samples", name)), 64)); err != nil {
		return nil, err
	}
	if err := experiment.WriteJSON(filepath.Join(dir, "test_bounds.json"), perImage); err != nil {
		return nil, err
	}
	if err := experiment.WriteJSON(filepath.Join(dir, "result.json"), row); err != nil {
		return nil, err
	}
	return row, nil
}

// testBounds is a run's test_bounds.json: the bound of every test image,
// in the order of the test set and on the row's scale, so that two runs
// evaluated on the same images (every run of a data set and seed is) can
// be compared image by image.
type testBounds struct {
	Bounds      []float64 `json:"bounds"`
	OwnProposal []float64 `json:"own_proposal_bounds,omitempty"`
}

// samplesOneByOne draws n samples one call at a time and stacks them,
// [n, dx]: SNIS's Sample draws K candidates per sample at once, 64·1024
// decoded images (gigabytes through a ConvHVAE) if asked for all 64.
func samplesOneByOne(sample func(*rand.Rand, int) *ad.Tensor, rng *rand.Rand, n int) *ad.Tensor {
	var out []float64
	for range n {
		out = append(out, sample(rng, 1).Data()...)
	}
	return ad.New(out, n, len(out)/n)
}

// writeSamples writes 64 samples as a grid: binary samples as they are,
// continuous ones mapped back from centered logits to intensities; gray
// images as writeSampleGridPNG draws them, RGB ones (CelebA) in colour.
func (c *eimdataConfig) writeSamples(path string, x *ad.Tensor) error {
	vals := append([]float64(nil), x.Data()...)
	if c.continuous() {
		d := len(c.logitMean)
		for i := range vals {
			vals[i] += c.logitMean[i%d]
		}
		data.LogitTransform{}.Inverse(vals, vals)
	}
	tr := c.loaded.Train
	if tr.Channels == 3 {
		return writeRGBGridPNG(path, vals, x.Dim(0), tr.Height, tr.Width)
	}
	return writeSampleGridPNG(path, vals, x.Dim(0), tr.Height, tr.Width)
}

// writeRGBGridPNG writes n RGB images of h×w×3 values in [0, 1] (row
// major, channel last, one after another) as a square grid, each pixel
// 2×2 for images under 32 pixels wide, with a 2-pixel gray gap.
func writeRGBGridPNG(path string, vals []float64, n, h, w int) error {
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	scale := 1
	if w < 32 {
		scale = 2
	}
	const gap = 2
	img := image.NewRGBA(image.Rect(0, 0, cols*(w*scale+gap)+gap, rows*(h*scale+gap)+gap))
	for i := range img.Pix {
		img.Pix[i] = 128
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	level := func(v float64) uint8 { return uint8(math.Round(255 * math.Min(1, math.Max(0, v)))) }
	for k := range n {
		x0, y0 := gap+(k%cols)*(w*scale+gap), gap+(k/cols)*(h*scale+gap)
		for y := range h {
			for x := range w {
				p := vals[((k*h+y)*w+x)*3:]
				col := color.RGBA{R: level(p[0]), G: level(p[1]), B: level(p[2]), A: 255}
				for dy := range scale {
					for dx := range scale {
						img.SetRGBA(x0+x*scale+dx, y0+y*scale+dy, col)
					}
				}
			}
		}
	}
	return experiment.WriteFile(path, func(w io.Writer) error { return png.Encode(w, img) })
}

// readRow returns the row saved in dir if its settings are settings.
func readRow(dir string, settings map[string]string) *eimdataRow {
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return nil // missing (or unreadable): evaluate again
	}
	var row eimdataRow
	if json.Unmarshal(b, &row) != nil || !maps.Equal(row.Settings, settings) {
		return nil
	}
	return &row
}

// evalSettings adds the evaluation's settings to a run's identity.
func (c *eimdataConfig) evalSettings(id map[string]string, model string) map[string]string {
	s := map[string]string{}
	for k, v := range id {
		s[k] = v
	}
	// eval-format 2: EIM rows carry their own proposal's bound; a row
	// written without it is evaluated again.
	s["eval-format"] = "2"
	s["eval-samples"] = strconv.Itoa(c.evalSamples)
	s["test-images"] = strconv.Itoa(c.testImages)
	if model == "lars" {
		s["lars-z-draws"] = strconv.Itoa(c.larsZDraws)
	}
	return s
}

// load loads the data set and, for continuous data, the logit of its
// dequantized training mean. A missing or corrupt file, settings the data
// cannot serve, or settings whose estimated memory does not fit (checked
// before the images are decoded) are reported before anything is created
// under -out.
func (c *eimdataConfig) load() error {
	var sp *data.Splits
	if c.data == "celeba" {
		var err error
		if sp, err = c.loadCelebA(); err != nil {
			return err
		}
	} else {
		if err := c.checkMemory(mnistImages, 10_000); err != nil {
			return err
		}
		name := data.NameDynamicMNIST
		if c.data == "continuous-fashion" {
			name = data.NameFashionMNIST
		}
		var err error
		if sp, err = data.LoadImageSet(name); err != nil {
			return err
		}
	}
	if c.batch > sp.Train.Len() {
		return &usageErr{msg: fmt.Sprintf("eimdata: -batch %d is more than the %d training images", c.batch, sp.Train.Len())}
	}
	if c.testImages > sp.Test.Len() {
		return &usageErr{msg: fmt.Sprintf("eimdata: -test-images %d is more than the %d test images", c.testImages, sp.Test.Len())}
	}
	c.loaded = sp
	if c.continuous() {
		c.logitMean = make([]float64, sp.Train.Dim())
		data.LogitTransform{}.Forward(c.logitMean, sp.Train.DequantizedMean())
	}
	return nil
}

// mnistImages is the number of images of the MNIST and Fashion-MNIST
// files (training and test), all held in memory.
const mnistImages = 70_000

// CelebA's own partition (list_eval_partition.txt; tfds's celeb_a, which
// the authors' code loads, follows it): images 000001–162770 are the
// training set, 162771–182637 validation, 182638–202599 the test set.
const (
	celebaImages     = 202_599
	celebaTrainLast  = 162_770
	celebaTestImages = 19_962
)

// celebaSplit splits the sorted file names of a CelebA folder: the
// training images are names[:trainEnd], the test images names[testStart:].
// With test = 0 it is CelebA's own partition if the names are exactly
// CelebA's (000001 … 202599 with any image extension; validation unused),
// else the last tenth (rounded up) is the test set; test > 0 takes the
// last test files. how describes the split for the run's identity.
func celebaSplit(names []string, test int) (trainEnd, testStart int, how string, err error) {
	n := len(names)
	if test == 0 && celebaNames(names) {
		return celebaTrainLast, celebaImages - celebaTestImages, "celeba-partition", nil
	}
	if test == 0 {
		test = (n + 9) / 10
	}
	if test >= n {
		return 0, 0, "", fmt.Errorf("-celeba-test %d leaves none of the %d images to train on", test, n)
	}
	return n - test, n - test, fmt.Sprintf("last-%d-of-%d", test, n), nil
}

// celebaNames reports whether names are CelebA's 202,599 file names.
func celebaNames(names []string) bool {
	if len(names) != celebaImages {
		return false
	}
	for i, name := range names {
		if strings.TrimSuffix(name, filepath.Ext(name)) != fmt.Sprintf("%06d", i+1) {
			return false
		}
	}
	return true
}

// loadCelebA lists -celeba-dir, splits it by name, checks the memory of
// the settings on that many images, then decodes them.
func (c *eimdataConfig) loadCelebA() (*data.Splits, error) {
	names, err := data.ImageDirFiles(c.celebaDir)
	if err != nil {
		return nil, err
	}
	trainEnd, testStart, how, err := celebaSplit(names, c.celebaTest)
	if err != nil {
		return nil, &usageErr{msg: fmt.Sprintf("eimdata: %s: %v", c.celebaDir, err)}
	}
	if err := c.checkMemory(len(names), len(names)-testStart); err != nil {
		return nil, err
	}
	all, err := data.LoadImageDir(c.celebaDir, c.celebaSize)
	if err != nil {
		return nil, err
	}
	if all.Len() != len(names) {
		return nil, fmt.Errorf("eimdata: %s changed while it was read: %d images listed, %d decoded", c.celebaDir, len(names), all.Len())
	}
	c.celebaSplit = how
	c.celebaSum, _ = all.Checksum()
	return &data.Splits{Train: all.Slice(0, trainEnd, "celeba/train"), Test: all.Slice(testStart, all.Len(), "celeba/test")}, nil
}

// checkMemory refuses settings whose estimated peak does not fit, for a
// data set of images images of which test are test images. Like the other
// commands' estimates (estimate.go) it counts the large tensors only: the
// images' bytes, the parameters with their gradients, Adam's moments and
// the checkpoint's encoding, and the larger of a training step (the
// networks over the batch and the EIM's candidates or leapfrog steps,
// kept for the backward pass) and the evaluation (the test images in
// model space and as intensities, a block of decoded samples, SNIS's
// candidates, LARS's 1024 draws at a time for Z, HIS's 40 samples of
// 100 images through its dynamics, and the S weights per image). The
// dimension D enters nearly every term: CelebA's 12,288 values per image
// against MNIST's 784.
func (c *eimdataConfig) checkMemory(images, test int) error {
	need, what := c.memory(images, test)
	return checkMemory("eimdata", toBytes(need), what)
}

// memory returns checkMemory's estimate in bytes and the settings it
// names.
func (c *eimdataConfig) memory(images, test int) (need float64, what string) {
	d := float64(c.dim()) // at most 3·65536², no overflow
	latent, hidden := c.latent, c.hidden
	if latent == 0 {
		latent = 50
		if c.proposal == "small" {
			latent = 10
		}
	}
	if hidden == nil {
		hidden = []int{300, 300}
		if c.proposal == "small" {
			hidden = []int{20}
		}
	}
	if c.proposal == "convhvae" {
		hidden = []int{max(hidden[0], 32*c.convFilters)} // its dense layers and feature maps, roughly
	}
	last := float64(hidden[len(hidden)-1])
	encP, encPer := mlpCosts(c.dim(), hidden)
	decP, decPer := mlpCosts(latent, hidden)
	enP, enPer := mlpCosts(c.dim(), c.energyHidden)
	params := encP + last*2*float64(latent) + decP + last*2*d + enP
	if slices.Contains(c.models, "his") {
		qP, _ := mlpCosts(c.dim(), c.energyHidden)
		params += qP + float64(c.energyHidden[len(c.energyHidden)-1])*2*d
	}
	b, K, T, hT := float64(c.batch), float64(c.K), float64(c.larsT), float64(c.hisT)
	propPer := encPer + decPer + 4*d
	train := b * propPer
	for _, m := range c.models {
		switch m {
		case "snis":
			train = max(train, b*propPer+K*(decPer+2*d+enPer))
		case "lars":
			train = max(train, b*propPer+(K+T)*(decPer+2*d+enPer))
		case "his":
			train = max(train, b*propPer+4*b*(hT+1)*(4*d+enPer))
		}
	}
	train *= 3 // values, gradients and the backward pass's temporaries
	if test > 0 && c.testImages > 0 {
		test = min(test, c.testImages)
	}
	nt, S := float64(test), float64(c.evalSamples)
	eval := 3*nt*d + 2*192*(decPer+2*d) + 4096*4*float64(latent) + 100*encPer + 64*2*d + 2*S*nt
	extra := 0.0 // the largest EIM's own evaluation work
	for _, m := range c.models {
		switch m {
		case "snis":
			extra = max(extra, K*(decPer+d+enPer))
		case "lars":
			extra = max(extra, 1024*(decPer+2*d+enPer))
		case "his": // blocks of up to 40 samples of up to 100 images
			rows := min(40, S) * min(100, nt)
			extra = max(extra, rows*(d*(2*(hT+1)+4)+(hT+1)*enPer))
		}
	}
	eval += extra
	need = float64(images)*d + 5*f64*params + f64*max(train, eval)
	return need, fmt.Sprintf("-data %s (%d images of %.0f values) -proposal %s -hidden %s -batch %d -K %d -eval-samples %d",
		c.data, images, d, c.proposal, intsString(hidden), c.batch, c.K, c.evalSamples)
}

// run loads the data, trains (or resumes) the proposal and every EIM,
// evaluates them and writes the outputs.
func (c *eimdataConfig) run(ctx context.Context, stderr io.Writer) error {
	if err := c.load(); err != nil {
		return err
	}
	out, err := openOut(c.out)
	if err != nil {
		return err
	}
	defer out.Close()
	reportOut(stderr, c.quiet, out)
	start := time.Now()

	// The steps left, for the progress bar.
	total := 0
	probe, err := c.newProposal()
	if err != nil {
		return err
	}
	pr := c.proposalRun(probe, nil)
	done, err := pr.StepsDone()
	if err != nil {
		return err
	}
	total += c.proposalSteps - done
	for _, model := range c.models {
		r := &experiment.Run{Dir: c.eimDir(model), Identity: c.eimIdentity(model), Steps: c.steps}
		d, err := r.StepsDone()
		if err != nil {
			return err
		}
		total += c.steps - d
	}
	prog := experiment.NewProgress(stderr, total, c.quiet)
	prog.OnStep = c.onStep
	defer prog.Finish()

	var rows []*eimdataRow
	// Phase 1: the proposal.
	m, err := c.newProposal()
	if err != nil {
		return err
	}
	run := c.proposalRun(m, prog)
	settings := c.evalSettings(run.Identity, "vae")
	row := readRow(run.Dir, settings)
	if row == nil {
		run.Eval = func(ctx context.Context, rec *experiment.Record) error {
			row, err = c.evaluate(ctx, run.Dir, run.Name, "vae", c.proposalSteps, settings, rec, m.Eval, nil, m.SampleData, nil)
			return err
		}
	}
	if _, err := run.Do(ctx); err != nil {
		return c.stopped(err)
	}
	rows = append(rows, row)

	// Phase 2: each EIM, from the trained proposal.
	for _, model := range c.models {
		p, err := c.newProposal()
		if err != nil {
			return err
		}
		if _, err := c.proposalRun(p, nil).Train(ctx); err != nil { // restores the trained proposal
			return c.stopped(err)
		}
		e, sample, lars := c.newEIM(model, p)
		sched := c.schedule(c.steps, false)
		opt := sched.Adam()
		dir := c.eimDir(model)
		er := &experiment.Run{Dir: dir, Name: c.data + "/" + c.propName() + "+" + c.eimName(model), Identity: c.eimIdentity(model),
			Steps: c.steps, CheckpointEvery: c.every, Adam: opt, Progress: prog,
			RNG: stream(c.seed, "eimdata", "train-eim", c.data, c.propName(), c.eimName(model))}
		switch m := e.(type) {
		case *vae.DataSNIS:
			er.Params = m.Params()
		case *vae.DataLARS:
			er.Params = m.Params()
			er.State = dataLARSState{lars}
		case *vae.DataHIS:
			er.Params = m.Params()
		}
		params := er.Params.Tensors()
		rng := rand.New(er.RNG)
		batcher := &data.Batcher{N: c.loaded.Train.Len(), Size: c.batch, Seed: stream(c.seed, "eimdata", "eim-batches", c.data).Uint64()}
		er.Step = func(_ context.Context, step int) (experiment.Metrics, error) {
			v, err := vae.TrainStep(e, rng, opt, params, c.batchAt(batcher, step), 1)
			if err != nil && !errors.Is(err, vae.ErrNotFinite) {
				return experiment.Metrics{}, err
			}
			met := experiment.Metrics{Objective: v}
			if h, ok := e.(*vae.DataHIS); ok && (step+1)%hisLogEvery == 0 {
				met.Values = hisDynamics(h).values()
			}
			return met, nil
		}
		st := c.evalSettings(er.Identity, model)
		row := readRow(dir, st)
		if row == nil {
			er.Eval = func(ctx context.Context, rec *experiment.Record) error {
				var his *hisState
				if h, ok := e.(*vae.DataHIS); ok {
					his = hisDynamics(h)
				}
				row, err = c.evaluate(ctx, dir, er.Name, c.eimName(model), c.steps, st, rec, e.Eval, p.Eval, sample, his)
				return err
			}
		}
		if _, err := er.Do(ctx); err != nil {
			return c.stopped(err)
		}
		rows = append(rows, row)
	}
	prog.Finish()
	all := &eimdataResults{Note: eimdataNote(c.dim()), Seconds: time.Since(start).Seconds(), Rows: rows}
	if err := experiment.WriteJSON(filepath.Join(c.out, "results.json"), all); err != nil {
		return err
	}
	if err := experiment.WriteString(filepath.Join(c.out, "results.md"), eimdataMarkdown(all, c)); err != nil {
		return err
	}
	prog.Logf("wrote %s (%d rows, %.1f s)", filepath.Join(c.out, "results.md"), len(rows), all.Seconds)
	return nil
}

// stopped words an interruption as the other commands do.
func (c *eimdataConfig) stopped(err error) error {
	if errors.Is(err, errInterrupted) {
		return fmt.Errorf("eimdata stopped before writing results; training is saved, run the same command to resume: %w", errInterrupted)
	}
	return err
}

// eimdataNote is said in results.json and results.md, for images of d
// values.
func eimdataNote(d int) string {
	return "Bounds are S-sample IWAE-style lower bounds on the first test images, mean ± standard error over the images; " +
		fmt.Sprintf("continuous data on the 8-bit pixel scale (the logit transform's log-determinant and −%d·log 256 added). ", d) +
		"LARS's value is a plug-in estimate at an estimated Z. The paper's runs are far longer than a reduced budget."
}

// eimdataMarkdown lays the rows out like the paper's Table 1 (dynamic
// MNIST column) or Table 2, ours beside the paper's.
func eimdataMarkdown(all *eimdataResults, c *eimdataConfig) string {
	var b strings.Builder
	table := "Table 2"
	if !c.continuous() {
		table = "Table 1 (dynamic MNIST column)"
	}
	fmt.Fprintf(&b, "# EIMs over data with a VAE proposal: %s, %s\n\n", table, c.data)
	fmt.Fprintf(&b, "%s\n\n", all.Note)
	fmt.Fprintf(&b, "| Method | steps | S | test images | ours | its proposal alone | energy's gain (paired) | paper |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range all.Rows {
		paper := "—"
		if r.Paper != nil {
			paper = fmt.Sprintf("%.2f", *r.Paper)
			if r.PaperStdErr != nil {
				paper += fmt.Sprintf(" ± %.2f", *r.PaperStdErr)
			}
		}
		own := "—"
		if r.OwnProposal != nil {
			own = fmt.Sprintf("%.2f ± %.2f", float64(*r.OwnProposal), float64(*r.OwnProposalStdErr))
		}
		gain := "—"
		if r.EnergyGain != nil {
			gain = fmt.Sprintf("%+.2f ± %.2f", float64(*r.EnergyGain), float64(*r.EnergyGainStdErr))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.2f ± %.2f | %s | %s | %s |\n", r.Label, r.Steps, r.EvalSamples, r.TestImages,
			float64(r.TestBound), float64(r.TestBoundStdErr), own, gain, paper)
	}
	fmt.Fprintf(&b, "\nThe EIM rows train for their steps after the proposal's %d, starting from the trained proposal and training it "+
		"with the energy; \"its proposal alone\" is that proposal's own bound after the EIM's training, so the EIM's gain over it "+
		"is the energy's, and the proposal's further training is the rest of its gain over the first row. The energy's gain is "+
		"the EIM's bound minus that proposal's, image by image, ± the standard error of the paired difference; every run's "+
		"test_bounds.json holds its bound per test image.\n", c.proposalSteps)
	return b.String()
}
