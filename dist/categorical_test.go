package dist

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
)

func TestCategoricalLogProbGonum(t *testing.T) {
	const n, k, s = 3, 5, 4
	rng := newRNG(30)
	logits := randTensor(rng, -3, 3, n, k)
	logits.Data()[k+2] = math.Inf(-1) // a class of probability 0
	c := NewCategorical(logits)
	ref := make([]distuv.Categorical, n)
	for r := range n {
		w := make([]float64, k)
		for j := range k {
			w[j] = math.Exp(logits.Data()[r*k+j])
		}
		ref[r] = distuv.NewCategorical(w, nil)
	}

	// s draws of the batch, as LogProbIndex takes them: shape [s, n].
	idx := make([]int, s*n)
	want := make([]float64, s*n)
	for i := range idx {
		idx[i] = rng.IntN(k)
		want[i] = ref[i%n].LogProb(float64(idx[i]))
	}
	lp := c.LogProbIndex(idx, s)
	if !slices.Equal(lp.Shape(), []int{s, n}) {
		t.Fatalf("LogProbIndex shape %v, want [%d %d]", lp.Shape(), s, n)
	}
	checkClose(t, "LogProbIndex vs distuv", lp.Data(), want)

	x := ad.Zeros(s, n)
	for i, j := range idx {
		x.Data()[i] = float64(j)
	}
	checkClose(t, "LogProb vs distuv", c.LogProb(x).Data(), want)

	// A single index per batch row, and one distribution scoring many
	// indices.
	checkClose(t, "LogProbIndex, no sample shape", c.LogProbIndex(idx[:n]).Data(), want[:n])
	one := NewCategorical(tensorOf(logits.Data()[:k], k))
	var want1 []float64
	for _, j := range idx {
		want1 = append(want1, ref[0].LogProb(float64(j)))
	}
	checkClose(t, "LogProbIndex, logits [k]", one.LogProbIndex(idx, s, n).Data(), want1)

	// x narrower than the batch broadcasts over it; a batch of one
	// (logits [1, k]) broadcasts over x.
	xs := tensorOf([]float64{float64(idx[0])})
	var wantS []float64
	for r := range n {
		wantS = append(wantS, ref[r].LogProb(float64(idx[0])))
	}
	checkClose(t, "LogProb, scalar x", c.LogProb(xs).Data(), wantS)
	wide := NewCategorical(tensorOf(logits.Data()[:k], 1, k))
	checkClose(t, "LogProb, logits [1, k]", wide.LogProb(x).Data(), want1)

	probs := c.Probs().Data()
	for r := range n {
		for j := range k {
			checkClose(t, "Probs vs distuv", probs[r*k+j:r*k+j+1], []float64{ref[r].Prob(float64(j))})
		}
	}
}

// TestCategoricalFrequencies checks every class frequency against its
// probability p within zMax binomial standard errors √(p(1−p)/n); a class
// of probability 0 must never be drawn.
func TestCategoricalFrequencies(t *testing.T) {
	const k = 4
	logits := tensorOf([]float64{0, 1, -1, 0.5, 2, math.Inf(-1), 0, -3}, 2, k)
	c := NewCategorical(logits)
	probs := c.Probs().Data()
	idx := c.Sample(newRNG(31), nMC)
	if len(idx) != nMC*2 {
		t.Fatalf("Sample returned %d indices, want %d", len(idx), nMC*2)
	}
	counts := make([]float64, 2*k)
	for i, j := range idx {
		counts[(i%2)*k+j]++
	}
	for i, p := range probs {
		f := counts[i] / nMC
		if p == 0 {
			if counts[i] != 0 {
				t.Errorf("class %d of row %d has probability 0 but was drawn %g times", i%k, i/k, counts[i])
			}
			continue
		}
		if se := math.Sqrt(p * (1 - p) / nMC); math.Abs(f-p) > zMax*se {
			t.Errorf("class %d of row %d: frequency %.5f, want %.5f ± %d·%.2g", i%k, i/k, f, p, zMax, se)
		}
	}
}

func TestCategoricalGrad(t *testing.T) {
	rng := newRNG(32)
	const n, k = 2, 4
	logits := randTensor(rng, -2, 2, n, k)
	idx := []int{3, 0, 1, 1, 0, 2}
	checkGrad(t, "Categorical.LogProbIndex", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewCategorical(ps[0]).LogProbIndex(idx, 3))
	}, logits)
	x := tensorOf([]float64{2, 3}, n)
	checkGrad(t, "Categorical.LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewCategorical(ps[0]).LogProb(x))
	}, logits)
	checkGrad(t, "Categorical.Probs", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewCategorical(ps[0]).Probs())
	}, logits)

	// A −Inf logit leaves the gradient finite: ∂/∂l = onehot − softmax.
	l := tensorOf([]float64{0, math.Inf(-1), 1}, 3).RequireGrad()
	g := ad.Grad(NewCategorical(l).LogProbIndex([]int{2}), l)[0].Data()
	p2 := 1 / (1 + math.Exp(-1))
	checkClose(t, "gradient with a −Inf logit", g, []float64{-(1 - p2), 0, 1 - p2})
}
