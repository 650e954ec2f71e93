package data

import (
	"math"
	"math/rand/v2"
)

// Checkerboard layout: the square [-2, 2)² is split into a 4×4 grid of unit
// cells; cell (i, j) covers [-2+i, -1+i) × [-2+j, -1+j), and the cells with
// i+j even carry the mass.
const (
	checkerSplits = 4  // cells per axis
	checkerLo     = -2 // left / bottom edge of the board
	checkerSide   = 1  // side of one cell
	checkerCells  = checkerSplits * checkerSplits / 2
)

// Checkerboard returns the uniform density on the 8 "black" cells of a
// 4×4 board over [-2, 2)²:
//
//	cell (i, j) = [-2+i, -1+i) × [-2+j, -1+j),   i, j ∈ {0, 1, 2, 3},
//	p(x) = 1/8   if x lies in a cell with i + j even,
//	p(x) = 0     otherwise,
//	E_p[log p] = -log 8.
//
// The cell [-2, -1) × [-2, -1) (i = j = 0) is black. This matches App. D.1
// of the paper, which puts mass on {[0, ¼], [½, ¾]}² ∪ {[¼, ½], [¾, 1]}²
// (both indices even or both odd, the corner cell included), and the
// authors' reference code, which draws the same board over [-2, 2]². Cells
// are half-open, so every point of [-2, 2)² belongs to exactly one cell and
// the density is exactly 1/8 or 0 everywhere; the cell of a point is found
// by comparisons, never by rounding x + 2.
//
// MeanLogDensity is the closed form -log(8 cells · 1 area) and Bounds is
// [-2, 2]², which holds all the mass.
func Checkerboard() Target { return checkerboard{} }

type checkerboard struct{}

var _ Target = checkerboard{}

func (checkerboard) Name() string { return NameCheckerboard }
func (checkerboard) Dim() int     { return dim }

func (checkerboard) Bounds() (lo, hi [2]float64) { return plotLo, plotHi }

// Sample draws one of the 8 black cells uniformly, then a uniform point in
// it. The offset inside a cell is k·2⁻⁵² with k uniform on [0, 2⁵²), so
// -2 + i + offset is computed exactly and always lies in the half-open cell
// (an offset from rng.Float64, on a 2⁻⁵³ grid, could round 1 + offset up
// to the excluded edge 2).
func (checkerboard) Sample(rng *rand.Rand, dst []float64) {
	checkSample(rng, dst)
	for p := 0; p < len(dst); p += dim {
		c := rng.IntN(checkerCells)
		// Black cells in row-major order: i = c/2, and j runs over the two
		// values of the parity of i.
		i := c / 2
		j := 2*(c%2) + i%2
		dst[p] = float64(checkerLo+i) + checkerSide*cellOffset(rng)
		dst[p+1] = float64(checkerLo+j) + checkerSide*cellOffset(rng)
	}
}

// cellOffset returns a uniform value on [0, 1) on the grid k·2⁻⁵².
func cellOffset(rng *rand.Rand) float64 {
	return float64(rng.Uint64()>>12) * 0x1p-52
}

// LogDensity returns -log 8 on the black cells, -Inf elsewhere and NaN if
// x holds a NaN.
func (checkerboard) LogDensity(x []float64) float64 {
	checkPoint(x)
	if math.IsNaN(x[0]) || math.IsNaN(x[1]) {
		return math.NaN()
	}
	i, j := checkerIndex(x[0]), checkerIndex(x[1])
	if i < 0 || j < 0 || (i+j)%2 != 0 {
		return math.Inf(-1)
	}
	return checkerLogDensity()
}

func (checkerboard) MeanLogDensity() float64 {
	// p is constant on its support, so E_p[log p] = log p there.
	return checkerLogDensity()
}

// checkerLogDensity is log of the density on the support,
// -log(number of black cells · cell area).
func checkerLogDensity() float64 {
	return -math.Log(float64(checkerCells) * checkerSide * checkerSide)
}

// checkerIndex returns the index i of the half-open interval
// [-2+i, -1+i) that holds t, or -1 if t is outside [-2, 2).
func checkerIndex(t float64) int {
	if !(t >= checkerLo && t < checkerLo+checkerSplits*checkerSide) {
		return -1
	}
	i := 0
	for i+1 < checkerSplits && t >= float64(checkerLo+(i+1)*checkerSide) {
		i++
	}
	return i
}
