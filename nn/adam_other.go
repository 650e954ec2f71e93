//go:build !amd64 || purego

package nn

// updateVector has no vector kernel to run here: the Go loop does every entry.
func (k *adamKernel) updateVector(pd, gd, m, v []float64) int { return 0 }
