package dist

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
)

func TestBernoulliLogProbGonum(t *testing.T) {
	const n, d = 5, 4
	rng := newRNG(20)
	logits := randTensor(rng, -3, 3, n, d)
	x := ad.Zeros(n, d)
	for i := range x.Data() {
		x.Data()[i] = float64(rng.IntN(2))
	}
	want := make([]float64, n)
	for i, l := range logits.Data() {
		want[i/d] += distuv.Bernoulli{P: 1 / (1 + math.Exp(-l))}.LogProb(x.Data()[i])
	}
	lp := NewBernoulli(logits).LogProb(x)
	if !slices.Equal(lp.Shape(), []int{n}) {
		t.Fatalf("LogProb shape %v, want [%d]", lp.Shape(), n)
	}
	checkClose(t, "Bernoulli vs distuv", lp.Data(), want)

	// Saturated logits stay finite and exact: log σ(±40) = −log1p(e^∓40).
	b := NewBernoulli(tensorOf([]float64{40, -40}, 2))
	got := b.LogProb(tensorOf([]float64{0, 1}, 2)).Item()
	if want := -40 - math.Log1p(math.Exp(-40)) - 40 - math.Log1p(math.Exp(-40)); got != want {
		t.Errorf("saturated LogProb = %.17g, want %.17g", got, want)
	}
}

func TestBernoulliMoments(t *testing.T) {
	logits := tensorOf([]float64{-2, 0, 1.5, 4}, 4)
	x := NewBernoulli(logits).Sample(newRNG(21), nMC)
	if want := []int{nMC, 4}; !slices.Equal(x.Shape(), want) {
		t.Fatalf("Sample shape %v, want %v", x.Shape(), want)
	}
	if slices.ContainsFunc(x.Data(), func(v float64) bool { return v != 0 && v != 1 }) {
		t.Fatalf("Sample drew a value other than 0 or 1")
	}
	for j, l := range logits.Data() {
		p := 1 / (1 + math.Exp(-l))
		// Central moments of Bernoulli(p): σ² = p(1−p),
		// μ₄ = p(1−p)⁴ + (1−p)p⁴ = p(1−p)(1 − 3p + 3p²).
		checkMoments(t, "Bernoulli", column(x.Data(), j, 4), p, p*(1-p), p*(1-p)*(1-3*p+3*p*p))
	}
}

func TestBernoulliGrad(t *testing.T) {
	rng := newRNG(22)
	logits := randTensor(rng, -3, 3, 2, 3)
	x := randTensor(rng, 0, 1, 4, 2, 3) // gray levels: LogProb is linear in x
	checkGrad(t, "Bernoulli.LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewBernoulli(ps[0]).LogProb(ps[1]))
	}, logits, x)
	checkGrad(t, "Bernoulli.Probs", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewBernoulli(ps[0]).Probs())
	}, logits)
}

// TestBernoulliLogProbExtremes checks LogProb where the logits saturate
// or are infinite: a draw the logit makes certain scores 0, one it rules
// out −Inf (or −|l| at finite |l|), and gray levels their linear mix; the
// gradient is x − σ(l), exact in these limits.
func TestBernoulliLogProbExtremes(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct{ x, l, want, grad float64 }{
		{1, 1e300, 0, 0}, {0, 1e300, -1e300, -1}, {0, -1e300, 0, 0}, {1, -1e300, -1e300, 1},
		{1, inf, 0, 0}, {0, -inf, 0, 0}, {0, inf, -inf, -1}, {1, -inf, -inf, 1},
		{0.5, inf, -inf, -0.5}, {0.5, 1e300, -0.5e300, -0.5},
	}
	for _, c := range cases {
		l := tensorOf([]float64{c.l}, 1).RequireGrad()
		lp := NewBernoulli(l).LogProb(tensorOf([]float64{c.x}, 1))
		if got := lp.Item(); got != c.want {
			t.Errorf("LogProb(x=%v | l=%v) = %v, want %v", c.x, c.l, got, c.want)
		}
		if g := ad.Grad(lp, l)[0].Item(); g != c.grad {
			t.Errorf("∂LogProb(x=%v | l=%v)/∂l = %v, want %v", c.x, c.l, g, c.grad)
		}
	}
}
