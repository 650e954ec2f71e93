package main

// The hvi command: Hamiltonian variational inference (Sec. 3.3, 5.3) on a
// linear-Gaussian model whose posterior is correlated, against a plain
// (diagonal) Gaussian q trained on the ELBO and the exact log p(x).

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/hvi"
	"github.com/eimkit/eimkit/nn"
)

const hviUsage = `Usage: eimkit hvi [flags]

Hamiltonian variational inference on the linear-Gaussian model

	z ~ N(0, I₂),   x | z ~ N(z₁ + z₂, σ²),   σ = 0.5,

whose posterior p(z | x) has correlation −0.8, so that no diagonal Gaussian
q reaches log p(x): the best one falls short by ½ log(25/9) = 0.511 nats. It
trains, on the observations -x, (1) a conditional diagonal Gaussian
q(z | x) on the ELBO and (2) HVI — that Gaussian as the initial
distribution π(z₀ | x), -T leapfrog steps on U = −log p(x, z) with learned
step sizes and temperatures, and a learned reverse model r(ρ_T | z_T, x) —
on the Eq. 4 bound, both with Adam, and evaluates each bound with
-eval-draws draws per observation. It writes, under -out:

	results.json   the numbers and settings
	results.md     the same as a table
	q.png          for the first observation: the exact posterior density
	               beside histograms of the trained Gaussian q's and HVI's
	               samples z_T
	gauss/, hvi/   each run's checkpoint.bin and metrics.jsonl

Running the same command again resumes unfinished runs from their
checkpoints (bitwise as if uninterrupted); results are written only when
both runs are trained and evaluated.

Flags:
`

type hviConfig struct {
	steps, T, draws, evalDraws int
	every                      int
	seed                       uint64
	lr                         float64
	xs                         []float64
	out                        string
	quiet                      bool
}

// hviModel is the model of the command.
var hviModel = hvi.LinearGaussian{W: [][]float64{{1, 1}}, Sigma: 0.5}

func parseHVIFlags(args []string, stderr io.Writer) (*hviConfig, error) {
	fs := newFlagSet("hvi", hviUsage, stderr)
	var c hviConfig
	var xs string
	fs.IntVar(&c.steps, "steps", 5000, "Adam steps of each variational family")
	fs.IntVar(&c.T, "T", 5, "leapfrog steps of HVI")
	fs.IntVar(&c.draws, "draws", 32, "draws per observation in each training step")
	fs.IntVar(&c.evalDraws, "eval-draws", 50000, "draws per observation in the evaluation")
	fs.Float64Var(&c.lr, "lr", 0.02, "Adam's learning rate")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.StringVar(&xs, "x", "0.5,-1,2", "comma-separated observations")
	fs.StringVar(&c.out, "out", "results-hvi", "output `directory`")
	fs.IntVar(&c.every, "checkpoint-every", 1000, "save a checkpoint every this many steps (and at the end, and on SIGINT)")
	fs.BoolVar(&c.quiet, "quiet", false, "print nothing but errors")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	v := newChecker(fs)
	for _, f := range strings.Split(xs, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			v.failf("-x %q: want comma-separated finite numbers", xs)
			break
		}
		c.xs = append(c.xs, x)
	}
	v.atLeast("steps", c.steps, 1)
	v.atLeast("T", c.T, 1)
	v.atLeast("draws", c.draws, 1)
	v.atLeast("eval-draws", c.evalDraws, 2)
	v.positive("lr", c.lr)
	v.atLeast("checkpoint-every", c.every, 1)
	v.nonEmpty("out", c.out)
	if err := v.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

func runHVI(ctx context.Context, args []string) error {
	cfg, err := parseHVIFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return cfg.run(ctx, os.Stderr)
}

