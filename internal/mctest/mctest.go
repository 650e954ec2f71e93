// Package mctest holds helpers shared by the toolkit's Monte Carlo tests.
package mctest

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// MeanSE returns the sample mean of v and its standard error sd/√n, with
// sd the sample standard deviation (n − 1 in the denominator). Tests
// compare estimates with exact values within a multiple of se. A constant
// v gives exactly its value and a zero standard error (a summed mean would
// carry rounding).
func MeanSE(v []float64) (mean, se float64) {
	if len(v) > 0 && !slices.ContainsFunc(v, func(x float64) bool { return x != v[0] }) {
		return v[0], 0
	}
	mean, sd := stat.MeanStdDev(v, nil)
	return mean, sd / math.Sqrt(float64(len(v)))
}
