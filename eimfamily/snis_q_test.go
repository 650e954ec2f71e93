package eimfamily

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestSNISQSample checks SNIS as a variational family: the selected z of
// SNISQ.Sample, for each context, follows p_SNIS(· | c) (chi-square
// against the exact pmf); z is the selected candidate; and the reported
// log q equals At at the drawn λ and the formula
// Σ_k log π(z_k) − U(z_i | c) − log Σ_k exp(−U(z_k | c)).
func TestSNISQSample(t *testing.T) {
	const K, N = 4, 20000
	f := newFixture()
	logPi := f.prop.LogWeights()
	m := &SNIS{Proposal: f.prop, Energy: f.cond, K: K}
	q := m.AsQ()
	nc := len(fixCtx)
	ctx := make([]float64, 0, N*nc)
	for range N {
		ctx = append(ctx, fixCtx...)
	}
	x := ad.New(ctx, N*nc, 1) // row j·nc + r holds context r
	z, lambda, logq := q.Sample(rand.New(rand.NewPCG(21, 22)), x)
	if s := z.Shape(); len(s) != 2 || s[0] != N*nc || s[1] != 2 {
		t.Fatalf("z shape %v, want [%d 2]", s, N*nc)
	}
	cu := f.condEnergies()
	for r := range nc {
		rows := make([]float64, 0, 2*N)
		for j := range N {
			at := (j*nc + r) * 2
			rows = append(rows, z.Data()[at:at+2]...)
		}
		pmf := snisExactPMF(logPi, cu[r], K)
		if pv := chiSquareP(t, countDraws(t, f.prop, ad.New(rows, N, 2)), pmf); pv < chiMinP {
			t.Errorf("context %v: chi-square p = %v", fixCtx[r], pv)
		}
	}

	zAt, logqAt := q.At(x, lambda)
	cd := lambda.Candidates.Data()
	lw := make([]float64, K)
	for row := range 50 { // the formula, by hand, on the first rows
		r := row % nc
		i := lambda.Index[row]
		want := 0.0
		for k := range K {
			j := f.prop.Index(cd[(k*N*nc+row)*2 : (k*N*nc+row)*2+2])
			want += logPi[j]
			lw[k] = -cu[r][j]
		}
		want += lw[i] - snisQLogSumExp(lw)
		if got := logq.Data()[row]; math.Abs(got-want) > exactTol || logqAt.Data()[row] != got {
			t.Errorf("row %d: log q = %v, At %v, want %v", row, got, logqAt.Data()[row], want)
		}
		for c := range 2 {
			if zc := z.Data()[row*2+c]; zc != cd[(i*N*nc+row)*2+c] || zAt.Data()[row*2+c] != zc {
				t.Errorf("row %d: z is not candidate %d", row, i)
			}
		}
	}
}

func snisQLogSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// TestSNISReverse checks Eq. 6 on given candidates: −log K plus the log
// proposal of the unselected candidates where z is the selected one, and
// −Inf (the δ) where it is not.
func TestSNISReverse(t *testing.T) {
	f := newFixture()
	logPi := f.prop.LogWeights()
	pts := f.prop.Points().Data()
	pt := func(j int) []float64 { return pts[2*j : 2*j+2] }
	// two data points, K = 3: candidates (s0, s2, s5) and (s1, s1, s4)
	cand := ad.New(append(append(append(append(append(append([]float64(nil),
		pt(0)...), pt(1)...), pt(2)...), pt(1)...), pt(5)...), pt(4)...), 3, 2, 2)
	lambda := SNISAux{Candidates: cand, Index: []int{2, 1}}
	x := ad.Zeros(2, 1)
	z := ad.New(append(append([]float64(nil), pt(5)...), pt(0)...), 2, 2) // row 0 selected, row 1 not
	got := SNISQ{&SNIS{Proposal: f.prop, Energy: f.energy, K: 3}}.Reverse().LogProb(x, z, lambda).Data()
	if want := logPi[0] + logPi[2] - math.Log(3); math.Abs(got[0]-want) > exactTol {
		t.Errorf("selected: log r = %v, want %v", got[0], want)
	}
	if !math.IsInf(got[1], -1) {
		t.Errorf("not selected: log r = %v, want −Inf", got[1])
	}
}

// TestSNISQPanics checks that caller errors panic with a message naming
// the package.
func TestSNISQPanics(t *testing.T) {
	f := newFixture()
	q := (&SNIS{Proposal: f.prop, Energy: f.cond, K: 2}).AsQ()
	x := ad.Zeros(3, 1)
	good := ad.Zeros(2, 3, 2)
	cases := map[string]func(){
		"x nil":      func() { q.Sample(rand.New(rand.NewPCG(1, 1)), nil) },
		"At K":       func() { q.At(x, SNISAux{Candidates: ad.Zeros(3, 3, 2), Index: []int{0, 0, 0}}) },
		"At index":   func() { q.At(x, SNISAux{Candidates: good, Index: []int{0, 2, 0}}) },
		"At indices": func() { q.At(x, SNISAux{Candidates: good, Index: []int{0}}) },
		"reverse z":  func() { q.Reverse().LogProb(x, ad.Zeros(3, 1), SNISAux{Candidates: good, Index: []int{0, 0, 0}}) },
		"reverse dim": func() {
			SNISReverseLogProb(ad.Zeros(3, 2), SNISAux{Candidates: good, Index: []int{0, 0, 0}}, ad.Zeros(3, 3))
		},
	}
	for name, fn := range cases {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "eimfamily: ") {
					t.Errorf("%s: panic %q, want one starting with \"eimfamily: \"", name, msg)
				}
			}()
			fn()
		}()
	}
}