// hviResults is results.json.
type hviResults struct {
	Model        string     `json:"model"`
	T            int        `json:"T"`
	Steps        int        `json:"steps"`
	Draws        int        `json:"draws"`
	EvalDraws    int        `json:"eval_draws"`
	LR           float64    `json:"lr"`
	Seed         uint64     `json:"seed"`
	MeanFieldGap float64    `json:"mean_field_gap"`
	StepSize     []float64  `json:"step_size"`
	Alphas       []float64  `json:"alphas"`
	Points       []hviPoint `json:"points"`
	// StepsDone is the number of training steps done of the Gaussian q
	// and of HVI (over every session).
	StepsDone [2]int  `json:"steps_done"`
	Seconds   float64 `json:"seconds"`
}

// hviPoint is one observation's numbers.
type hviPoint struct {
	X float64 `json:"x"`
	// LogEvidence is the exact log p(x).
	LogEvidence float64 `json:"log_evidence"`
	// BestMeanField is log p(x) − MeanFieldGap, the largest ELBO of a
	// diagonal Gaussian q.
	BestMeanField float64   `json:"best_mean_field_elbo"`
	ELBO          jsonFloat `json:"elbo"`
	ELBOStdErr    jsonFloat `json:"elbo_stderr"`
	HVI           jsonFloat `json:"hvi_bound"`
	HVIStdErr     jsonFloat `json:"hvi_bound_stderr"`
	// LogPHat is log of the HVI estimate of p(x), (1/S) Σ exp(w).
	LogPHat jsonFloat `json:"hvi_log_p_hat"`
}

