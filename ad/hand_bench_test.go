package ad_test

import (
	"math"
	"testing"
)

// handNet is the benchmark workload differentiated by hand with
// preallocated buffers: the yardstick the issue measures ad against
// (BenchmarkFirstOrder/SecondOrder should stay within 1.5×/1.4× of it).
type handNet struct {
	n, h                          int
	x, W1, b1, w2                 []float64
	a, hh, s, gx, xp, hp, da, dxp []float64
	dW1, db1, dw2                 []float64
	db2                           float64
}

func newHandNet() *handNet {
	net := newBenchNet()
	const n, h = 1024, 20
	return &handNet{
		n: n, h: h,
		x: net.x.Data(), W1: net.W1.Data(), b1: net.b1.Data(), w2: net.w2.Data(),
		a: make([]float64, n*h), hh: make([]float64, n*h), s: make([]float64, n*h),
		gx: make([]float64, n*2), xp: make([]float64, n*2), hp: make([]float64, n*h),
		da: make([]float64, n*h), dxp: make([]float64, n*2),
		dW1: make([]float64, 2*h), db1: make([]float64, h), dw2: make([]float64, h),
	}
}

// hidden sets out = tanh(x·W1 + b1).
func (m *handNet) hidden(x, out []float64) {
	for i := 0; i < m.n; i++ {
		x0, x1 := x[2*i], x[2*i+1]
		row := out[i*m.h : (i+1)*m.h]
		for j := range row {
			row[j] = math.Tanh(x0*m.W1[j] + x1*m.W1[m.h+j] + m.b1[j])
		}
	}
}

func (m *handNet) clearGrads() {
	clear(m.dW1)
	clear(m.db1)
	clear(m.dw2)
	m.db2 = 0
}

// firstOrder: ∇ of mean U(x).
func (m *handNet) firstOrder() {
	m.clearGrads()
	m.hidden(m.x, m.hh)
	inv := 1 / float64(m.n)
	m.db2 = 1
	for i := 0; i < m.n; i++ {
		x0, x1 := m.x[2*i], m.x[2*i+1]
		row := m.hh[i*m.h : (i+1)*m.h]
		for j, hv := range row {
			m.dw2[j] += hv * inv
			d := inv * m.w2[j] * (1 - hv*hv)
			m.db1[j] += d
			m.dW1[j] += x0 * d
			m.dW1[m.h+j] += x1 * d
		}
	}
}

// secondOrder: ∇ of mean U(x − 0.1 ∇ₓU(x)), derived by hand.
func (m *handNet) secondOrder() {
	m.clearGrads()
	n, h := m.n, m.h
	m.hidden(m.x, m.hh)
	for i := 0; i < n; i++ { // s = (1−h²)⊙w2ᵀ, gx = s·W1ᵀ, x' = x − 0.1 gx
		var g0, g1 float64
		for j := 0; j < h; j++ {
			hv := m.hh[i*h+j]
			sv := (1 - hv*hv) * m.w2[j]
			m.s[i*h+j] = sv
			g0 += sv * m.W1[j]
			g1 += sv * m.W1[h+j]
		}
		m.xp[2*i], m.xp[2*i+1] = m.x[2*i]-0.1*g0, m.x[2*i+1]-0.1*g1
	}
	m.hidden(m.xp, m.hp)
	inv := 1 / float64(n)
	m.db2 = 1
	for i := 0; i < n; i++ {
		x0, x1 := m.xp[2*i], m.xp[2*i+1]
		var dx0, dx1 float64
		for j := 0; j < h; j++ {
			hv := m.hp[i*h+j]
			m.dw2[j] += hv * inv
			d := inv * m.w2[j] * (1 - hv*hv)
			m.db1[j] += d
			m.dW1[j] += x0 * d
			m.dW1[h+j] += x1 * d
			dx0 += d * m.W1[j]
			dx1 += d * m.W1[h+j]
		}
		// through gx = s·W1ᵀ with dgx = −0.1 dx'
		dg0, dg1 := -0.1*dx0, -0.1*dx1
		xi0, xi1 := m.x[2*i], m.x[2*i+1]
		for j := 0; j < h; j++ {
			sv := m.s[i*h+j]
			m.dW1[j] += dg0 * sv
			m.dW1[h+j] += dg1 * sv
			ds := dg0*m.W1[j] + dg1*m.W1[h+j]
			hv := m.hh[i*h+j]
			om := 1 - hv*hv
			m.dw2[j] += ds * om
			da := ds * m.w2[j] * (-2 * hv) * om
			m.db1[j] += da
			m.dW1[j] += xi0 * da
			m.dW1[h+j] += xi1 * da
		}
	}
}

func BenchmarkFirstOrderHand(b *testing.B) {
	m := newHandNet()
	b.ReportAllocs()
	for b.Loop() {
		m.firstOrder()
	}
}

func BenchmarkSecondOrderHand(b *testing.B) {
	m := newHandNet()
	b.ReportAllocs()
	for b.Loop() {
		m.secondOrder()
	}
}
