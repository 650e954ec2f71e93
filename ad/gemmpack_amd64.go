//go:build amd64 && !purego

package ad

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The packed product, for products too large for gemmKernel's strided
// tiles (see useSmallGemm): the layout of the Goto/BLIS algorithm,
//
//	for each block of kc values of p:
//	    pack B[p block, all columns] into slivers of nr columns
//	    for each block of mc rows:
//	        pack A[row block, p block] into slivers of mr rows
//	        for each B sliver, for each A sliver: the mr×nr micro-kernel
//
// so the micro-kernel reads both operands contiguously, the A block stays
// in the level-2 cache and each B sliver in level 1–2 while it is used
// mc/mr times. Every entry of C is one FMA chain over p in increasing
// order: the first block starts it from +0, every later block loads the
// entry and continues it, so the result is bitwise that of gemmKernel and
// of any other blocking or tile shape, and the bias is added once, after
// the last block.

//go:noescape
func kern8x24(k int, a, b, c *float64, ldc int, load bool, bias, next *float64)

//go:noescape
func kern8x16(k int, a, b, c *float64, ldc int, load bool, bias, next *float64)

//go:noescape
func kern8x8(k int, a, b, c *float64, ldc int, load bool, bias, next *float64)

//go:noescape
func kernp4x8(k int, a, b, c *float64, ldc int, load bool, bias *float64)

//go:noescape
func copyRows24(dst, src *float64, ld, kc int)

//go:noescape
func copyRows8(dst, src *float64, ld, kc int)

// packedKernel describes the micro-kernels of the packed product: they
// set an mr×w tile of C (row stride ldc bytes) from an A sliver
// a[p·mr + r] and a B sliver b[p·w + j], for w = nr or, in the last
// sliver of a panel, the fewest multiples of vec that cover its columns
// (a panel of 100 columns is four slivers of 24 and one of 8, not five of
// 24). They load C first when load is set, and may prefetch the tile at
// next.
type packedKernel struct {
	name        string
	mr, nr, vec int
	run         func(w, k int, a, b, c *float64, ldc int, load bool, bias, next *float64)
}

var (
	kernAVX512 = packedKernel{"avx512 8x24", 8, 24, 8,
		func(w, k int, a, b, c *float64, ldc int, load bool, bias, next *float64) {
			switch w {
			case 24:
				kern8x24(k, a, b, c, ldc, load, bias, next)
			case 16:
				kern8x16(k, a, b, c, ldc, load, bias, next)
			default:
				kern8x8(k, a, b, c, ldc, load, bias, next)
			}
		}}
	// The AVX2 fallback: gemmKernel's 4×8 tile on packed operands, with
	// the load of C that blocking over p needs (without it, k = 10⁵ rows
	// of a TN product would have made the packed panels gigabytes).
	kernAVX2 = packedKernel{"avx2 4x8", 4, 8, 8,
		func(_, k int, a, b, c *float64, ldc int, load bool, bias, _ *float64) {
			kernp4x8(k, a, b, c, ldc, load, bias)
		}}
)

// haveAVX512 selects the AVX-512 micro-kernel; tests switch it off to run
// the AVX2 one on the same machine.
var haveAVX512 = cpu.X86.HasAVX512F && haveGemmKernels

// havePacked reports whether gemmPacked can run.
var havePacked = haveGemmKernels

func packedKern() packedKernel {
	if haveAVX512 {
		return kernAVX512
	}
	return kernAVX2
}

// Block sizes. kcMax bounds the p block (an 8×kc A sliver is 16 KB, a
// 24×kc B sliver 48 KB); mcMax the rows of an A block (mcMax·kcMax·8 =
// 384 KB of a 1 MB level-2 cache); ncMax the columns of a B panel
// (kcMax·ncMax·8 = 4 MB, in the shared level-3 cache). k is cut into
// equal blocks of at most kcMax (k = 300 → two of 150) so no block is a
// short tail. They are variables so that tests can make them small and
// reach every block edge with small operands; mcMax need not be a
// multiple of mr, nor ncMax of nr.
var (
	kcMax = 256
	mcMax = 192
	ncMax = 2048
)

