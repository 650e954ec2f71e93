//go:build amd64 && !purego

package ad

import "golang.org/x/sys/cpu"

// haveAVX reports whether the AVX kernels of elementwise_amd64.s run.
var haveAVX = cpu.X86.HasAVX

// tanhBackAVX2 sets out[i] = g[i]·(1 − y[i]²) for i < len(out); g and y
// are at least as long. Bitwise the scalar loop of tanhBackInto.
//
//go:noescape
func tanhBackAVX2(out, g, y []float64)

func tanhBackInto(out, g, y []float64) {
	g, y = g[:len(out)], y[:len(out)]
	if haveAVX {
		tanhBackAVX2(out, g, y)
		return
	}
	tanhBackLoop(out, g, y)
}
