package avvi_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/stat"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
)

// tol is the absolute-or-relative tolerance between two evaluations of
// the same closed form on a handful of numbers of size ≲ 1000 (the
// shifted log-space forms against gonum's direct ones): a few ulps.
const tol = 1e-12

// The finite toy of these tests: z ∈ {0, 1}, λ ∈ {0, 1, 2}, γ ∈ {0, 1},
// with fixed tables. The exact properties (unbiasedness, orderings, the KL
// identities) are in package proofs_test; here the tables only have to
// make every term distinct, so that a term the integrand drops or
// mis-signs shows.
var (
	logPXZ = [2]float64{-1.1, -2.3}
	logQZL = [2][3]float64{{-1.5, -2.0, -2.5}, {-1.2, -1.9, -3.1}}
	logRLZ = [2][3]float64{{-0.9, -1.4, -1.1}, {-1.3, -0.8, -1.2}}
	logSG  = [2]float64{-0.4, -1.1}
	logRLG = [2][3][2]float64{{{-1.1, -2.2}, {-1.7, -2.9}, {-1.3, -2.5}}, {{-1.9, -2.0}, {-1.0, -2.8}, {-1.4, -2.6}}}
)

type toyModel struct{}

func (toyModel) LogJoint(_ struct{}, z int) *ad.Tensor { return ad.Scalar(logPXZ[z]) }

// fixedQ "draws" a given (z, λ) and reports its table log density.
type fixedQ struct{ z, l int }

func (q fixedQ) Sample(*rand.Rand, struct{}) (int, int, *ad.Tensor) {
	return q.z, q.l, ad.Scalar(logQZL[q.z][q.l])
}

type toyR struct{}

func (toyR) LogProb(_ struct{}, z, l int) *ad.Tensor { return ad.Scalar(logRLZ[z][l]) }

// fixedS "draws" a given γ.
type fixedS struct{ g int }

func (s fixedS) Sample(*rand.Rand, struct{}, int, int) (int, *ad.Tensor) {
	return s.g, ad.Scalar(logSG[s.g])
}

type toyRG struct{}

func (toyRG) LogProb(_ struct{}, z int, a avvi.Aux[int, int]) *ad.Tensor {
	return ad.Scalar(logRLG[z][a.Lambda][a.Gamma])
}

// marginalQ "draws" z with a made-up density, for ELBO.
type marginalQ struct{ z int }

func (q marginalQ) Sample(*rand.Rand, struct{}) (int, avvi.None, *ad.Tensor) {
	return q.z, avvi.None{}, ad.Scalar(-0.7 - float64(q.z))
}

// TestIntegrands checks each integrand against its formula, term by term.
func TestIntegrands(t *testing.T) {
	var x struct{}
	for z := range 2 {
		got := avvi.ELBO(nil, toyModel{}, marginalQ{z}, x).Item()
		if want := logPXZ[z] - (-0.7 - float64(z)); got != want {
			t.Errorf("ELBO(z=%d) = %v, want %v", z, got, want)
		}
		for l := range 3 {
			got := avvi.Integrand(nil, toyModel{}, fixedQ{z, l}, toyR{}, x).Item()
			want := logPXZ[z] + logRLZ[z][l] - logQZL[z][l]
			if !scalar.EqualWithinAbsOrRel(got, want, tol, tol) {
				t.Errorf("Integrand(z=%d, λ=%d) = %v, want %v", z, l, got, want)
			}
			for g := range 2 {
				got := avvi.AugmentedIntegrand(nil, toyModel{}, fixedQ{z, l}, fixedS{g}, toyRG{}, x).Item()
				want := logPXZ[z] + logRLG[z][l][g] - logQZL[z][l] - logSG[g]
				if !scalar.EqualWithinAbsOrRel(got, want, tol, tol) {
					t.Errorf("AugmentedIntegrand(z=%d, λ=%d, γ=%d) = %v, want %v", z, l, g, got, want)
				}
			}
		}
	}
}

// TestMultiSample checks the grouping: consecutive groups of k draws,
// log-mean-exp within each, entry by entry.
func TestMultiSample(t *testing.T) {
	w := ad.New([]float64{0, -1, 1, -2, 2, 0.5, -3, 4, 0, 0, -1, 1}, 6, 2) // [S=6, n=2]
	got := avvi.MultiSample(w, 3)                                          // [2, 2]
	if s := got.Shape(); len(s) != 2 || s[0] != 2 || s[1] != 2 {
		t.Fatalf("shape %v, want [2 2]", s)
	}
	for g := range 2 {
		for c := range 2 {
			sum := 0.0
			for i := range 3 {
				sum += math.Exp(w.At(3*g+i, c))
			}
			if want := math.Log(sum / 3); !scalar.EqualWithinAbsOrRel(got.At(g, c), want, tol, tol) {
				t.Errorf("group %d entry %d: %v, want %v", g, c, got.At(g, c), want)
			}
		}
	}
	if b := avvi.Bound(w).Data(); !scalar.EqualWithinAbsOrRel(b[0], (0+1+2-3+0-1)/6.0, tol, tol) {
		t.Errorf("Bound = %v", b)
	}
}

