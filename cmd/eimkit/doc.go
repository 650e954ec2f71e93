/*
Command eimkit runs the experiments of "Energy-Inspired Models: Learning
with Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
2019) and writes their results, tables and plots.

Usage:

	eimkit <command> [flags]
	eimkit help <command>

Each command is one function in a table in main.go (name → func(ctx, args)
error) with its own flags, built on package experiment (docs/experiment.md):
every training run checkpoints and resumes bit for bit, SIGINT and SIGTERM
cancel the context (also during evaluation) and a command stops within a
second after saving what it has (exit status 130), -out is locked against a
second process, and every output is written atomically. A flag that does
not parse, is out of range, or is a NaN or ±Inf number, and settings whose
estimated memory exceeds what the machine (or ulimit -v) allows, are
refused before anything is allocated with one line and exit status 2.

Commands:

	synthetic   TRS, SNIS, HIS and LARS on the 2-D targets (Sec. 4.1, Fig. 1–2)
	sivi        SIVI and IWHVI on Yin & Zhou's 2-D toy targets, bounds vs log Z (Sec. 5.2)
	hvi         Hamiltonian VI against a Gaussian q on a correlated Gaussian posterior (Sec. 5.3)
	vsmc        ELBO, IWAE and FIVO proposals on the linear-Gaussian model (Sec. 5.3)
	vae         VAEs with Gaussian, TRS, SNIS, HIS and LARS priors on binarized MNIST and Fashion-MNIST, test IWAE-1000 (Table 1)
	eimdata     SNIS, LARS and HIS over the data with a VAE proposal, binary or continuous MNIST / Fashion-MNIST, CelebA from a folder (Table 1's w/ VAE proposal rows, Table 2)
	fig3        the VAE on dynamic MNIST with an SNIS prior at several K and an HIS prior at several T: test bound and time per step (Fig. 3)
	paired      two evaluated runs compared image by image: each mean bound and A − B ± its paired standard error

The first is described below; `eimkit help <command>` describes each in
full.

# synthetic

	eimkit synthetic [-model trs|snis|his|lars|all] [-target nine-gaussians|checkerboard|two-rings|all]
	                 [-steps N] [-seed N] [-proposal-var V] [-out DIR] [flags]

trains the models of Sec. 4.1 — truncated rejection sampling (TRS), self-
normalized importance sampling (SNIS), Hamiltonian importance sampling (HIS)
and the LARS baseline — on the 2-D targets of package data, and writes under
DIR:

	results.json          one object per model and target: model, target, steps, seed,
	                      test_bound, true_mean_log_density, seconds, and more (see result)
	results.md            the same as a markdown table
	fig1.png              Fig. 1: the held-out bound during training, a panel per target
	                      (and, with -mismatch-var, nine-gaussians with the mismatched proposal)
	densities.png         Fig. 2: targets in rows, the target density and each model's
	curves-<target>.png   training objective against step for each model, with E_p log p
	<model>-<target>/
	    density.png       the target density beside the model's, from its samples
	    density.json      its histogram, from which densities.png is drawn
	    result.json       the run's entry of results.json
	    checkpoint.bin    parameters, Adam state, random state, LARS's moving average (nn.Save)
	    metrics.jsonl     the training record: one JSON line per step (step, objective, seconds)

-model and -target also take comma-separated lists; results.json,
results.md and the figures describe the runs of the invocation.
-mismatch-var 0.1 also trains every model on nine-gaussians with the
proposal N(0, 0.1·I) (Fig. 1's right panel; runs <model>-nine-gaussians-var0.1).
Every -curve-every steps (500) each run evaluates its test estimate on
-curve-points (500) held-out points of their own stream with S =
-curve-samples (20; LARS: Z from 1000·S draws), from a stream named by the
step, so the training is the same with or without it; the values go into
metrics.jsonl as "heldout" and are what fig1.png plots. Other flags set the
model (-K, -T, -his-T, -hidden, -batch, -lr), the evaluation (-eval-points,
-eval-samples, -lars-z-samples, -plot-samples), -checkpoint-every, -jobs,
-quiet, and -cpuprofile / -memprofile, which write DIR/cpu.pprof or
DIR/mem.pprof through github.com/pkg/profile (one at a time: that package
runs one profile per process).

# Models (App. D.1)

Every model has the fixed proposal N(0, v·I), v = -proposal-var (1; Fig. 1's
right panel uses 0.1), and an energy MLP 2-20-20-1 with tanh. SNIS has
K = 1024 candidates, TRS truncates at T = 1024, HIS takes T = 5 leapfrog
steps (with q(ρ_T | x_T) a 2-20-20-4 tanh MLP), and LARS runs the TRS sampler
with T = 1024 and estimates Z from K = 1024 proposal draws per step, smoothed
by a moving average (eimfamily.LARS). All train with batches of 128 and Adam
at 3·10⁻⁴: TRS, SNIS and HIS maximize their lower bounds (the per-point
integrands of eimfamily's Bound); LARS maximizes its own objective, the
closed-form log-likelihood at its estimate of Z, which is not a bound. SNIS
and TRS share one set of proposal candidates across the batch in each step,
as the authors' code does.

# Evaluation

test_bound is the mean, over held-out points, of a per-point estimate of
log p(x):

  - TRS, SNIS, HIS: the S-sample bound log (1/S) Σ_s exp ℓ_s(x), S =
    -eval-samples (1000, the paper's IWAE-style bound), ℓ_s independent draws
    of the family's integrand (eimfamily's Integrands). For SNIS and TRS
    each draw's proposal candidates are shared by all held-out points: each
    point's S draws are still independent, so each per-point number is a
    valid S-sample bound and their mean estimates the mean bound without
    bias; only the points' errors are correlated. This makes a draw cost
    K − 1 (SNIS) or at most T − 1 (TRS) energy evaluations for all points
    together instead of for each: 10⁶ instead of 10⁹ for SNIS.
  - LARS: log π(x) + log(a(x)(1 − α)/Z + α) with Z estimated from
    -lars-z-samples proposal draws (10⁶; the paper used 10³ for the
    synthetic data, Bauer & Mnih 10¹⁰). The relative standard error of that
    Z, reported as lars_z_stderr / lars_z, is about 10⁻³, so the estimate is
    good to about 10⁻³ nats; it is an estimate, not a bound.

The held-out points are -eval-points (1000) exact draws from the target with
their own random stream, which depends on the seed and the target only: all
models of a target are tested on the same points. test_bound_stderr is the
standard error of the mean over the points (treating them as independent).

density.png shows -plot-samples (10⁵) exact samples of the trained model as a
100×100 histogram over the target's box, beside the target's density; each
panel has its own colour scale. TRS, LARS and HIS samples are independent;
SNIS takes 10 draws of the index from each set of K candidates (each draw is
an exact sample from p_SNIS; draws of one set are dependent), which costs a
tenth of independent draws.

# Budget

-steps defaults to 10000 for every model, so that the main job

	go run ./cmd/eimkit synthetic -out results

(4 models × 3 targets, two runs at a time, evaluation and pictures
included) finishes well within five minutes on two cores: 2 min 14 s on the
project's 2-core machine, compilation included. The runs then took
1.4–1.6 ms per training step for TRS, SNIS and LARS and 2.0 ms for HIS, and
1–9 s each for evaluation and picture (SNIS's picture and HIS's evaluation
are the dearest). Training is far from converged at 10000 steps; the paper's
longer runs are -steps 20000 and more (about twice the training time).

The command sets the garbage collector's target to 400 unless GOGC is set:
ad allocates a tensor per operation on a heap of a few megabytes, and at the
default of 100 the same job took 3 min 39 s. It also sets a soft memory
limit (unless GOMEMLIMIT is set) at its estimate of the job's peak, at least
256 MiB: at GOGC=400 alone the heap grew to five times the evaluations'
short peaks of 70–110 MB live data, and the job peaked at 800–1080 MB
resident; with the limit it peaks at about 330 MB.

# Resuming

Each run saves a checkpoint every -checkpoint-every steps (1000), at the
end, and when interrupted. Running the same command again

  - reuses a finished run whose result.json matches the current settings
    (nothing is trained or evaluated),
  - re-evaluates a finished run whose evaluation settings changed, from its
    final checkpoint,
  - continues an unfinished run from its checkpoint, or a finished one when
    -steps is larger,

and the result is bitwise the same as that of an uninterrupted run: the
checkpoint holds the parameters, Adam's moments, the PCG state of the run's
training stream and LARS's moving average, and metrics.jsonl the objective
of every step up to it (lines written after the last checkpoint by a killed
process are dropped on resume). A checkpoint written
with other settings (model, target, seed, -proposal-var, -hidden, -batch,
-lr, and the sizes the model uses) is refused with an error that names them:
nothing is overwritten; use another -out or delete the run's directory. So is
one past -steps.

# Randomness

Every run draws from its own streams, PCG(seed, FNV-1a of a name): one for
the initial parameters, one for training (batches and the models' own
draws), one for the evaluation, one for the picture, and one per target for
the held-out points. Results therefore do not depend on which runs are
selected, on -jobs, or on how the runs are scheduled.
*/
package main