// gemmPacked sets c (m×n, row-major, contiguous) to A·B + bias with
// A(i, p) = a[i·ai + p·ap] and B(p, j) = b[p·bp + j·bj], in all of ad's
// layouts (NN, NT, TN are only other strides). bias is nil or of length
// n. The product is split in two halves of C — by columns when n ≥ m, by
// rows otherwise — between the caller and the helper goroutine; each half
// packs its own operands, so the halves share nothing.
func gemmPacked(m, n, k int, a []float64, ai, ap int, b []float64, bp, bj int, c, bias []float64) {
	if m < 1 || n < 1 || k < 1 || (m-1)*ai+(k-1)*ap >= len(a) || (k-1)*bp+(n-1)*bj >= len(b) || m*n > len(c) || (bias != nil && len(bias) != n) {
		panic(fmt.Sprintf("ad: internal: gemmPacked m=%d n=%d k=%d strides %d %d %d %d on lengths %d %d %d %d",
			m, n, k, ai, ap, bp, bj, len(a), len(b), len(c), len(bias)))
	}
	kern := packedKern()
	work := m * n * k / maddsPerEntry
	if n >= m {
		tiles := (n + kern.nr - 1) / kern.nr
		inHalves(tiles, work, func(lo, hi int) {
			j0, j1 := lo*kern.nr, min(hi*kern.nr, n)
			var bs []float64
			if bias != nil {
				bs = bias[j0:j1]
			}
			packedSerial(kern, m, j1-j0, k, a, ai, ap, b[j0*bj:], bp, bj, c[j0:], n, bs)
		})
		return
	}
	tiles := (m + kern.mr - 1) / kern.mr
	inHalves(tiles, work, func(lo, hi int) {
		i0, i1 := lo*kern.mr, min(hi*kern.mr, m)
		packedSerial(kern, i1-i0, n, k, a[i0*ai:], ai, ap, b, bp, bj, c[i0*n:], n, bias)
	})
}

// packScratch is what one call of packedSerial works in: the packed
// panels and the edge tiles (here rather than on the stack because the
// kernel is called through a function value, which would move them to
// the heap on every call).
type packScratch struct {
	a, b     []float64
	tile     [8 * 24]float64
	biasTile [24]float64
}

// scratch holds packing buffers for reuse; each call of packedSerial takes
// one, so the two halves of a product never share. A free list rather
// than a sync.Pool, which the garbage collector empties: the packed
// panels of a VAE layer (up to 4 MB) would be allocated again after
// every other collection (measured: 60 KB more garbage per 128×300·300×300
// product). It keeps at most cap(scratch) of them.
var scratch = make(chan *packScratch, 4)

func getScratch() *packScratch {
	select {
	case s := <-scratch:
		return s
	default:
		return new(packScratch)
	}
}

func putScratch(s *packScratch) {
	select {
	case scratch <- s:
	default:
	}
}

// aligned returns n float64s of *buf starting at a 64-byte boundary (the
// micro-kernel's loads then never straddle cache lines), growing it when
// needed.
func aligned(buf *[]float64, n int) []float64 {
	if cap(*buf) < n+8 {
		*buf = make([]float64, n+8)
	}
	s := (*buf)[:cap(*buf)]
	off := int((64 - uintptr(unsafe.Pointer(&s[0]))%64) % 64 / 8)
	return s[off : off+n]
}

// packedSerial is gemmPacked on one goroutine, for C with row stride ldc.
func packedSerial(kern packedKernel, m, n, k int, a []float64, ai, ap int, b []float64, bp, bj int, c []float64, ldc int, bias []float64) {
	mr, nr := kern.mr, kern.nr
	nk := (k + kcMax - 1) / kcMax
	kc := (k + nk - 1) / nk
	nc := min(n, ncMax)
	mc := min(m, mcMax)
	// The B panel holds kc×nc, nc rounded up to slivers; the A block
	// mc×kc, mc rounded up.
	sc := getScratch()
	defer putScratch(sc)
	packB := aligned(&sc.b, kc*((nc+nr-1)/nr*nr))
	packA := aligned(&sc.a, kc*((mc+mr-1)/mr*mr))
	tile, biasTile := sc.tile[:], sc.biasTile[:]
	ldcB := ldc * 8
	for j0 := 0; j0 < n; j0 += nc {
		ncb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kcb := min(kc, k-p0)
			load, last := p0 > 0, p0+kcb == k
			packBPanel(packB, b[p0*bp+j0*bj:], bp, bj, kcb, ncb, nr, kern.vec)
			for i0 := 0; i0 < m; i0 += mc {
				mcb := min(mc, m-i0)
				packABlock(packA, a[i0*ai+p0*ap:], ai, ap, mcb, kcb, mr)
				for jr := 0; jr < ncb; jr += nr {
					cols := min(nr, ncb-jr)
					w := min(nr, (cols+kern.vec-1)/kern.vec*kern.vec) // the sliver's width
					bsl := &packB[jr*kcb]
					var bptr *float64
					if last && bias != nil {
						if cols == w {
							bptr = &bias[j0+jr]
						} else {
							copy(biasTile, bias[j0+jr:j0+jr+cols])
							bptr = &biasTile[0]
						}
					}
					for ir := 0; ir < mcb; ir += mr {
						rows := min(mr, mcb-ir)
						asl := &packA[ir*kcb]
						ct := c[(i0+ir)*ldc+j0+jr:]
						// The next tile down, or the first of the next
						// column of tiles, for the kernel to prefetch.
						next := &ct[0]
						if ir+mr < mcb {
							next = &c[(i0+ir+mr)*ldc+j0+jr]
						} else if jr+nr < ncb {
							next = &c[i0*ldc+j0+jr+nr]
						}
						if rows == mr && cols == w {
							kern.run(w, kcb, asl, bsl, &ct[0], ldcB, load, bptr, next)
							continue
						}
						// An edge tile: computed whole in tile (the
						// packed operands are padded with zeros) and
						// its valid part copied.
						if load {
							for r := 0; r < rows; r++ {
								copy(tile[r*w:r*w+cols], ct[r*ldc:r*ldc+cols])
							}
						}
						kern.run(w, kcb, asl, bsl, &tile[0], w*8, load, bptr, next)
						for r := 0; r < rows; r++ {
							copy(ct[r*ldc:r*ldc+cols], tile[r*w:r*w+cols])
						}
					}
				}
			}
		}
	}
}

