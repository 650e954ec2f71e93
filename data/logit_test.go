package data

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/ad"
)

// The log-determinant of the logit map against a finite-difference
// Jacobian: fd.Jacobian of y ↦ s on a few points, log |det| by LU, for
// several λ (the map is elementwise, so the Jacobian must also be diagonal).
func TestLogitTransformLogDet(t *testing.T) {
	ys := []float64{0.01, 0.2, 0.5, 0.77, 0.99, 0.003}
	for _, lam := range []float64{0, 1e-3, 0.05} {
		tr := LogitTransform{Lambda: lam}
		f := func(dst, y []float64) { tr.Forward(dst, y) }
		jac := mat.NewDense(len(ys), len(ys), nil)
		fd.Jacobian(jac, f, ys, &fd.JacobianSettings{Formula: fd.Central, Step: 1e-6})
		for i := range ys {
			for j := range ys {
				if i != j && jac.At(i, j) != 0 {
					t.Errorf("λ=%v: ∂s_%d/∂y_%d = %v, want 0", lam, i, j, jac.At(i, j))
				}
			}
		}
		var lu mat.LU
		lu.Factorize(jac)
		want, sign := lu.LogDet()
		s := make([]float64, len(ys))
		got := tr.Forward(s, ys)
		if sign != 1 || math.Abs(got-want) > 1e-7 {
			t.Errorf("λ=%v: log-det %v, finite differences %v (sign %v)", lam, got, want, sign)
		}
		if ld := tr.LogDet(ys); ld != got {
			t.Errorf("λ=%v: LogDet %v, Forward %v", lam, ld, got)
		}
		// Inverse undoes Forward.
		back := make([]float64, len(ys))
		tr.Inverse(back, s)
		for j := range ys {
			if math.Abs(back[j]-ys[j]) > 1e-12 {
				t.Errorf("λ=%v: Inverse(Forward(%v)) = %v", lam, ys[j], back[j])
			}
		}
	}
}

// At the ends of [0, 1], with the default λ, s and the log-determinant are
// finite and equal the closed forms ±log((1 − λ)/λ) and log(1 − 2λ) −
// log λ − log(1 − λ).
func TestLogitTransformEnds(t *testing.T) {
	l := DefaultLogitLambda
	s := make([]float64, 2)
	ld := LogitTransform{}.Forward(s, []float64{0, 1})
	end := math.Log((1 - l) / l)
	wantLD := 2 * (math.Log1p(-2*l) - math.Log(l) - math.Log1p(-l))
	if math.Abs(s[0]+end) > 1e-12 || math.Abs(s[1]-end) > 1e-9 || math.Abs(ld-wantLD) > 1e-9 {
		t.Errorf("s(0), s(1) = %v, %v (want ∓%v); log-det %v, want %v", s[0], s[1], end, ld, wantLD)
	}
}

// The authors' squash bijector (eim/models/base.py, get_squash: y₂₅₆ =
// 256((1 + ε)σ(s) − ε/2), ε = 10⁻⁶) is this transform with y = y₂₅₆/256
// and λ = ε/(2(1 + ε)), and their log-determinant on the 8-bit scale is
// ours minus log 256 per value.
func TestLogitTransformMatchesAuthorsSquash(t *testing.T) {
	const eps = 1e-6
	tr := LogitTransform{Lambda: eps / (2 * (1 + eps))}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100 {
		y256 := 256 * rng.Float64()
		// Their inverse: undo ×256, then the affine map, then the sigmoid.
		p := (y256/256 + eps/2) / (1 + eps)
		sTheirs := math.Log(p / (1 - p))
		// d s / d y₂₅₆ = 1 / (256 (1 + ε) p (1 − p)).
		ldTheirs := -math.Log(256*(1+eps)) - math.Log(p) - math.Log1p(-p)
		s := make([]float64, 1)
		ld := tr.Forward(s, []float64{y256 / 256})
		if math.Abs(s[0]-sTheirs) > 1e-9 || math.Abs(ld-LogPixelLevels-ldTheirs) > 1e-9 {
			t.Fatalf("y₂₅₆=%v: s %v vs %v, log-det %v vs %v", y256, s[0], sTheirs, ld-LogPixelLevels, ldTheirs)
		}
	}
}

// Batch applies Forward row by row.
func TestLogitTransformBatch(t *testing.T) {
	y := ad.New([]float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, 2, 3)
	s, ld := LogitTransform{}.Batch(y)
	want := make([]float64, 3)
	for i := 0; i < 2; i++ {
		l := LogitTransform{}.Forward(want, y.Data()[3*i:3*i+3])
		if ld.At(i) != l {
			t.Errorf("row %d: log-det %v, want %v", i, ld.At(i), l)
		}
		for j := range want {
			if s.At(i, j) != want[j] {
				t.Errorf("s[%d, %d] = %v, want %v", i, j, s.At(i, j), want[j])
			}
		}
	}
	if msg := panicMessage(func() { LogitTransform{Lambda: 0.5}.LogDet([]float64{0.1}) }); msg == "" || msg[:6] != "data: " {
		t.Errorf("λ = 0.5: panic %q", msg)
	}
}