func (c *hviConfig) run(ctx context.Context, stderr io.Writer) error {
	start := time.Now()
	n := len(c.xs)
	// The largest tensors: an evaluation chunk of 5000 draws (T + 1
	// gradients each, kept for no backward pass), a training step's draws
	// through T leapfrog steps with the backward pass, and the picture.
	need := f64 * float64(n) * 2 * math.Max(3*float64(c.draws)*float64(c.T+1)*8, float64(min(5000, c.evalDraws))*float64(c.T+1)*8)
	need += f64*float64(n)*float64(c.evalDraws)*2 + f64*2*100000*float64(c.T+1)*4 + 2*recordBytes(c.steps)
	if err := checkMemory("hvi", toBytes(need), fmt.Sprintf("-steps %d -draws %d -eval-draws %d -T %d and %d observations", c.steps, c.draws, c.evalDraws, c.T, n)); err != nil {
		return err
	}
	out, err := openOut(c.out)
	if err != nil {
		return err
	}
	defer out.Close()
	reportOut(stderr, c.quiet, out)
	x := ad.New(append([]float64(nil), c.xs...), n, 1)
	id := func(run string) map[string]string {
		m := map[string]string{
			"format": "eimkit-hvi/1", "run": run, "seed": strconv.FormatUint(c.seed, 10),
			"lr": strconv.FormatFloat(c.lr, 'g', -1, 64), "draws": strconv.Itoa(c.draws), "x": fmt.Sprint(c.xs),
		}
		if run == "hvi" {
			m["T"] = strconv.Itoa(c.T)
		}
		return m
	}

	// (1) The plain Gaussian q(z | x): the proposal alone, on the ELBO.
	gpcg := stream(c.seed, "hvi", "gauss")
	rng := rand.New(gpcg)
	gq := hvi.NewGaussianProposal(rng, 1, 2, -0.5)
	elboInts := func(rng *rand.Rand, s int) *ad.Tensor {
		z := gq.Sample(rng, x, s)
		return ad.Sub(hviModel.LogJoint(x, z), gq.LogProb(x, z))
	}
	gps := new(nn.Params)
	gps.Add("q", gq.Params()...)
	gopt := &nn.Adam{LR: c.lr}
	gauss := &experiment.Run{
		Dir: filepath.Join(c.out, "gauss"), Name: "Gaussian q", Identity: id("gauss"), Steps: c.steps,
		CheckpointEvery: c.every, Params: gps, Adam: gopt, RNG: gpcg,
		Step: func(context.Context, int) (experiment.Metrics, error) {
			obj := ad.Mean(elboInts(rng, c.draws))
			loss := ad.Neg(obj)
			gopt.Step(gps.Tensors(), ad.Grad(loss, gps.Tensors()...))
			return experiment.Metrics{Objective: obj.Item()}, nil
		},
	}
	// (2) HVI.
	hpcg := stream(c.seed, "hvi", "hvi")
	hrng := rand.New(hpcg)
	h := hvi.New(hrng, hviModel, 1, 2, c.T, -0.5, nil, []int{16})
	hps := new(nn.Params)
	hps.Add("hvi", h.Params()...)
	hopt := &nn.Adam{LR: c.lr}
	hv := &experiment.Run{
		Dir: filepath.Join(c.out, "hvi"), Name: "HVI", Identity: id("hvi"), Steps: c.steps,
		CheckpointEvery: c.every, Params: hps, Adam: hopt, RNG: hpcg,
		Step: func(context.Context, int) (experiment.Metrics, error) {
			obj := ad.Mean(h.Bound(hrng, hviModel, x, c.draws))
			loss := ad.Neg(obj)
			hopt.Step(hps.Tensors(), ad.Grad(loss, hps.Tensors()...))
			return experiment.Metrics{Objective: obj.Item()}, nil
		},
	}
	total := 0
	for _, r := range []*experiment.Run{gauss, hv} {
		done, err := r.StepsDone()
		if err != nil {
			return err
		}
		total += c.steps - done
	}
	prog := experiment.NewProgress(stderr, total, c.quiet)
	gauss.Progress, hv.Progress = prog, prog
	var recs [2]*experiment.Record
	for i, r := range []*experiment.Run{gauss, hv} {
		if recs[i], err = r.Train(ctx); err != nil {
			prog.Finish()
			return err
		}
	}
	prog.Finish()
	prog.Evaluating("hvi")
	defer prog.Done("hvi")

	// Evaluation, in chunks to bound memory and to stop soon on SIGINT.
	interrupted := fmt.Errorf("hvi: evaluation stopped (training is saved; results were not written): %w", errInterrupted)
	erng := rand.New(stream(c.seed, "hvi", "eval"))
	evalDraws := func(f func(rng *rand.Rand, s int) *ad.Tensor) (*ad.Tensor, error) {
		var parts []*ad.Tensor
		for done := 0; done < c.evalDraws; {
			if ctx.Err() != nil {
				return nil, interrupted
			}
			s := min(5000, c.evalDraws-done)
			parts = append(parts, f(erng, s).Detach())
			done += s
		}
		return ad.Concat(0, parts...), nil
	}
	we, err := evalDraws(elboInts)
	if err != nil {
		return err
	}
	wh, err := evalDraws(func(rng *rand.Rand, s int) *ad.Tensor { return h.Integrands(rng, hviModel, x, s) })
	if err != nil {
		return err
	}
	se, sh, ev := avvi.Summarize(we), avvi.Summarize(wh), avvi.EstimateEvidence(wh)
	gap := hviModel.MeanFieldGap()
	res := hviResults{
		Model: "z ~ N(0, I2), x | z ~ N(z1 + z2, 0.25)", T: c.T, Steps: c.steps, Draws: c.draws,
		EvalDraws: c.evalDraws, LR: c.lr, Seed: c.seed, MeanFieldGap: gap,
		StepSize: h.HIS.StepSize(), Alphas: h.HIS.Alphas(), StepsDone: [2]int{recs[0].Steps, recs[1].Steps},
	}
	for i, xv := range c.xs {
		lp := hviModel.LogEvidence([]float64{xv})
		res.Points = append(res.Points, hviPoint{
			X: xv, LogEvidence: lp, BestMeanField: lp - gap,
			ELBO: jsonFloat(se.Mean[i]), ELBOStdErr: jsonFloat(se.StdErr[i]),
			HVI: jsonFloat(sh.Mean[i]), HVIStdErr: jsonFloat(sh.StdErr[i]),
			LogPHat: jsonFloat(ev.LogMean[i]),
		})
	}
	// The picture's samples, for the first observation.
	x0 := ad.New([]float64{c.xs[0]}, 1, 1)
	const nPic = 100000
	prng := rand.New(stream(c.seed, "hvi", "plot"))
	zg := gq.Sample(prng, x0, nPic).Detach().Data()
	if ctx.Err() != nil {
		return interrupted
	}
	zh, _, _ := h.Draw(prng, x0, nPic)
	if ctx.Err() != nil {
		return interrupted
	}
	res.Seconds = time.Since(start).Seconds()
	md := hviMarkdown(&res)
	if err := experiment.WriteJSON(filepath.Join(c.out, "results.json"), res); err != nil {
		return err
	}
	if err := experiment.WriteString(filepath.Join(c.out, "results.md"), md); err != nil {
		return err
	}
	if err := writeHVIPNG(filepath.Join(c.out, "q.png"), c.xs[0], zg, zh.Detach().Data()); err != nil {
		return err
	}
	prog.Logf("%s", strings.TrimSpace(md))
	return nil
}

