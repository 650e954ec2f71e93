package estimators

import (
	"fmt"
	"slices"

	"github.com/eimkit/eimkit/ad"
)

// GradientEstimator chooses how the gradient of an importance-weighted
// bound is estimated, independently of which bound it is (TFP vi's
// separation of the bound from the estimator). The zero value is
// Reparameterized.
//
// With K draws z_k of q(z | x) for each of n points, log weights
// w_k = log p(x, z_k) − log q(z_k | x), normalized weights
// w̃_k = exp(w_k)/Σ_j exp(w_j), model parameters θ and inference parameters φ
// (those of q), the bound is L = log (1/K) Σ_k exp(w_k) and the estimators
// are, with z_k = z(ε_k; φ) reparameterized and ∂/∂φ|_z the derivative with
// z held fixed (the score term):
//
//	Reparameterized   ∇_θ = Σ_k w̃_k ∇_θ w_k
//	                  ∇_φ = Σ_k w̃_k ( (∂w_k/∂z_k)(∂z_k/∂φ) − ∂ log q(z_k | x)/∂φ|_z )
//	STL               ∇_θ as Reparameterized,
//	                  ∇_φ = Σ_k w̃_k (∂w_k/∂z_k)(∂z_k/∂φ)                (score term dropped)
//	DReG              ∇_θ as Reparameterized,
//	                  ∇_φ = Σ_k w̃_k² (∂w_k/∂z_k)(∂z_k/∂φ)
//	ScoreFunction     (z_k not reparameterized: constants)
//	                  ∇ = Σ_k w̃_k ∇w_k + L Σ_k ∇ log q(z_k | x)
//
// Reparameterized, DReG (Tucker, Lawson, Gu & Maddison 2019, "Doubly
// reparameterized gradient estimators for Monte Carlo objectives") and
// ScoreFunction are unbiased for ∇L. STL ("sticking the landing", Roeder,
// Wu & Duvenaud 2017) is unbiased for K = 1, where its dropped term has mean
// zero, but biased for K > 1: the dropped term Σ_k w̃_k ∂ log q/∂φ|_z no
// longer has mean zero once the weights depend on the draw (Tucker et al.
// 2019, Sec. 4; the tests measure the bias). At q = p(z | x) the log weights
// are constant in z, and the φ-gradients of STL and DReG are exactly zero
// for every draw: the zero-variance property.
//
// The estimators differ in the variance of ∇_φ as K grows: the
// signal-to-noise ratio of Reparameterized decreases as O(1/√K) while that
// of DReG increases as O(√K) (Rainforth et al. 2018, "Tighter variational
// bounds are not necessarily better"; Tucker et al. 2019). The tests report
// the numbers.
type GradientEstimator int

const (
	// Reparameterized differentiates the bound through reparameterized
	// draws: the plain gradient of L.
	Reparameterized GradientEstimator = iota
	// STL drops the score term: log q(z_k | x) is evaluated with q's
	// parameters stopped (z_k still attached). Biased for K > 1.
	STL
	// DReG is the doubly reparameterized estimator: STL's path terms
	// weighted by the squared normalized weights w̃_k², unbiased for any K.
	DReG
	// ScoreFunction is the REINFORCE estimator for draws that are not
	// reparameterized (discrete latents), with no baseline; VIMCO is the
	// same estimator with a leave-one-out baseline.
	ScoreFunction
)

// String returns the estimator's name.
func (e GradientEstimator) String() string {
	switch e {
	case Reparameterized:
		return "reparameterized"
	case STL:
		return "STL"
	case DReG:
		return "DReG"
	case ScoreFunction:
		return "score function"
	}
	return fmt.Sprintf("GradientEstimator(%d)", int(e))
}

// IWAETerms are the pieces of an importance-weighted bound that
// IWAESurrogate needs, each [K, n]: K draws z_k for each of n points.
// Which fields are required depends on the estimator.
type IWAETerms struct {
	// LogP is log p(x, z_k), built from the draws z_k as they are: for
	// the path estimators (Reparameterized, STL, DReG) z_k is a
	// reparameterized function of q's parameters; for ScoreFunction z_k
	// is a constant. Always required.
	LogP *ad.Tensor
	// LogQ is log q(z_k | x) with everything attached (q's parameters and
	// z_k). Required by Reparameterized and ScoreFunction.
	LogQ *ad.Tensor
	// LogQStopped is log q(z_k | x) evaluated with q's parameters
	// detached (stop-gradient) and z_k attached, for example
	// dist.Normal.Detach().LogProb(z). Its value equals LogQ's. Required
	// by STL and DReG.
	LogQStopped *ad.Tensor
	// LogPStoppedZ is log p(x, stopgrad(z_k)): the model's parameters
	// attached, the draws detached. It carries DReG's model gradient
	// Σ_k w̃_k ∇_θ log p(x, z_k) without any gradient for q. Required by
	// DReG when the model has learned parameters; if nil, the model is
	// taken to have none (the θ-gradient of the result is then not the
	// estimator's, but Σ_k w̃_k² ∇_θ log p(x, z_k)).
	LogPStoppedZ *ad.Tensor
}

