package eimfamily

import (
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// EvaluateS returns BoundS's value as a constant, bitwise equal to BoundS
// with the same rng state: each chunk's graph is dropped as soon as its
// integrands are computed, so the memory in use is that of one chunk plus
// the [s, n] integrands, whatever s. It is the evaluation path (the
// paper's many-sample bounds), where nothing is differentiated.
func (m *SNIS) EvaluateS(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	w := m.integrands("EvaluateS", rng, detached(ctx), detached(x), s, true)
	return unflat(ad.LogMeanExp(w.Detach(), 0), lead)
}

// EvaluateS returns BoundS's value as a constant, bitwise equal to BoundS
// with the same rng state, holding one chunk's graph at a time (see
// SNIS.EvaluateS).
func (m *TRS) EvaluateS(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	w := m.integrands("EvaluateS", rng, detached(ctx), detached(x), s, true)
	return unflat(ad.LogMeanExp(w.Detach(), 0), lead)
}

// EvaluateS returns BoundS's value as a constant, bitwise equal to BoundS
// with the same rng state, holding one chunk's graph at a time (see
// SNIS.EvaluateS).
func (h *HIS) EvaluateS(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	w := h.integrands("EvaluateS", rng, detached(ctx), detached(x), s, true)
	return unflat(ad.LogMeanExp(w.Detach(), 0), lead)
}