func hviMarkdown(r *hviResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# eimkit hvi\n\nModel %s; T = %d, %d Adam steps (lr %g), %d draws per step; %d evaluation draws per x.\n\n",
		r.Model, r.T, r.Steps, r.LR, r.Draws, r.EvalDraws)
	b.WriteString("| x | log p(x) | best diagonal-Gaussian ELBO | Gaussian q ELBO ± s.e. | HVI bound (Eq. 4) ± s.e. | HVI log p̂(x) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range r.Points {
		fmt.Fprintf(&b, "| %g | %.4f | %.4f | %.4f ± %.4f | %.4f ± %.4f | %.4f |\n", p.X, p.LogEvidence, p.BestMeanField,
			float64(p.ELBO), float64(p.ELBOStdErr), float64(p.HVI), float64(p.HVIStdErr), float64(p.LogPHat))
	}
	fmt.Fprintf(&b, "\nThe best diagonal Gaussian falls short of log p(x) by ½(Σ log Λ_ii − log det Λ) = %.4f (Λ the posterior precision). "+
		"HVI step sizes ε = %.4f, temperatures α = %.4f. %.1f s.\n", r.MeanFieldGap, r.StepSize, r.Alphas, r.Seconds)
	return b.String()
}

// writeHVIPNG draws the exact posterior density for x beside histograms of
// the Gaussian q's samples and HVI's (row-major [·, 2]).
func writeHVIPNG(path string, x float64, zg, zh []float64) error {
	mu, cov := hviModel.Posterior([]float64{x})
	const cells = 80
	lo := [2]float64{mu[0] - 2.5, mu[1] - 2.5}
	hi := [2]float64{mu[0] + 2.5, mu[1] + 2.5}
	exact := newGrid(lo, hi, cells)
	det := cov.At(0, 0)*cov.At(1, 1) - cov.At(0, 1)*cov.At(0, 1)
	for r, y := range exact.ys {
		for c, xx := range exact.xs {
			d0, d1 := xx-mu[0], y-mu[1]
			q := (d0*d0*cov.At(1, 1) - 2*d0*d1*cov.At(0, 1) + d1*d1*cov.At(0, 0)) / det
			exact.z[r*cells+c] = math.Exp(-0.5*q) / (2 * math.Pi * math.Sqrt(det))
		}
	}
	hist := func(zs []float64) *gridXYZ {
		g := newGrid(lo, hi, cells)
		n := len(zs) / 2
		wx, wy := (hi[0]-lo[0])/cells, (hi[1]-lo[1])/cells
		for i := range n {
			c := int(math.Floor((zs[2*i] - lo[0]) / wx))
			r := int(math.Floor((zs[2*i+1] - lo[1]) / wy))
			if c >= 0 && c < cells && r >= 0 && r < cells {
				g.z[r*cells+c]++
			}
		}
		for i := range g.z {
			g.z[i] /= float64(n) * wx * wy
		}
		return g
	}
	row := densityRow{grids: []*gridXYZ{exact, hist(zg), hist(zh)},
		titles: []string{fmt.Sprintf("exact p(z | x = %g)", x), "Gaussian q(z | x), samples", "HVI q(z_T | x), samples"}}
	return writeDensityGrid(path, "Posterior and variational families, one colour scale (the exact density's maximum)", [2]string{"z₁", "z₂"}, []densityRow{row})
}
