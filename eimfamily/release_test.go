package eimfamily

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/nn"
)

// TestReleaseKeepsTraining trains each family twice from the same seed,
// once handing every step's graph back with ad.Release, and checks that
// the parameters agree bit for bit: the recycled buffers are zeroed when
// reused and nothing a later step needs is released (HIS's recorded ∇ₓU
// included). A buffer released while still in use, or reused without
// being cleared, changes the numbers.
func TestReleaseKeepsTraining(t *testing.T) {
	type model struct {
		params func() []*ad.Tensor
		loss   func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor
	}
	makers := map[string]func(rng *rand.Rand) model{
		"SNIS": func(rng *rand.Rand) model {
			m := &SNIS{Proposal: NewStdNormal(2, 1), Energy: NewMLPEnergy(rng, 2, 0, 20, 20), K: 256}
			return model{m.Params, func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor { return m.Bound(rng, nil, x) }}
		},
		"TRS": func(rng *rand.Rand) model {
			m := NewTRS(NewStdNormal(2, 1), NewMLPEnergy(rng, 2, 0, 20, 20), 64)
			return model{m.Params, func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor { return m.Bound(rng, nil, x) }}
		},
		"HIS": func(rng *rand.Rand) model {
			m := NewHIS(rng, NewStdNormal(2, 1), NewMLPEnergy(rng, 2, 0, 20, 20), 5, 0, 20, 20)
			return model{m.Params, func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor { return m.Bound(rng, nil, x) }}
		},
		"LARS": func(rng *rand.Rand) model {
			m := NewLARS(NewStdNormal(2, 1), NewMLPEnergy(rng, 2, 0, 20, 20), 64, 256)
			return model{m.Params, func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor {
				obj, zs := m.TrainBound(rng, nil, x)
				m.ZAvg = zs
				return obj
			}}
		},
	}
	target := data.NineGaussians()
	const steps, batch = 25, 128
	for name, mk := range makers {
		run := func(release bool) []*ad.Tensor {
			rng := rand.New(rand.NewPCG(7, 8))
			m := mk(rng)
			ps := m.params()
			opt := &nn.Adam{LR: 1e-2}
			for range steps {
				trainStep(rng, target, batch, ps, opt, m.loss, release)
			}
			return ps
		}
		plain, released := run(false), run(true)
		for i := range plain {
			for j, v := range plain[i].Data() {
				if w := released[i].Data()[j]; math.Float64bits(v) != math.Float64bits(w) {
					t.Fatalf("%s: parameter %d entry %d: %v without Release, %v with", name, i, j, v, w)
				}
			}
		}
	}
}
