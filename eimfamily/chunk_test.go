package eimfamily

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// chunkS is the number of samples of the chunking tests: prime, so that
// chunks of 7 leave a short last chunk.
const chunkS = 23

func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// chunkCase is one family configuration of the chunking tests: set sets
// the chunk size, integrands and boundS run the family.
type chunkCase struct {
	name       string
	set        func(c int)
	integrands func(rng *rand.Rand, s int) *ad.Tensor
	boundS     func(rng *rand.Rand, s int) *ad.Tensor
	params     []*ad.Tensor
	evaluateS  func(rng *rand.Rand, s int) *ad.Tensor
}

func chunkCases() []chunkCase {
	prop, energy, cond := gradModel()
	x, ctx := gradData()
	var cases []chunkCase
	for _, v := range []struct {
		name     string
		ctx      *ad.Tensor
		e        Energy
		perPoint bool
	}{{"shared", nil, energy, false}, {"per point", nil, energy, true}, {"conditional", ctx, cond, false}} {
		snis := &SNIS{Proposal: prop, Energy: v.e, K: 4, PerPoint: v.perPoint}
		trs := NewTRS(prop, v.e, 4)
		trs.PerPoint = v.perPoint
		trs.LogitZ = ad.Scalar(-0.4).RequireGrad()
		c := v.ctx
		cases = append(cases,
			chunkCase{"SNIS " + v.name, func(k int) { snis.Chunk = k },
				func(rng *rand.Rand, s int) *ad.Tensor { return snis.Integrands(rng, c, x, s) },
				func(rng *rand.Rand, s int) *ad.Tensor { return snis.BoundS(rng, c, x, s) }, snis.Params(),
				func(rng *rand.Rand, s int) *ad.Tensor { return snis.EvaluateS(rng, c, x, s) }},
			chunkCase{"TRS " + v.name, func(k int) { trs.Chunk = k },
				func(rng *rand.Rand, s int) *ad.Tensor { return trs.Integrands(rng, c, x, s) },
				func(rng *rand.Rand, s int) *ad.Tensor { return trs.BoundS(rng, c, x, s) }, trs.Params(),
				func(rng *rand.Rand, s int) *ad.Tensor { return trs.EvaluateS(rng, c, x, s) }})
	}
	for _, v := range []struct {
		name string
		c    int
		ctx  *ad.Tensor
	}{{"unconditional", 0, nil}, {"conditional", 1, ctx}} {
		h := newTestHIS(5, 2, v.c, 2)
		c := v.ctx
		cases = append(cases, chunkCase{"HIS " + v.name, func(k int) { h.Chunk = k },
			func(rng *rand.Rand, s int) *ad.Tensor { return h.Integrands(rng, c, x, s) },
			func(rng *rand.Rand, s int) *ad.Tensor { return h.BoundS(rng, c, x, s) }, h.Params(),
			func(rng *rand.Rand, s int) *ad.Tensor { return h.EvaluateS(rng, c, x, s) }})
	}
	return cases
}

// TestChunkBitwise checks that Integrands and BoundS are bitwise the same
// for chunk sizes 1, 7, S and the default, for every family and layout:
// the draws come from rng in one order and the log-mean-exp runs once
// over the joined integrands.
func TestChunkBitwise(t *testing.T) {
	for _, c := range chunkCases() {
		c.set(chunkS)
		wantW := c.integrands(rand.New(rand.NewPCG(11, 12)), chunkS).Data()
		wantB := c.boundS(rand.New(rand.NewPCG(11, 12)), chunkS).Data()
		for _, k := range []int{1, 7, chunkS, 0, 100} {
			c.set(k)
			if got := c.integrands(rand.New(rand.NewPCG(11, 12)), chunkS).Data(); !bitsEqual(got, wantW) {
				t.Errorf("%s, Chunk %d: Integrands differ from Chunk %d", c.name, k, chunkS)
			}
			if got := c.boundS(rand.New(rand.NewPCG(11, 12)), chunkS).Data(); !bitsEqual(got, wantB) {
				t.Errorf("%s, Chunk %d: BoundS %v, Chunk %d gives %v", c.name, k, got, chunkS, wantB)
			}
			if got := c.evaluateS(rand.New(rand.NewPCG(11, 12)), chunkS); got.RequiresGrad() || !bitsEqual(got.Data(), wantB) {
				t.Errorf("%s, Chunk %d: EvaluateS %v (graph: %t), want BoundS's %v as a constant", c.name, k, got.Data(), got.RequiresGrad(), wantB)
			}
		}
	}
}

