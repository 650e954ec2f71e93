//go:build linux && amd64 && !purego

package ad

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a slice of n float64s that ends exactly where an
// unreadable page begins, so a kernel that reads one entry too far
// crashes the test instead of reading a neighbour's memory.
func guarded(t *testing.T, n int) []float64 {
	page := syscall.Getpagesize()
	data := (8*n + page - 1) / page * page // whole pages for the data, then the guard
	mem, err := syscall.Mmap(-1, 0, data+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[data:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	end := unsafe.Pointer(&mem[data])
	return unsafe.Slice((*float64)(unsafe.Add(end, -8*n)), n)
}

// TestKernelsStayInBounds runs the product kernels (with and without a
// bias), the packed product with its packing, the tanh kernel and tanh's
// backward kernel on operands that end at an unreadable page, for every
// column tail: the masked loads must not touch the entries past the last
// column or the last element, nor packing read past an operand.
func TestKernelsStayInBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	fill := func(x []float64) { copy(x, Randn(rng, len(x)).data) }
	if haveGemmKernels {
		for _, m := range []int{1, 3, 4, 5} {
			for n := 4; n <= 13; n++ {
				const k = 3
				a, b, bias := guarded(t, m*k), guarded(t, k*n), guarded(t, n)
				fill(a)
				fill(b)
				fill(bias)
				c := guarded(t, m*n)
				gemmKernel(m, n, k, a, k, 1, b, n, c, bias)
				gemmKernel(m, n, k, a, k, 1, b, n, c, nil)
				gemmKernel(m, n, k, a, 1, m, b, n, c, nil) // a read as k×m
			}
		}
	}
	if havePacked {
		// The packed product and its packing, with small blocks so that
		// every edge is crossed, in every layout and with both kernels.
		for _, avx512 := range kernelsUnderTest(t) {
			prev := haveAVX512
			haveAVX512 = avx512
			withBlocks(5, 13, 30, func() {
				for _, m := range []int{1, 8, 9, 17} {
					for _, n := range []int{1, 7, 24, 25, 31, 33} {
						for _, k := range []int{1, 5, 11} {
							for _, l := range [][2]bool{{false, false}, {false, true}, {true, false}} {
								a, b, bias, c := guarded(t, m*k), guarded(t, k*n), guarded(t, n), guarded(t, m*n)
								fill(a)
								fill(b)
								fill(bias)
								ai, ap, bp, bj := packedStrides(l[0], l[1], m, n, k)
								gemmPacked(m, n, k, a, ai, ap, b, bp, bj, c, bias)
								gemmPacked(m, n, k, a, ai, ap, b, bp, bj, c, nil)
							}
						}
					}
				}
			})
			haveAVX512 = prev
		}
	}
	if haveAVX {
		for n := 0; n <= 9; n++ {
			g, y, out := guarded(t, n), guarded(t, n), guarded(t, n)
			fill(g)
			fill(y)
			tanhBackInto(out, g, y)
		}
	}
	if haveTanhAVX2 {
		for n := 0; n <= 9; n++ {
			src, dst := guarded(t, n), guarded(t, n)
			fill(src)
			tanhVec(dst, src)
		}
	}
}
