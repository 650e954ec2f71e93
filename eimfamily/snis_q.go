package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// SNISAux is the auxiliary variable λ = (z_{1:K}, i) of SNIS used as a
// variational family: the K candidates of every data point and the index
// of the selected one.
type SNISAux struct {
	// Candidates holds z_{1:K} for each of n data points: [K, n, d].
	Candidates *ad.Tensor
	// Index holds the selected candidate i of each data point, 0-based,
	// length n.
	Index []int
}

// SNISQ is the SNIS model conditioned on x, SNIS(π(· | x), U(· | x), K),
// used as a variational family q(z, λ | x) over z and the sampler's
// randomness λ = (z_{1:K}, i) (Sec. 5 and 5.1 of Lawson et al. 2019):
//
//	q(z, λ | x) = Π_k π(z_k | x) · w(z_i | x) / Σ_k w(z_k | x),   z = z_i,   w = exp(−U),
//
// a density over λ, z being z_i. Its methods Sample and Reverse give the
// Q and the R of package avvi's Eq. 4 (with X and Z tensors and λ an
// SNISAux), and the pair gives IWAE when U = log π − log p(x, ·).
//
// The data x is the context: [n, c], one row per data point. Candidates
// are drawn per data point, K for each (PerPoint does not apply).
type SNISQ struct {
	Model *SNIS
}

// AsQ returns the model conditioned on x as a variational family.
func (m *SNIS) AsQ() SNISQ { return SNISQ{m} }

// Sample draws K candidates z_{1:K} ~ π(· | x) for each data point,
// selects i with probability w(z_i | x)/Σ_k w(z_k | x), and returns z = z_i
// ([n, d]), λ = (z_{1:K}, i) and log q(z, λ | x) ([n]). z and log q are
// differentiable through the candidates where the proposal draws are
// reparameterized (the index is a constant; see package avvi for what that
// means for gradients). It panics if x is not [n, c].
func (q SNISQ) Sample(rng *rand.Rand, x *ad.Tensor) (z *ad.Tensor, lambda SNISAux, logq *ad.Tensor) {
	m := q.Model
	m.check("AsQ().Sample")
	n := snisQContext("SNISQ.Sample", x)
	checkEnergy("SNISQ.Sample", m.Energy, x, m.Proposal.Dim())
	cand := m.Proposal.Sample(rng, x, m.K) // [K, n, d]
	logPi := m.Proposal.LogProb(x, cand)   // [K, n]
	negU := ad.Neg(m.Energy.Energy(x, cand))
	nd := negU.Data()
	lw := make([]float64, m.K)
	idx := make([]int, n)
	for r := range n {
		for k := range m.K {
			lw[k] = nd[k*n+r]
		}
		idx[r] = sampleLogCategorical(rng, lw)
	}
	lambda = SNISAux{Candidates: cand, Index: idx}
	z, logq = assembleQ(lambda, logPi, negU)
	return z, lambda, logq
}

// At returns z = z_i and log q(z, λ | x) for a given λ, [n, d] and [n]:
// the density of Sample's draws, for enumerating λ or replaying draws.
// It panics if the shapes do not fit (x [n, c], candidates [K, n, d] with
// K the model's, n indices in [0, K)).
func (q SNISQ) At(x *ad.Tensor, lambda SNISAux) (z, logq *ad.Tensor) {
	m := q.Model
	m.check("AsQ().At")
	snisQCheckAux("SNISQ.At", x, lambda, m.Proposal.Dim())
	checkEnergy("SNISQ.At", m.Energy, x, m.Proposal.Dim())
	if k := lambda.Candidates.Dim(0); k != m.K {
		panic(fmt.Sprintf("eimfamily: SNISQ.At: %d candidates, the model has K = %d", k, m.K))
	}
	logPi := m.Proposal.LogProb(x, lambda.Candidates)
	negU := ad.Neg(m.Energy.Energy(x, lambda.Candidates))
	return assembleQ(lambda, logPi, negU)
}

// assembleQ returns z_i and Σ_k log π(z_k) − U(z_i) − logsumexp_k(−U(z_k)).
func assembleQ(lambda SNISAux, logPi, negU *ad.Tensor) (z, logq *ad.Tensor) {
	cand := lambda.Candidates
	n, d := cand.Dim(1), cand.Dim(2)
	zi := make([]int, 0, n*d)
	for _, i := range lambda.Index {
		for range d {
			zi = append(zi, i)
		}
	}
	z = ad.Reshape(ad.Gather(cand, 0, zi, 1), n, d)
	negUi := ad.Reshape(ad.Gather(negU, 0, lambda.Index, 1), n)
	logq = ad.Add(ad.Sum(logPi, 0), ad.Sub(negUi, ad.LogSumExp(negU, 0)))
	return z, logq
}

// Reverse returns the paper's reverse model for the SNIS family, Eq. 6,
// with the family's proposal.
func (q SNISQ) Reverse() SNISReverse { return SNISReverse{Proposal: q.Model.Proposal} }

