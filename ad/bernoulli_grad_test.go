package ad_test

import (
	"fmt"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestGradBernoulliLogLik checks the first, second and third derivatives
// of BernoulliLogLik in x and the logits against finite differences
// (checkGrad), over broadcast layouts, with gray-level x (the
// log-likelihood is linear in x).
func TestGradBernoulliLogLik(t *testing.T) {
	rng := newRNG("bernoulli")
	for _, s := range [][2][]int{
		{{5}, {5}},
		{{3, 4}, {3, 4}},
		{{3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {3, 4}},
		{{1, 4}, {3, 1, 4}},
		{{2, 1, 5}, {3, 5}},
		{{2, 9}, {2, 9}}, // a full block and a tail
	} {
		x := uniform(rng, 0, 1, s[0]...)
		l := ad.MulScalar(randn(rng, s[1]...), 3)
		checkGrad(t, fmt.Sprintf("BernoulliLogLik%v%v", s[0], s[1]), binary(ad.BernoulliLogLik), x, l)
	}
}
