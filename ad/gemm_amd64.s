//go:build amd64 && !purego

#include "textflag.h"

// The micro-kernels of gemm_amd64.go. Each sets one tile of C,
//
//	C[r, j] = Σ_{p<k} A(r, p)·B[p, j],  A(r, p) = a[r·ai + p·ap],
//
// with one FMA accumulator per entry, run over p in increasing order: an
// entry's value does not depend on which kernel computes it. When bias is
// not nil, bias[j] is added to column j after the sum (one more rounding,
// as a separate addition would give). Strides are in bytes. k ≥ 1.
//
// Registers: AX counts p, SI walks A's column p, DI walks B's row p,
// R8 = ai, R12 = 3·ai, R9 = ap, R10 = B's row stride, DX = C, R11 = C's
// row stride.

#define LOADARGS \
	MOVQ k+0(FP), AX \
	MOVQ a+8(FP), SI \
	MOVQ ai+16(FP), R8 \
	MOVQ ap+24(FP), R9 \
	MOVQ b+32(FP), DI \
	MOVQ bp+40(FP), R10 \
	MOVQ c+48(FP), DX \
	MOVQ ci+56(FP), R11 \
	LEAQ (R8)(R8*2), R12

// func kern4x8(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64)
TEXT ·kern4x8(SB), NOSPLIT, $0-72
	LOADARGS
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

loop4x8:
	VMOVUPD      (DI), Y8
	VMOVUPD      32(DI), Y9
	VBROADCASTSD (SI), Y10
	VFMADD231PD  Y8, Y10, Y0
	VFMADD231PD  Y9, Y10, Y1
	VBROADCASTSD (SI)(R8*1), Y11
	VFMADD231PD  Y8, Y11, Y2
	VFMADD231PD  Y9, Y11, Y3
	VBROADCASTSD (SI)(R8*2), Y12
	VFMADD231PD  Y8, Y12, Y4
	VFMADD231PD  Y9, Y12, Y5
	VBROADCASTSD (SI)(R12*1), Y13
	VFMADD231PD  Y8, Y13, Y6
	VFMADD231PD  Y9, Y13, Y7
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         AX
	JNZ          loop4x8

	MOVQ    bias+64(FP), BX
	TESTQ   BX, BX
	JZ      store4x8
	VMOVUPD (BX), Y8
	VMOVUPD 32(BX), Y9
	VADDPD  Y8, Y0, Y0
	VADDPD  Y9, Y1, Y1
	VADDPD  Y8, Y2, Y2
	VADDPD  Y9, Y3, Y3
	VADDPD  Y8, Y4, Y4
	VADDPD  Y9, Y5, Y5
	VADDPD  Y8, Y6, Y6
	VADDPD  Y9, Y7, Y7

store4x8:
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	ADDQ    R11, DX
	VMOVUPD Y2, (DX)
	VMOVUPD Y3, 32(DX)
	ADDQ    R11, DX
	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	ADDQ    R11, DX
	VMOVUPD Y6, (DX)
	VMOVUPD Y7, 32(DX)
	VZEROUPPER
	RET

// func kern4x4(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64, mask *[4]int64)
//
// Four columns, of which those with a negative mask entry are read and
// written: the masked loads never touch memory past the last column.
TEXT ·kern4x4(SB), NOSPLIT, $0-80
	LOADARGS
	MOVQ    mask+72(FP), BX
	VMOVDQU (BX), Y15
	VXORPD  Y0, Y0, Y0
	VXORPD  Y1, Y1, Y1
	VXORPD  Y2, Y2, Y2
	VXORPD  Y3, Y3, Y3

loop4x4:
	VMASKMOVPD   (DI), Y15, Y8
	VBROADCASTSD (SI), Y10
	VFMADD231PD  Y8, Y10, Y0
	VBROADCASTSD (SI)(R8*1), Y11
	VFMADD231PD  Y8, Y11, Y1
	VBROADCASTSD (SI)(R8*2), Y12
	VFMADD231PD  Y8, Y12, Y2
	VBROADCASTSD (SI)(R12*1), Y13
	VFMADD231PD  Y8, Y13, Y3
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         AX
	JNZ          loop4x4

	MOVQ       bias+64(FP), BX
	TESTQ      BX, BX
	JZ         store4x4
	VMASKMOVPD (BX), Y15, Y8
	VADDPD     Y8, Y0, Y0
	VADDPD     Y8, Y1, Y1
	VADDPD     Y8, Y2, Y2
	VADDPD     Y8, Y3, Y3

store4x4:
	VMASKMOVPD Y0, Y15, (DX)
	ADDQ       R11, DX
	VMASKMOVPD Y1, Y15, (DX)
	ADDQ       R11, DX
	VMASKMOVPD Y2, Y15, (DX)
	ADDQ       R11, DX
	VMASKMOVPD Y3, Y15, (DX)
	VZEROUPPER
	RET

// func kern1x8(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64)
//
// One row, eight columns; four accumulators (two per column vector, for
// even and odd p) would change the order of summation, so the loop keeps
// one chain per entry like the four-row kernels.
TEXT ·kern1x8(SB), NOSPLIT, $0-72
	LOADARGS
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1