// TestChunkGradient checks the gradient of a chunked BoundS against
// finite differences of the same function at a fixed seed, and against
// the unchunked gradient (to rounding: the chunks' contributions are
// accumulated in another order).
func TestChunkGradient(t *testing.T) {
	const s = 5
	for _, c := range chunkCases() {
		c.set(s)
		whole := ad.Grad(ad.Sum(c.boundS(rand.New(rand.NewPCG(2, 3)), s)), c.params...)
		c.set(2)
		f := func() *ad.Tensor { return ad.Sum(c.boundS(rand.New(rand.NewPCG(2, 3)), s)) }
		got := ad.Grad(f(), c.params...)
		for i := range got {
			for j, g := range got[i].Data() {
				w := whole[i].Data()[j]
				if math.Abs(g-w) > 1e-12*max(1, math.Abs(w)) {
					t.Errorf("%s: parameter %d[%d]: chunked ∂ = %v, unchunked %v", c.name, i, j, g, w)
				}
			}
		}
		if strings.HasPrefix(c.name, "HIS") {
			continue // HIS's finite-difference checks live in his_test (they are slow)
		}
		checkGrad(t, c.name+" BoundS chunked", c.params, f)
	}
}

// TestIntegrandsAtReplays checks that each family's integrands at given
// draws, with the draws Integrands takes from rng supplied by hand, are
// bitwise Integrands' own.
func TestIntegrandsAtReplays(t *testing.T) {
	prop, energy, cond := gradModel()
	x, ctx := gradData()
	const s, n, d = 3, 4, 2
	seed := func() *rand.Rand { return rand.New(rand.NewPCG(21, 22)) }

	snis := &SNIS{Proposal: prop, Energy: energy, K: 5}
	want := snis.Integrands(seed(), nil, x, s).Data()
	cand := ad.Reshape(prop.Sample(seed(), nil, s*4), s, 4, d)
	if got := snis.IntegrandsAt(nil, x, cand).Data(); !bitsEqual(got, want) {
		t.Errorf("SNIS shared: IntegrandsAt %v, Integrands %v", got, want)
	}
	cs := &SNIS{Proposal: prop, Energy: cond, K: 5}
	want = cs.Integrands(seed(), ctx, x, s).Data()
	cand = ad.Reshape(prop.Sample(seed(), ctx, s*4), s, 4, n, d)
	if got := cs.IntegrandsAt(ctx, x, cand).Data(); !bitsEqual(got, want) {
		t.Errorf("SNIS conditional: IntegrandsAt %v, Integrands %v", got, want)
	}

	trs := NewTRS(prop, energy, 6)
	trs.LogitZ = ad.Scalar(-1.5) // Ẑ small: long runs of rejections
	want = trs.Integrands(seed(), nil, x, s).Data()
	r := seed()
	idx := trs.SampleIndex(r, nil, x, s)
	maxRej := 0
	for _, i := range idx {
		maxRej = max(maxRej, i-1)
	}
	if maxRej == 0 {
		t.Fatal("no rejections drawn: the test does not exercise the rejected draws")
	}
	rej := ad.Reshape(prop.Sample(r, nil, s*maxRej), s, maxRej, d)
	if got := trs.IntegrandsAt(nil, x, idx, rej).Data(); !bitsEqual(got, want) {
		t.Errorf("TRS: IntegrandsAt %v, Integrands %v", got, want)
	}
	lq := trs.IndexLogProbs(nil, x)
	for p, row := range lq {
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(v)
		}
		if math.Abs(sum-1) > exactTol {
			t.Errorf("TRS: Σ_i q(i | x_%d) = %v", p, sum)
		}
	}

	h := newTestHIS(5, 2, 0, 2)
	want = h.Integrands(seed(), nil, x, s).Data()
	xi := ad.Randn(seed(), s, n, d)
	if got := h.IntegrandsAt(nil, x, xi).Data(); !bitsEqual(got, want) {
		t.Errorf("HIS: IntegrandsAt %v, Integrands %v", got, want)
	}
}