// TestSummaries checks Summarize against gonum's mean and standard
// deviation, and EstimateEvidence against the direct formula on exp w,
// then at a shift of −1000 where the direct formula underflows.
func TestSummaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const s = 50
	col := make([]float64, s)
	data := make([]float64, s*2)
	for i := range s {
		col[i] = rng.NormFloat64()
		data[2*i] = col[i]
		data[2*i+1] = col[i] - 1000
	}
	w := ad.New(data, s, 2)
	mean, sd := stat.MeanStdDev(col, nil)
	e := avvi.Summarize(w)
	if !scalar.EqualWithinAbsOrRel(e.Mean[0], mean, tol, tol) || !scalar.EqualWithinAbsOrRel(e.StdErr[0], sd/math.Sqrt(s), tol, tol) || e.S != s {
		t.Errorf("Summarize = %v ± %v (S=%d), want %v ± %v", e.Mean[0], e.StdErr[0], e.S, mean, sd/math.Sqrt(s))
	}
	ex := make([]float64, s)
	for i, v := range col {
		ex[i] = math.Exp(v)
	}
	pm, psd := stat.MeanStdDev(ex, nil)
	ev := avvi.EstimateEvidence(w)
	for c, shift := range []float64{0, -1000} {
		if !scalar.EqualWithinAbsOrRel(ev.LogMean[c], math.Log(pm)+shift, tol, tol) ||
			!scalar.EqualWithinAbsOrRel(ev.LogStdErr[c], math.Log(psd/math.Sqrt(s))+shift, tol, tol) {
			t.Errorf("shift %v: EstimateEvidence = %v, %v; want %v, %v", shift, ev.LogMean[c], ev.LogStdErr[c], math.Log(pm)+shift, math.Log(psd/math.Sqrt(s))+shift)
		}
	}

	inf := avvi.EstimateEvidence(ad.Full(math.Inf(-1), 3, 1))
	if !math.IsInf(inf.LogMean[0], -1) || !math.IsInf(inf.LogStdErr[0], -1) {
		t.Errorf("all −Inf: %v, %v; want −Inf, −Inf", inf.LogMean[0], inf.LogStdErr[0])
	}
	one := avvi.Summarize(ad.Zeros(1, 1))
	if !math.IsInf(one.StdErr[0], 1) {
		t.Errorf("one draw: standard error %v, want +Inf", one.StdErr[0])
	}
}

// TestDraws checks that Draws stacks s calls in order and is reproducible.
func TestDraws(t *testing.T) {
	f := func(rng *rand.Rand) *ad.Tensor { return ad.Randn(rng, 3) }
	a := avvi.Draws(rand.New(rand.NewPCG(3, 4)), 4, f)
	b := avvi.Draws(rand.New(rand.NewPCG(3, 4)), 4, f)
	if s := a.Shape(); len(s) != 2 || s[0] != 4 || s[1] != 3 {
		t.Fatalf("shape %v, want [4 3]", s)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 4 {
		row := ad.Randn(rng, 3).Data()
		for j := range 3 {
			if a.At(i, j) != row[j] || b.At(i, j) != row[j] {
				t.Fatalf("draw %d differs from the %d-th call", i, i)
			}
		}
	}
}

type badShapeR struct{}

func (badShapeR) LogProb(struct{}, int, int) *ad.Tensor { return ad.Zeros(2) }

// TestPanics checks that caller errors panic with a message naming the
// package.
func TestPanics(t *testing.T) {
	var x struct{}
	cases := map[string]func(){
		"shapes":         func() { avvi.Integrand(nil, toyModel{}, fixedQ{0, 0}, badShapeR{}, x) },
		"draws":          func() { avvi.Draws(nil, 0, nil) },
		"multi k":        func() { avvi.MultiSample(ad.Zeros(5, 2), 2) },
		"bound scalar":   func() { avvi.Bound(ad.Scalar(1)) },
		"summary scalar": func() { avvi.Summarize(ad.Scalar(1)) },
	}
	for name, f := range cases {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "avvi: ") {
					t.Errorf("%s: panic %q, want one starting with \"avvi: \"", name, msg)
				}
			}()
			f()
		}()
	}
}

// TestSummarizeBatch checks the batch summary on values whose mean and
// standard error are exact in binary, far from zero, and at the edges.
func TestSummarizeBatch(t *testing.T) {
	// 1e9 + {1, 2, 3, 4, 5}: mean 1e9 + 3, sample variance 2.5, s.e. √(2.5/5).
	s := avvi.SummarizeBatch(ad.New([]float64{1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4, 1e9 + 5}, 5))
	if s.Mean != 1e9+3 || math.Abs(s.StdErr-math.Sqrt(0.5)) > 1e-15 || s.N != 5 {
		t.Errorf("summary %+v, want mean 1e9+3, s.e. √0.5, N 5", s)
	}
	if got, want := (avvi.Summary{Mean: -1.87172, StdErr: 0.00312, N: 9}).String(), "-1.8717 ± 0.0031"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if s := avvi.SummarizeBatch(ad.New([]float64{2}, 1)); s.Mean != 2 || !math.IsInf(s.StdErr, 1) {
		t.Errorf("one value: %+v, want mean 2 and s.e. +Inf", s)
	}
	if s := avvi.SummarizeBatch(ad.New([]float64{1, math.Inf(-1)}, 2)); !math.IsInf(s.Mean, -1) || !math.IsInf(s.StdErr, 1) {
		t.Errorf("with −Inf: %+v, want −Inf ± +Inf", s)
	}
	if s := avvi.SummarizeBatch(ad.New([]float64{1, math.NaN()}, 2)); !math.IsNaN(s.Mean) || !math.IsNaN(s.StdErr) {
		t.Errorf("with NaN: %+v, want NaN ± NaN", s)
	}
	// [S, n] integrands are summarized over all entries.
	if s := avvi.SummarizeBatch(ad.New([]float64{1, 2, 3, 6}, 2, 2)); s.Mean != 3 || s.N != 4 {
		t.Errorf("[2, 2]: %+v, want mean 3 over 4 entries", s)
	}
}
