package dist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// samplers returns one of each tensor-valued sampler, with batched
// parameters where the type allows them.
func samplers() map[string]Sampler {
	loc := tensorOf([]float64{-1, 0.5, 2, 0, 10, -3}, 2, 3)
	scale := tensorOf([]float64{0.5, 1, 3}, 3)
	return map[string]Sampler{
		"Normal":    NewNormal(loc, scale),
		"Bernoulli": NewBernoulli(loc),
		"Uniform":   NewUniform(loc, ad.AddScalar(loc, 1)),
		"MixtureNormal": NewMixtureNormal(tensorOf([]float64{0, 1}, 2),
			tensorOf([]float64{-1, 1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 10}, 3, 2, 2), tensorOf([]float64{1, 0.5, 0.2, 2}, 2, 2)),
	}
}

// TestSameSeedSameBits draws twice from the same seed and checks the
// draws, and the generator state left behind, are bitwise equal; RSample
// must match Sample bit for bit and consume the generator identically.
func TestSameSeedSameBits(t *testing.T) {
	for name, s := range samplers() {
		r1, r2 := newRNG(60), newRNG(60)
		a, b := s.Sample(r1, 7), s.Sample(r2, 7)
		if !sameBits(a.Data(), b.Data()) || r1.Uint64() != r2.Uint64() {
			t.Errorf("%s: same seed gave different draws", name)
		}
		if c := s.Sample(newRNG(61), 7); sameBits(a.Data(), c.Data()) {
			t.Errorf("%s: different seeds gave the same draws", name)
		}
		if want := join([]int{7}, s.(interface{ Shape() []int }).Shape()); !slices.Equal(a.Shape(), want) {
			t.Errorf("%s: Sample shape %v, want %v", name, a.Shape(), want)
		}
		if rs, ok := s.(RSampler); ok {
			r3, r4 := newRNG(60), newRNG(60)
			x, y := s.Sample(r3, 7), rs.RSample(r4, 7)
			if !sameBits(x.Data(), y.Data()) || r3.Uint64() != r4.Uint64() {
				t.Errorf("%s: RSample differs from Sample at the same seed", name)
			}
		}
	}
	c := NewCategorical(tensorOf([]float64{0, 1, 2, -1, 0, 3}, 2, 3))
	r1, r2 := newRNG(62), newRNG(62)
	if a, b := c.Sample(r1, 50), c.Sample(r2, 50); !slices.Equal(a, b) || r1.Uint64() != r2.Uint64() {
		t.Errorf("Categorical: same seed gave different draws")
	}
	// Draws with no sample shape: one per batch element.
	if got := len(c.Sample(newRNG(63))); got != 2 {
		t.Errorf("Categorical: Sample with no sample shape gave %d draws, want 2", got)
	}
}

