package data

import (
	"gonum.org/v1/gonum/integrate/quad"
)

// glOrder is the number of Gauss–Legendre nodes per panel used by the
// quadratures behind MeanLogDensity.
const glOrder = 20

// glNodes returns the glOrder Gauss–Legendre nodes and weights on [-1, 1].
func glNodes() (x, w []float64) {
	x = make([]float64, glOrder)
	w = make([]float64, glOrder)
	quad.Legendre{}.FixedLocations(x, w, -1, 1)
	return x, w
}

// integratePanels returns Σ over consecutive panels [edges[i], edges[i+1]]
// of the glOrder-point Gauss–Legendre approximation to ∫ f. edges must be
// increasing.
func integratePanels(f func(float64) float64, edges []float64) float64 {
	x, w := glNodes()
	// Kahan summation keeps the rounding error of the few thousand
	// terms at the level of one ulp of the result.
	var sum, comp float64
	for i := 0; i+1 < len(edges); i++ {
		a, b := edges[i], edges[i+1]
		half, mid := (b-a)/2, (a+b)/2
		var panel float64
		for k := range x {
			panel += w[k] * f(mid+half*x[k])
		}
		y := panel*half - comp
		t := sum + y
		comp = (t - sum) - y
		sum = t
	}
	return sum
}

// uniformEdges returns n+1 equally spaced panel edges from a to b.
func uniformEdges(a, b float64, n int) []float64 {
	e := make([]float64, n+1)
	for i := range e {
		e[i] = a + (b-a)*float64(i)/float64(n)
	}
	e[n] = b
	return e
}