// SNISReverse is the reverse model of Eq. 6 (Sec. 5.1, App. A) for an
// SNIS variational family with proposal π:
//
//	r(z_{1:K}, i | z, x) = (1/K) δ_{z_i}(z) Π_{j≠i} π(z_j | x),
//
// the selected index uniform, the selected candidate at z and the others
// drawn afresh from the proposal. With U = log π − log p(x, ·), the Eq. 4
// integrand with this r is the IWAE integrand log (1/K) Σ_k w(z_k | x).
type SNISReverse struct {
	Proposal Proposal
}

// LogProb returns log r(λ | z, x), [n]: −log K + Σ_{j≠i} log π(z_j | x)
// where z equals the selected candidate z_i, and −Inf (the δ) where it
// does not. It is differentiable in the candidates and the proposal's
// parameters. It panics if the shapes do not fit (x [n, c], z [n, d],
// candidates [K, n, d], n indices in [0, K)).
func (r SNISReverse) LogProb(x, z *ad.Tensor, lambda SNISAux) *ad.Tensor {
	snisQCheckAux("SNISReverse.LogProb", x, lambda, r.Proposal.Dim())
	logPi := r.Proposal.LogProb(x, lambda.Candidates) // [K, n]
	return SNISReverseLogProb(z, lambda, logPi)
}

// SNISReverseLogProb returns −log K + Σ_{j≠i} l_j, [n], for per-candidate log
// densities l ([K, n]) of the unselected candidates, with the δ_{z_i}(z)
// of Eq. 6: −Inf where z ([n, d]) is not the selected candidate. It is
// the reverse model Eq. 6 with l_j = log π(z_j | x), and the learned one
// of Sec. 5.1 with l_j = log r(z_j | z, x). The selected entries of l are
// ignored (they may be −Inf). It panics if the shapes do not fit.
func SNISReverseLogProb(z *ad.Tensor, lambda SNISAux, l *ad.Tensor) *ad.Tensor {
	if z == nil || z.Rank() != 2 {
		panic(fmt.Sprintf("eimfamily: SNISReverseLogProb: z shape %v, want [n, d]", snisQShape(z)))
	}
	snisQCheckCands("SNISReverseLogProb", lambda, z.Dim(0), z.Dim(1))
	cand := lambda.Candidates
	k, n, d := cand.Dim(0), cand.Dim(1), cand.Dim(2)
	if l == nil || l.Rank() != 2 || l.Dim(0) != k || l.Dim(1) != n {
		panic(fmt.Sprintf("eimfamily: SNISReverseLogProb: log densities %v, want [%d, %d]", snisQShape(l), k, n))
	}
	others := make([]float64, k*n) // 1 where j ≠ i
	selected := make([]float64, n) // 1 where z = z_i
	cd, zd := cand.Data(), z.Data()
	for r, i := range lambda.Index {
		for j := range k {
			if j != i {
				others[j*n+r] = 1
			}
		}
		selected[r] = 1
		for c := range d {
			if zd[r*d+c] != cd[(i*n+r)*d+c] {
				selected[r] = 0
			}
		}
	}
	sum := ad.Sum(ad.Where(ad.New(others, k, n), l, ad.Scalar(0)), 0)
	logr := ad.AddScalar(sum, -math.Log(float64(k)))
	return ad.Where(ad.New(selected, n), logr, ad.Scalar(math.Inf(-1)))
}

// snisQContext panics unless x is a batch of contexts [n, c]; it returns n.
func snisQContext(who string, x *ad.Tensor) int {
	if x == nil || x.Rank() != 2 {
		panic(fmt.Sprintf("eimfamily: %s: x shape %v, want [n, c]", who, snisQShape(x)))
	}
	return x.Dim(0)
}

// snisQCheckAux panics unless λ fits the contexts x ([n, c]): candidates
// [K, n, d] and n indices in [0, K).
func snisQCheckAux(who string, x *ad.Tensor, lambda SNISAux, d int) {
	snisQCheckCands(who, lambda, snisQContext(who, x), d)
}

// snisQCheckCands panics unless λ holds candidates [K, n, d] with K ≥ 1
// and n indices in [0, K).
func snisQCheckCands(who string, lambda SNISAux, n, d int) {
	cand := lambda.Candidates
	if cand == nil || cand.Rank() != 3 || cand.Dim(0) < 1 || cand.Dim(1) != n || cand.Dim(2) != d || len(lambda.Index) != n {
		panic(fmt.Sprintf("eimfamily: %s: candidates %v and %d indices, want [K, %d, %d] and %d", who, snisQShape(cand), len(lambda.Index), n, d, n))
	}
	for _, i := range lambda.Index {
		if i < 0 || i >= cand.Dim(0) {
			panic(fmt.Sprintf("eimfamily: %s: index %d out of range for %d candidates", who, i, cand.Dim(0)))
		}
	}
}

func snisQShape(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}
