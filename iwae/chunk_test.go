package iwae_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/iwae"
	"github.com/eimkit/eimkit/nn"
)

// mlpModel is z ~ N(0, I), x | z ~ N(Net(z), I): a model whose LogJoint
// runs a network on every sample, so that chunking changes the batch the
// network sees.
type mlpModel struct{ net *nn.MLP }

func (m mlpModel) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	mean := m.net.Forward(z)
	lp := ad.MulScalar(ad.Sum(ad.Square(z), -1), -0.5)
	ll := ad.MulScalar(ad.Sum(ad.Square(ad.Sub(ad.BroadcastTo(x, mean.Shape()...), mean)), -1), -0.5)
	return ad.AddScalar(ad.Add(lp, ll), -float64(z.Dim(-1)+x.Dim(1))*0.5*math.Log(2*math.Pi))
}

func bitwiseEqual(a, b []float64) bool {
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

// TestChunkBitwise checks that the IWAE integrand is bitwise the same for
// chunk sizes 1, 7, K and the default, through Integrand, Integrands and
// Evaluate, on the conjugate model and on a model with a network.
func TestChunkBitwise(t *testing.T) {
	const d, n, k = 3, 5, 23
	models := map[string]iwae.Model{
		"conjugate": newConjugate(d, 0.7),
		"mlp":       mlpModel{nn.NewMLP(rand.New(rand.NewPCG(4, 4)), d, 16, d)},
	}
	for name, p := range models {
		qt, x := proposal(d), data(n, d)
		ref := iwae.IWAE{K: k, Chunk: k}.Integrand(newRNG(3), p, qt, x).Data()
		for _, c := range []int{1, 7, k, 0, 100} {
			b := iwae.IWAE{K: k, Chunk: c}
			if got := b.Integrand(newRNG(3), p, qt, x).Data(); !bitwiseEqual(got, ref) {
				t.Errorf("%s, Chunk %d: Integrand %v, Chunk K gives %v", name, c, got, ref)
			}
			if got := b.Evaluate(newRNG(3), p, qt, x); got.RequiresGrad() || !bitwiseEqual(got.Data(), ref) {
				t.Errorf("%s, Chunk %d: Evaluate %v (graph: %t), want %v and a constant", name, c, got.Data(), got.RequiresGrad(), ref)
			}
			w := b.Integrands(newRNG(3), p, qt, x, 2).Data()
			if !bitwiseEqual(w[:n], ref) {
				t.Errorf("%s, Chunk %d: first row of Integrands %v, want %v", name, c, w[:n], ref)
			}
		}
	}
}

// TestChunkGradient checks the gradient of a chunked IWAE bound in the
// proposal's and the model's parameters against central finite
// differences of the same function at a fixed seed (the draws are
// reparameterized, so the integrand is smooth in the parameters), and
// against the unchunked gradient.
func TestChunkGradient(t *testing.T) {
	const d, n, k = 2, 3, 11
	p, qt, x := newConjugate(d, 0.7), proposal(d), data(n, d)
	params := append(qt.Params(), p.LogSigma)
	f := func(c int) *ad.Tensor {
		return ad.Sum(iwae.IWAE{K: k, Chunk: c}.Integrand(newRNG(8), p, qt, x))
	}
	got := grads(f(4), params)
	whole := grads(f(k), params)
	var theta []float64
	for _, q := range params {
		theta = append(theta, q.Data()...)
	}
	set := func(v []float64) {
		i := 0
		for _, q := range params {
			i += copy(q.Data(), v[i:])
		}
	}
	want := fd.Gradient(nil, func(v []float64) float64 {
		old := append([]float64(nil), theta...)
		set(v)
		y := f(4).Item()
		set(old)
		return y
	}, theta, &fd.Settings{Formula: fd.Central, Step: 1e-6})
	for i := range got {
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], 1e-6, 1e-6) {
			t.Errorf("∂/∂θ_%d = %v, finite differences %v", i, got[i], want[i])
		}
		if !scalar.EqualWithinAbsOrRel(got[i], whole[i], 1e-12, 1e-12) {
			t.Errorf("∂/∂θ_%d = %v with Chunk 4, %v unchunked", i, got[i], whole[i])
		}
	}
}