loop1x8:
	VBROADCASTSD (SI), Y10
	VFMADD231PD  (DI), Y10, Y0
	VFMADD231PD  32(DI), Y10, Y1
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         AX
	JNZ          loop1x8

	MOVQ    bias+64(FP), BX
	TESTQ   BX, BX
	JZ      store1x8
	VADDPD  (BX), Y0, Y0
	VADDPD  32(BX), Y1, Y1

store1x8:
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	VZEROUPPER
	RET

// func kern1x4(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64, mask *[4]int64)
TEXT ·kern1x4(SB), NOSPLIT, $0-80
	LOADARGS
	MOVQ    mask+72(FP), BX
	VMOVDQU (BX), Y15
	VXORPD  Y0, Y0, Y0

loop1x4:
	VMASKMOVPD   (DI), Y15, Y8
	VBROADCASTSD (SI), Y10
	VFMADD231PD  Y8, Y10, Y0
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         AX
	JNZ          loop1x4

	MOVQ       bias+64(FP), BX
	TESTQ      BX, BX
	JZ         store1x4
	VMASKMOVPD (BX), Y15, Y8
	VADDPD     Y8, Y0, Y0

store1x4:
	VMASKMOVPD Y0, Y15, (DX)
	VZEROUPPER
	RET

// func copyRows8(dst, src *float64, ld, kc int)
//
// Packs kc rows of 8 float64s, src rows ld bytes apart, into dst rows 64
// bytes apart (a B sliver of the packed product's AVX2 kernel). kc ≥ 1.
TEXT ·copyRows8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	MOVQ kc+24(FP), AX

rows8:
	VMOVUPD (SI), Y0
	VMOVUPD 32(SI), Y1
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    AX
	JNZ     rows8
	VZEROUPPER
	RET

// func kernp4x8(k int, a, b, c *float64, ldc int, load bool, bias *float64)
//
// The packed product's AVX2 micro-kernel: kern4x8's loop on a packed A
// sliver (a[p·4 + r]) and B sliver (b[p·8 + j]), starting from C's
// current contents when load is set (a later p block continues each
// entry's chain) and from +0 otherwise. ldc is C's row stride in bytes.
TEXT ·kernp4x8(SB), NOSPLIT, $0-56
	MOVQ    k+0(FP), AX
	MOVQ    a+8(FP), SI
	MOVQ    b+16(FP), DI
	MOVQ    c+24(FP), DX
	MOVQ    ldc+32(FP), R11
	MOVBLZX load+40(FP), BX
	TESTQ   BX, BX
	JNZ     loadp4x8
	VXORPD  Y0, Y0, Y0
	VXORPD  Y1, Y1, Y1
	VXORPD  Y2, Y2, Y2
	VXORPD  Y3, Y3, Y3
	VXORPD  Y4, Y4, Y4
	VXORPD  Y5, Y5, Y5
	VXORPD  Y6, Y6, Y6
	VXORPD  Y7, Y7, Y7
	JMP     loopp4x8

loadp4x8:
	MOVQ    DX, R13
	VMOVUPD (R13), Y0
	VMOVUPD 32(R13), Y1
	ADDQ    R11, R13
	VMOVUPD (R13), Y2
	VMOVUPD 32(R13), Y3
	ADDQ    R11, R13
	VMOVUPD (R13), Y4
	VMOVUPD 32(R13), Y5
	ADDQ    R11, R13
	VMOVUPD (R13), Y6
	VMOVUPD 32(R13), Y7

loopp4x8:
	VMOVUPD      (DI), Y8
	VMOVUPD      32(DI), Y9
	VBROADCASTSD (SI), Y10
	VFMADD231PD  Y8, Y10, Y0
	VFMADD231PD  Y9, Y10, Y1
	VBROADCASTSD 8(SI), Y11
	VFMADD231PD  Y8, Y11, Y2
	VFMADD231PD  Y9, Y11, Y3
	VBROADCASTSD 16(SI), Y12
	VFMADD231PD  Y8, Y12, Y4
	VFMADD231PD  Y9, Y12, Y5
	VBROADCASTSD 24(SI), Y13
	VFMADD231PD  Y8, Y13, Y6
	VFMADD231PD  Y9, Y13, Y7
	ADDQ         $32, SI
	ADDQ         $64, DI
	DECQ         AX
	JNZ          loopp4x8

	MOVQ    bias+48(FP), BX
	TESTQ   BX, BX
	JZ      storep4x8
	VMOVUPD (BX), Y8
	VMOVUPD 32(BX), Y9
	VADDPD  Y8, Y0, Y0
	VADDPD  Y9, Y1, Y1
	VADDPD  Y8, Y2, Y2
	VADDPD  Y9, Y3, Y3
	VADDPD  Y8, Y4, Y4
	VADDPD  Y9, Y5, Y5
	VADDPD  Y8, Y6, Y6
	VADDPD  Y9, Y7, Y7

storep4x8:
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	ADDQ    R11, DX
	VMOVUPD Y2, (DX)
	VMOVUPD Y3, 32(DX)
	ADDQ    R11, DX
	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	ADDQ    R11, DX
	VMOVUPD Y6, (DX)
	VMOVUPD Y7, 32(DX)
	VZEROUPPER
	RET
