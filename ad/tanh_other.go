//go:build !amd64 || purego

package ad

import "math"

// haveTanhAVX2 is always false without the amd64 assembly kernel; it exists
// so tests build on every platform.
var haveTanhAVX2 = false

// tanhVec sets dst = tanh(src); dst and src may be the same slice.
// It panics if len(dst) < len(src).
func tanhVec(dst, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = math.Tanh(v)
	}
}