// TestPanicNamesMethod checks that a misuse panics with the name of the
// method the caller called, not an internal one.
func TestPanicNamesMethod(t *testing.T) {
	prop, energy, _ := gradModel()
	bad := ad.Zeros(3, 5)
	rng := rand.New(rand.NewPCG(1, 1))
	snis := &SNIS{Proposal: prop, Energy: energy, K: 3}
	trs := NewTRS(prop, energy, 3)
	h := newTestHIS(5, 2, 0, 2)
	for want, f := range map[string]func(){
		"eimfamily: SNIS.Bound:":  func() { snis.Bound(rng, nil, bad) },
		"eimfamily: SNIS.BoundS:": func() { snis.BoundS(rng, nil, bad, 2) },
		"eimfamily: TRS.BoundS:":  func() { trs.BoundS(rng, nil, bad, 2) },
		"eimfamily: HIS.BoundS:":  func() { h.BoundS(rng, nil, bad, 2) },
		"eimfamily: SNIS.BoundS: s = 0": func() {
			snis.BoundS(rng, nil, ad.Zeros(3, 2), 0)
		},
	} {
		func() {
			defer func() {
				r := recover()
				if m, ok := r.(string); !ok || !strings.HasPrefix(m, want) {
					t.Errorf("panic %v, want a message starting %q", r, want)
				}
			}()
			f()
		}()
	}
}

// TestBatchShapes checks that an unconditional model takes data of any
// batch shape [..., d]: the results are the flat batch's, bitwise, in the
// batch's shape.
func TestBatchShapes(t *testing.T) {
	prop, energy, _ := gradModel()
	f := newFixture()
	x := ad.Randn(rand.New(rand.NewPCG(1, 9)), 3, 4, 2)
	flat := ad.Reshape(x, 12, 2)
	seed := func() *rand.Rand { return rand.New(rand.NewPCG(4, 4)) }
	snis := &SNIS{Proposal: prop, Energy: energy, K: 3}
	trs := NewTRS(prop, energy, 3)
	h := newTestHIS(5, 2, 0, 2)
	type run func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor
	for name, c := range map[string]struct {
		f     run
		shape []int
	}{
		"SNIS.Bound":      {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return snis.Bound(r, nil, x) }, []int{3, 4}},
		"SNIS.BoundS":     {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return snis.BoundS(r, nil, x, 3) }, []int{3, 4}},
		"SNIS.Integrands": {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return snis.Integrands(r, nil, x, 2) }, []int{2, 3, 4}},
		"TRS.Bound":       {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return trs.Bound(r, nil, x) }, []int{3, 4}},
		"TRS.BoundS":      {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return trs.BoundS(r, nil, x, 3) }, []int{3, 4}},
		"HIS.Bound":       {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return h.Bound(r, nil, x) }, []int{3, 4}},
		"HIS.Integrands":  {func(r *rand.Rand, x *ad.Tensor) *ad.Tensor { return h.Integrands(r, nil, x, 2) }, []int{2, 3, 4}},
		"SNIS.LogProb": {func(_ *rand.Rand, x *ad.Tensor) *ad.Tensor {
			return must(t)((&SNIS{Proposal: f.prop, Energy: f.energy, K: 3}).LogProb(nil, onSupport(f, x)))
		}, []int{3, 4}},
		"TRS.LogProb": {func(_ *rand.Rand, x *ad.Tensor) *ad.Tensor {
			return must(t)(NewTRS(f.prop, f.energy, 3).LogProb(nil, onSupport(f, x)))
		}, []int{3, 4}},
	} {
		got := c.f(seed(), x)
		want := c.f(seed(), flat)
		if !slicesEqual(got.Shape(), c.shape) || !bitsEqual(got.Data(), want.Data()) {
			t.Errorf("%s on [3 4 2]: shape %v, want %v and the flat batch's values", name, got.Shape(), c.shape)
		}
	}
}

func must(t *testing.T) func(*ad.Tensor, error) *ad.Tensor {
	return func(v *ad.Tensor, err error) *ad.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// onSupport replaces every row of x ([..., 2]) by a support point of the
// fixture, cycling through them, keeping x's shape.
func onSupport(f fixture, x *ad.Tensor) *ad.Tensor {
	pts := f.support().Data()
	out := make([]float64, x.Len())
	for r := range x.Len() / 2 {
		j := r % f.prop.Len()
		copy(out[2*r:], pts[2*j:2*j+2])
	}
	return ad.New(out, x.Shape()...)
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
