//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// haveAdamAVX2 reports whether adamAVX2 (adam_amd64.s) runs.
var haveAdamAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// adamAVX2 applies k's step to the first len(pd) &^ 3 entries, bitwise as
// adamKernel.loop; divide false leaves out the division by k.bc2Sqrt.
//
//go:noescape
func adamAVX2(pd, gd, m, v []float64, k *adamKernel, divide bool)

// updateVector applies the step to a prefix of the entries with the vector
// kernel and returns how many it did.
func (k *adamKernel) updateVector(pd, gd, m, v []float64) int {
	if !haveAdamAVX2 {
		return 0
	}
	adamAVX2(pd, gd, m, v, k, k.bc2Sqrt != 1)
	return len(pd) &^ 3
}