// IWAESurrogate returns, for n points, a surrogate of the K-sample bound
//
//	L = log (1/K) Σ_k exp(w_k),   w_k = log p(x, z_k) − log q(z_k | x),
//
// whose value is exactly L ([n], up to rounding) and whose gradient, by
// ad.Grad of its sum, is the chosen estimator (see GradientEstimator):
//
//	Reparameterized   L
//	STL               log (1/K) Σ_k exp(w_k^⊥),   w_k^⊥ = log p(x, z_k) − LogQStopped_k
//	DReG              L + S − stopgrad(S),
//	                  S = Σ_k stopgrad(w̃_k²) w_k^⊥ + Σ_k stopgrad(w̃_k − w̃_k²) LogPStoppedZ_k
//	ScoreFunction     L + stopgrad(L) Σ_k (LogQ_k − stopgrad(LogQ_k))
//
// In DReG's S the first sum gives the φ-gradient Σ_k w̃_k² ∂w_k/∂z_k ∂z_k/∂φ
// and θ-gradient Σ_k w̃_k² ∇_θ log p; the second adds the missing
// Σ_k (w̃_k − w̃_k²) ∇_θ log p and nothing for φ (its z is detached), so that
// ∇_θ = Σ_k w̃_k ∇_θ log p. stopgrad(L) enters DReG's value only: the value of
// the whole is L, with the gradient of S.
//
// K = 1 makes the ScoreFunction estimator ∇w + w ∇ log q, DReG and STL the
// same estimator (w̃ = 1), and every value the ELBO integrand.
//
// Log weights of −Inf are allowed where at least one of the K is finite;
// where all K are −Inf the value is −Inf (as ad.LogMeanExp gives).
//
// It panics if e is not one of the four estimators, a required field is
// nil, or the fields given are not all [K, n] of one shape.
func IWAESurrogate(e GradientEstimator, t IWAETerms) *ad.Tensor {
	need := func(name string, x *ad.Tensor) {
		if x == nil {
			panic(fmt.Sprintf("estimators: IWAESurrogate: %v needs IWAETerms.%s", e, name))
		}
	}
	need("LogP", t.LogP)
	if t.LogP.Rank() != 2 {
		panic(fmt.Sprintf("estimators: IWAESurrogate: LogP shape %v, want [K, n]", t.LogP.Shape()))
	}
	for _, f := range []struct {
		name string
		x    *ad.Tensor
	}{{"LogQ", t.LogQ}, {"LogQStopped", t.LogQStopped}, {"LogPStoppedZ", t.LogPStoppedZ}} {
		if f.x != nil && !slices.Equal(f.x.Shape(), t.LogP.Shape()) {
			panic(fmt.Sprintf("estimators: IWAESurrogate: %s shape %v and LogP shape %v, want both [K, n]", f.name, f.x.Shape(), t.LogP.Shape()))
		}
	}
	switch e {
	case Reparameterized:
		need("LogQ", t.LogQ)
		return ad.LogMeanExp(ad.Sub(t.LogP, t.LogQ), 0)
	case STL:
		need("LogQStopped", t.LogQStopped)
		return ad.LogMeanExp(ad.Sub(t.LogP, t.LogQStopped), 0)
	case DReG:
		need("LogQStopped", t.LogQStopped)
		w := ad.Sub(t.LogP, t.LogQStopped) // value w_k, no score term
		K, n := w.Dim(0), w.Dim(1)
		wt := ad.Softmax(w.Detach(), 0).Data() // w̃_k, constants
		sq := make([]float64, K*n)
		rest := make([]float64, K*n)
		for i, v := range wt {
			sq[i] = v * v
			rest[i] = v - v*v
		}
		// w̃² w^⊥: where w̃_k = 0 (w_k = −Inf) the product would be
		// 0·(−Inf); such entries carry no gradient and are masked out.
		mask := finiteMask(w.Detach().Data(), K, n)
		wSafe := ad.Where(mask, w, ad.Zeros(K, n))
		S := ad.Sum(ad.Mul(ad.New(sq, K, n), wSafe), 0)
		if t.LogPStoppedZ != nil {
			pSafe := ad.Where(finiteMask(t.LogPStoppedZ.Detach().Data(), K, n), t.LogPStoppedZ, ad.Zeros(K, n))
			S = ad.Add(S, ad.Sum(ad.Mul(ad.New(rest, K, n), pSafe), 0))
		}
		L := ad.LogMeanExp(w.Detach(), 0)
		return ad.Add(L, ad.Sub(S, S.Detach()))
	case ScoreFunction:
		need("LogQ", t.LogQ)
		L := ad.LogMeanExp(ad.Sub(t.LogP, t.LogQ), 0)
		K, n := t.LogQ.Dim(0), t.LogQ.Dim(1)
		Ld := L.Detach().Data()
		sig := make([]float64, K*n)
		for k := range K {
			for i := range n {
				sig[k*n+i] = Ld[i]
			}
		}
		zero := ad.Sub(t.LogQ, t.LogQ.Detach()) // value 0, gradient ∇ log q
		return ad.Add(L, ad.Sum(ad.Mul(ad.New(sig, K, n), zero), 0))
	}
	panic(fmt.Sprintf("estimators: IWAESurrogate: unknown estimator %v", e))
}

// finiteMask returns the 0/1 tensor of the given shape (ad.Where's
// condition) that marks the finite entries of v.
func finiteMask(v []float64, shape ...int) *ad.Tensor {
	m := make([]float64, len(v))
	for i, x := range v {
		if x-x == 0 { // finite (not ±Inf, not NaN)
			m[i] = 1
		}
	}
	return ad.New(m, shape...)
}