// packABlock sets dst to the mc×kc block A(i, p) = a[i·ai + p·ap] in
// slivers of mr rows, dst[s·kc·mr + p·mr + r] = A(s·mr + r, p), the rows
// past mc zero.
func packABlock(dst, a []float64, ai, ap, mc, kc, mr int) {
	for s := 0; s*mr < mc; s++ {
		d := dst[s*kc*mr : (s+1)*kc*mr]
		rows := min(mr, mc-s*mr)
		if rows < mr {
			clear(d)
		}
		base := s * mr * ai
		switch {
		case ap == 1 && rows == 8 && mr == 8:
			// Rows contiguous (NN, NT), a whole sliver.
			gather8(d, 8, a, base, ai, kc)
		case ai == 1 && rows == 8 && mr == 8:
			// Columns contiguous (TN), a whole sliver: in assembly, as
			// copy's memmove per column of 8 is slow.
			copyRows8(&d[0], &a[base], ap*8, kc)
		case ap == 1:
			// Rows contiguous (NN, NT): a transpose of rows×kc.
			for r := 0; r < rows; r++ {
				row := a[base+r*ai : base+r*ai+kc]
				for p, v := range row {
					d[p*mr+r] = v
				}
			}
		case ai == 1:
			// Columns contiguous (TN): a copy of each column.
			for p := 0; p < kc; p++ {
				copy(d[p*mr:p*mr+rows], a[base+p*ap:base+p*ap+rows])
			}
		default:
			for p := 0; p < kc; p++ {
				for r := 0; r < rows; r++ {
					d[p*mr+r] = a[base+r*ai+p*ap]
				}
			}
		}
	}
}

// packBPanel sets dst to the kc×nc panel B(p, j) = b[p·bp + j·bj] in
// slivers of nr columns, dst[t·kc·nr + p·nr + j] = B(p, t·nr + j); the
// last sliver is only as wide as the fewest multiples of vec that hold
// its columns (its rows are that far apart), the columns past nc zero.
func packBPanel(dst, b []float64, bp, bj, kc, nc, nr, vec int) {
	for t := 0; t*nr < nc; t++ {
		cols := min(nr, nc-t*nr)
		w := min(nr, (cols+vec-1)/vec*vec)
		d := dst[t*kc*nr : t*kc*nr+kc*w]
		if cols < w {
			clear(d)
		}
		base := t * nr * bj
		switch {
		case bj == 1 && cols == 24 && haveAVX512:
			// Rows contiguous (NN, TN), a whole sliver: in assembly, as
			// copy's memmove per row of 24 was 12% of a 128×300·300×784
			// product.
			copyRows24(&d[0], &b[base], bp*8, kc)
		case bj == 1 && cols == 8:
			copyRows8(&d[0], &b[base], bp*8, kc)
		case bj == 1:
			// Rows contiguous (NN, TN): a copy of each row.
			for p := 0; p < kc; p++ {
				copy(d[p*w:p*w+cols], b[base+p*bp:base+p*bp+cols])
			}
		case bp == 1 && cols == w && w%8 == 0:
			// Columns contiguous (NT), whole groups of eight columns.
			for g := 0; g < w; g += 8 {
				gather8(d[g:], w, b, base+g*bj, bj, kc)
			}
		case bp == 1:
			// Columns contiguous (NT): a transpose of cols×kc.
			for j := 0; j < cols; j++ {
				col := b[base+j*bj : base+j*bj+kc]
				for p, v := range col {
					d[p*w+j] = v
				}
			}
		default:
			for p := 0; p < kc; p++ {
				for j := 0; j < cols; j++ {
					d[p*w+j] = b[base+p*bp+j*bj]
				}
			}
		}
	}
}

// gather8 sets d[p·ds + r] = x[base + r·step + p] for r < 8 and p < kc:
// eight contiguous runs read side by side, eight consecutive entries of d
// written at a time (the transposing case of packing).
func gather8(d []float64, ds int, x []float64, base, step, kc int) {
	r0, r1, r2, r3 := x[base:base+kc], x[base+step:base+step+kc], x[base+2*step:base+2*step+kc], x[base+3*step:base+3*step+kc]
	r4, r5, r6, r7 := x[base+4*step:base+4*step+kc], x[base+5*step:base+5*step+kc], x[base+6*step:base+6*step+kc], x[base+7*step:base+7*step+kc]
	for p := range r0 {
		q := (*[8]float64)(d[p*ds:])
		q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		q[4], q[5], q[6], q[7] = r4[p], r5[p], r6[p], r7[p]
	}
}
