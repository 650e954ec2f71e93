// Package vae is a variational autoencoder whose prior is N(0, I) or any
// energy-inspired model, after "Energy-Inspired Models: Learning with
// Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
// 2019), Sec. 4.2 and App. D.2: the VAE rows of Table 1, with TRS, SNIS,
// HIS and LARS priors over the latent z, trained on the ELBO with the
// prior's log-density replaced by its EIM lower bound, and evaluated with
// the 1000-sample importance weighted bound.
//
// # Model
//
// Images x ∈ {0, 1}ᵈˣ (or gray levels in [0, 1]), latent z ∈ ℝᵈᶻ:
//
//	p(x, z) = p(z) · Π_d Bernoulli(x_d; σ(l_d(z))),   l = Decoder(z)
//	q(z | x) = N(μ(x), diag σ(x)²),   (μ, ρ) = Encoder(x − x̄),   σ = max(10⁻⁵, softplus(ρ))
//
// with tanh MLPs 784-300-300-(2×50) and 50-300-300-784 (App. D.2), x̄ the
// training mean, and the decoder's output bias starting at
// logit(clip(x̄, 10⁻⁴, 1 − 10⁻⁴)) (the authors' code adds that constant to
// the logits; a bias that starts there is the same model). The prior is
// N(0, I) or an EIM over z with proposal π = N(0, I) and energy MLP
// 50-100-100-1 (tanh): SNIS with K = 1024, HIS with T = 5, TRS with
// T = 1024 (the authors' code passes SNIS's K as TRS's T) and LARS with
// T = 100 and K = 1024 draws per step for Z (the authors' lars_T and K).
// Config holds every size; its zero value is this model.
//
// # Training objective
//
// With one reparameterized z ~ q(z | x), the prior's lower-bound
// integrand B(z) (E B(z) ≤ log p(z): eimfamily's SNIS.Bound, TRS.Bound,
// HIS.Bound) and the KL weight β,
//
//	L_β(x) = log p(x | z) + β · ( B(z) − log q(z | x) ),
//
// and at β = 1,
//
//	E L_1(x) = E_q[ log p(x | z) + E B(z) − log q(z | x) ]
//	         ≤ E_q[ log p(x | z) + log p(z) − log q(z | x) ] ≤ log p(x),
//
// still a lower bound on log p(x). For LARS, B(z) is the plug-in
// log-density at the moving-average Z of eimfamily.LARS.TrainBound (an
// estimate, not a bound, as in Bauer & Mnih). Every parameter (encoder,
// decoder, prior) is trained. Schedule scales App. D.2's schedule (β from
// 0 to 1 over the first 10⁵ steps; learning rate 3·10⁻⁴, then 10⁻⁴ from
// step 10⁶; the authors' code runs 10⁷ steps) to a run's budget.
//
// # Evaluation
//
// The S-sample bound with an EIM prior (Eval, S = 1000 in Table 1) is
//
//	log p(x) ≥ E log (1/S) Σ_s w_s,   w_s = p(x | z_s) p̂(z_s) / q(z_s | x),   z_s ~ q(z | x),
//
// where p̂(z) = exp(ℓ_λ(z)) is the EIM's integrand at a fresh draw of its
// randomness λ (SNIS's K − 1 candidates; TRS's index i ~ q(i | z) and its
// i − 1 rejected draws; HIS's ρ_T ~ q(ρ_T | z)), so that E_λ p̂(z) = p(z)
// (for N(0, I), p̂ = p). Then each w_s is an unbiased estimate of p(x):
//
//	E w_s = E_{z_s ~ q} [ p(x | z_s) E_λ[p̂(z_s) | z_s] / q(z_s | x) ]
//	      = ∫ q(z | x) p(x | z) p(z) / q(z | x) dz = p(x),
//
// because λ is drawn given z_s and the decoder and q do not depend on
// λ. The average (1/S) Σ_s w_s is unbiased by linearity of expectation,
// whatever the dependence between the w_s: E (1/S) Σ_s w_s = (1/S) Σ_s
// E w_s = p(x). By Jensen's inequality E log (1/S) Σ_s w_s ≤ log E (1/S)
// Σ_s w_s = log p(x), so the S-sample value is a lower bound on log p(x)
// in expectation, for any S.
//
// That argument is what lets draws be shared. Sharing SNIS's candidates
// across the S samples (the authors' code draws one set of K − 1 for all
// samples and images) leaves every w_s unbiased marginally — for each s,
// the candidates are still K − 1 draws from π independent of z_s — so the
// average stays unbiased and its log a bound; only the errors of the w_s
// become correlated, which makes the bound looser (the normalizer's error
// is common to all S terms and is not averaged away). This package draws
// one set of K − 1 candidates per sample index s and shares it across the
// images instead: for each image the S prior estimates are then
// independent, the tighter choice, at a cost of S·(K − 1) energy
// evaluations per evaluation call rather than S·n·(K − 1);
// Config.SharedCandidates restores the authors' single set (the tests
// check both unbiased by enumeration at S = 2). TRS does the same with
// its rejected draws: one sequence c_1, …, c_{T−1} ~ π per sample index,
// of which image i's estimate uses the first i − 1, with the index
// i ~ q(i | z_s) drawn for every (sample, image) — so an image costs one
// energy evaluation per sample rather than i − 1 (up to 1023 at T = 1024),
// and for each image the S estimates are independent as before. HIS draws
// its ρ_T for every (sample, image). LARS is evaluated with its plug-in Z
// (eimfamily.LARS.LogProb) estimated from Config.LARSEvalDraws = 10⁸
// proposal draws by default (Bauer & Mnih used 10¹⁰); its value is a
// consistent estimate, not a bound.
//
// # Chunks and streams
//
// The evaluation runs over ImageChunk images and SampleChunk samples at a
// time with no gradient graph (the networks' weights are used as
// constants), and keeps only the S log-weights of the current images, so
// memory is bounded for any S and n by the chunk sizes. Every random
// number comes from a stream named by what it is for — the posterior
// draws of image i, the candidates (TRS: rejected draws) of sample s, the
// TRS index of (s, i),
// the HIS draws of (image i, block of 40 samples), LARS's Z — split from
// two seeds drawn from the caller's generator with SplitMix64, and the
// log-sum-exp runs over s in order. Every network sees inputs of exactly
// 192 rows (the last block of a chunk padded with zero rows): ad picks
// its product kernels by the operands' sizes, and kernels round
// differently, so with one shape per layer each row's numbers depend on
// that row alone. Together these make the result the same bits for any
// chunk sizes (checked at the paper's sizes, S = 200 and 10 images, for
// chunks of 40×100, 7×3, 200×1 and 13×7 samples × images, and by the
// tests at sizes where ad switches kernels).
//
// # Driving a run
//
// A command builds the model from the training split's per-pixel mean,
// trains on the scaled schedule and evaluates the whole test set in one
// call (SNIS's candidates are then drawn once for all images):
//
//	m, err := vae.NewModel(rng, vae.Config{Prior: vae.SNIS}, trainMean)
//	params := m.Params()                 // named: checkpoint with nn.Save
//	sch := vae.Schedule{Steps: steps}
//	opt := sch.Adam()
//	for step := range steps {
//	    x := nextBatch()                 // [128, 784], binarized
//	    elbo, err := m.TrainStep(rng, opt, params.Tensors(), x, sch.KLWeight(step))
//	}
//	bounds, err := m.Eval(ctx, rng, xTest, 1000) // one value per image
//	grid := m.SampleMeans(rng, 64)                // [64, 784] Bernoulli means
//
// A checkpoint must also hold LARS's moving average of Z
// (LARSPrior.Model.ZAvg) and may hold its evaluation estimate
// (LARSPrior.EvalZ, SetEvalZ), which takes 10⁸ energy evaluations.
//
// # ConvHVAE
//
// ConvHVAE is the convolutional hierarchical VAE of Table 1's middle rows,
// as the authors' ConvBernoulliVAE (eim/models/vae.py) defines it, with
// any of the priors above over its top layer z₂:
//
//	p(x, z₁, z₂) = p(z₂) p(z₁ | z₂) p(x | z₁, z₂),   q(z₁, z₂ | x) = q(z₂ | x) q(z₁ | x, z₂),
//
// (networks in the type's doc; convolutions NHWC through ad.Conv2D and
// ad.ConvTranspose2D, docs/conv.md). Its objective and S-sample
// evaluation are the VAE's with log p(z₁ | z₂) − log q(z₁ | x, z₂) added
// to each weight, β on every term but the likelihood (the authors'
// HVAE), and the argument of Evaluation holds unchanged: p̂(z₂) is drawn
// given z₂ and nothing else depends on its randomness. ConvConfig sets
// the sizes (image size, filters, kernel, widths), so tests run it on
// 8×8 images.
//
// # EIMs over data with a latent-variable proposal
//
// DataSNIS, DataLARS and DataHIS are EIMs over the data x whose proposal
// π(x) = ∫ p(x | z) p(z) dz is itself a VAE (a DataProposal: Model or
// ConvHVAE), Table 1's "SNIS w/ VAE proposal" and Table 2. Each family's
// density is π times a factor that uses π only through its samples,
// p(x) = π(x) · E_λ r_λ(x) (SNIS: r_λ = w(x) / ((1/K)(w(x) + Σ_j w(x_j))),
// λ = x_{2:K} ~ π; LARS: r = a(x)(1 − α)/Z + α), and the EIM bounds use
// π only through log π(x). Replacing log π(x) by the proposal's own
// integrand log π̂(x) (its ELBO integrand for training, an importance
// weight p(x | z) p(z)/q(z | x), z ~ q(z | x), for the evaluation), drawn
// independently of λ,
//
//	E[ log π̂(x) + log r_λ(x) ] = E log π̂(x) + E log r_λ(x) ≤ log π(x) + log E r_λ(x) = log p(x),
//
// keeps a lower bound (E log π̂ ≤ log π is the proposal's ELBO, the
// second step Jensen's inequality), and where E π̂(x) = π(x),
//
//	E[ π̂(x) r_λ(x) ] = E π̂(x) · E r_λ(x) = π(x) E r_λ(x) = p(x)
//
// by independence: exp of the integrand is unbiased for the density of
// the process that draws its candidates ancestrally (z_j ~ p(z), x_j ~
// p(x | z_j)), so the S-sample evaluation is a bound as in Evaluation.
// For HIS, p_HIS(x) = ∫ π(x₀) N(ρ₀; 0, I) dρ_T with (x₀, ρ₀) the
// dynamics run back from (x, ρ_T); the integrand π(x₀) N(ρ₀)/q(ρ_T | x)
// with π̂(x₀) drawn given x₀ has E[π̂(x₀) | ρ_T] = π(x₀), hence the same
// two statements. LARS is unbiased at the exact Z and a plug-in estimate
// at an estimated one. The tests check all of it exactly on a proposal
// with three latent states (binary x ∈ {0, 1}² for SNIS and LARS by
// enumeration; continuous one-dimensional x for HIS by quadrature).
//
// Binary candidates are constants, so by default (CandidatePathwise) no
// gradient flows through them, as the paper reports; DataSNIS.Gradient
// offers a VIMCO-style score function over the ancestral draws
// (unbiased, checked by enumeration) and Gumbel straight-through
// (biased, the authors' code's default for its Bernoulli VAE proposal).
// Continuous candidates are reparameterized. HIS needs continuous data:
// its dynamics differentiate log π̂ at x₀. The proposal's parameters are
// in Params (named proposal.*) and trained with the energy, as in the
// authors' code; leave them out of the optimizer to keep a pre-trained
// VAE fixed.
//
// # Continuous data (Table 2)
//
// NewGaussianModel is the VAE with a Gaussian decoder N(x; μ(z), diag σ²)
// (σ a learned per-pixel constant starting at 1) for logit-space images
// s = logit(λ + (1 − 2λ) y) (data.LogitTransform; optionally centered,
// CenterLogits). Likelihoods are reported on the 8-bit pixel scale, as
// the authors' SquashedDistribution does:
//
//	log p(x̃) = log p_S(s) + log |ds/dy| − D log 256,   x̃ = 256 y,
//
// (PixelLogLik). SmallContinuousConfig is the "small VAE" (one tanh layer
// of 20 units, 10-d latent); Table 2's EIMs over it use SNIS with K = 128
// (ContinuousSNISK) and HIS with T = 5 (ContinuousHIST).
//
// # Shapes
//
// Data x is [n, dx], latents [n, dz]; Objective and Eval give one value
// per image, LogWeights [S, n]. The Encoder is an eimfamily.Proposal with
// x as its context (Sample(rng, x, k) is [k, n, dz]), the convention of
// package iwae's proposal q̃, so with the Gaussian prior the evaluation is
// iwae.IWAE's closed form (checked sample for sample in proofs_test).
package vae