func TestShapePanics(t *testing.T) {
	v3 := ad.Zeros(3)
	v4 := ad.Zeros(4)
	m23 := ad.Zeros(2, 3)
	rng := rand.New(rand.NewPCG(1, 1))
	n := NewNormal(m23, v3)
	u := NewUniform(v3, ad.Ones(3))
	b := NewBernoulli(m23)
	c := NewCategorical(m23)
	mx := NewMixtureNormal(ad.Zeros(2), ad.Zeros(2, 3), ad.Ones(2, 3))
	for _, tc := range []struct {
		prefix string
		f      func()
		parts  []string
	}{
		{"dist: NewNormal:", func() { NewNormal(v3, v4) }, []string{"[3]", "[4]"}},
		{"dist: NewNormal:", func() { NewNormal(ad.Scalar(0), ad.Scalar(1)) }, []string{"rank"}},
		{"dist: NewNormalLogScale:", func() { NewNormalLogScale(m23, v4) }, []string{"[2 3]", "[4]"}},
		{"dist: Normal.LogProb:", func() { n.LogProb(v4) }, []string{"[4]", "[2 3]"}},
		{"dist: Normal.LogProb:", func() { n.LogProb(ad.Zeros(4, 3)) }, []string{"[4 3]", "[2 3]"}},
		{"dist: Normal.LogProb:", func() { n.LogProb(ad.Scalar(0)) }, []string{"[]"}},
		{"dist: Normal.Sample:", func() { n.Sample(rng, -1) }, []string{"[-1]"}},
		{"dist: Normal.Sample:", func() { n.Sample(nil) }, []string{"nil"}},
		{"dist: Categorical.Sample:", func() { c.Sample(nil) }, []string{"nil"}},
		{"dist: Normal.RSample:", func() { n.RSample(rng, 2, -1) }, []string{"[2 -1]"}},
		{"dist: Normal.KL:", func() { n.KL(NewNormal(v4, v4)) }, []string{"[2 3]", "[4]"}},
		{"dist: NewBernoulli:", func() { NewBernoulli(ad.Scalar(0)) }, []string{"[]"}},
		{"dist: Bernoulli.LogProb:", func() { b.LogProb(v4) }, []string{"[4]", "[2 3]"}},
		{"dist: Bernoulli.Sample:", func() { b.Sample(rng, -2) }, []string{"[-2]"}},
		{"dist: NewUniform:", func() { NewUniform(v3, v4) }, []string{"[3]", "[4]"}},
		{"dist: Uniform.LogProb:", func() { u.LogProb(v4) }, []string{"[4]", "[3]"}},
		{"dist: Uniform.RSample:", func() { u.RSample(rng, -1) }, []string{"[-1]"}},
		{"dist: NewCategorical:", func() { NewCategorical(ad.Scalar(0)) }, []string{"[]"}},
		{"dist: NewCategorical:", func() { NewCategorical(ad.Zeros(2, 0)) }, []string{"[2 0]"}},
		{"dist: Categorical.LogProb:", func() { c.LogProb(ad.Zeros(3)) }, []string{"[3]", "[2]"}},
		{"dist: Categorical.LogProb:", func() { c.LogProb(ad.Full(3, 2)) }, []string{"3", "[0, 3)"}},
		{"dist: Categorical.LogProb:", func() { c.LogProb(ad.Full(0.5, 2)) }, []string{"0.5"}},
		{"dist: Categorical.LogProbIndex:", func() { c.LogProbIndex([]int{0, 1, 2}, 2) }, []string{"3 indices", "[2]"}},
		{"dist: Categorical.LogProbIndex:", func() { c.LogProbIndex([]int{0, 3}) }, []string{"index 3"}},
		{"dist: Categorical.Sample:", func() { c.Sample(rng, -1) }, []string{"[-1]"}},
		{"dist: Categorical.Sample:", func() { NewCategorical(ad.Full(math.Inf(-1), 2)).Sample(rng) }, []string{"[2]"}},
		{"dist: NewMixtureNormal:", func() { NewMixtureNormal(ad.Zeros(3), m23, m23) }, []string{"[3]", "[2 3]"}},
		{"dist: NewMixtureNormal:", func() { NewMixtureNormal(ad.Zeros(4, 2), ad.Zeros(3, 2, 1), ad.Ones(3, 2, 1)) }, []string{"[4 2]", "[3 2 1]"}},
		{"dist: MixtureNormal.LogProb:", func() { mx.LogProb(v4) }, []string{"[4]", "[3]"}},
		{"dist: MixtureNormal.Sample:", func() { mx.Sample(rng, -1) }, []string{"[-1]"}},
	} {
		mustPanic(t, tc.prefix, tc.f, tc.parts...)
	}
}

func TestAccessors(t *testing.T) {
	loc, scale := tensorOf([]float64{1, 2}, 2), tensorOf([]float64{0.5, 3}, 2)
	n := NewNormal(loc, scale)
	if n.Loc() != loc || n.Scale() != scale || !sameBits(n.LogScale().Data(), ad.Log(scale).Data()) {
		t.Errorf("Normal accessors do not return the parameters")
	}
	nl := NewNormalLogScale(loc, ad.Log(scale))
	checkClose(t, "NewNormalLogScale Scale", nl.Scale().Data(), scale.Data())
	if u := NewUniform(loc, scale); u.Low() != loc || u.High() != scale {
		t.Errorf("Uniform accessors do not return the parameters")
	}
	if b := NewBernoulli(loc); b.Logits() != loc {
		t.Errorf("Bernoulli.Logits does not return the logits")
	}
	l := tensorOf([]float64{0, 1, -2, 3, 0.5, 0}, 2, 3)
	c := NewCategorical(l)
	if c.Logits() != l || c.NumClasses() != 3 || !slices.Equal(c.Shape(), []int{2}) {
		t.Errorf("Categorical accessors: logits %v, %d classes, shape %v", c.Logits(), c.NumClasses(), c.Shape())
	}
	checkClose(t, "Categorical LogProbs", c.LogProbs().Data(), ad.Log(c.Probs()).Data())
	mx := NewMixtureNormal(loc, tensorOf([]float64{0, 1, 2, 3}, 2, 2), scale.Clone())
	if mx.Logits() != loc || mx.NumComponents() != 2 || !slices.Equal(mx.Components().Shape(), []int{2, 2}) {
		t.Errorf("MixtureNormal accessors: logits %v, %d components of shape %v", mx.Logits(), mx.NumComponents(), mx.Components().Shape())
	}
}
