//go:build amd64 && !purego

#include "textflag.h"

// func adamAVX2(pd, gd, m, v []float64, k *adamKernel, divide bool)
//
// The loop of adamKernel.update over the first len(pd) &^ 3 entries, four
// at a time, with the roundings of the Go loop: the same products, the same
// two FMAs, a correctly rounded square root and divisions (IEEE 754 gives
// the vector instructions the scalar ones' results entry by entry). With
// divide false the division by √(1 − β₂ᵗ) is left out, as in the Go loop
// once that constant is 1. The caller does the remaining entries.
//
// adamKernel's layout: negStep, bc2Sqrt, eps, b1, b2, c1, c2 at offsets
// 0, 8, …, 48.
TEXT ·adamAVX2(SB), NOSPLIT, $0-105
	MOVQ         pd_base+0(FP), DI
	MOVQ         pd_len+8(FP), CX
	MOVQ         gd_base+24(FP), SI
	MOVQ         m_base+48(FP), R8
	MOVQ         v_base+72(FP), R9
	MOVQ         k+96(FP), DX
	MOVBLZX      divide+104(FP), R10
	VBROADCASTSD 0(DX), Y14  // negStep
	VBROADCASTSD 8(DX), Y12  // bc2Sqrt
	VBROADCASTSD 16(DX), Y13 // eps
	VBROADCASTSD 24(DX), Y9  // b1
	VBROADCASTSD 32(DX), Y11 // b2
	VBROADCASTSD 40(DX), Y8  // c1
	VBROADCASTSD 48(DX), Y10 // c2
	ANDQ         $-4, CX
	XORQ         AX, AX
	TESTQ        R10, R10
	JZ           nodiv

div:
	CMPQ        AX, CX
	JGE         done
	VMOVUPD     (SI)(AX*8), Y0  // g
	VMULPD      (R8)(AX*8), Y9, Y1 // m·b1
	VFMADD231PD Y8, Y0, Y1      // mj = g·c1 + m·b1
	VMULPD      Y10, Y0, Y2     // c2·g
	VMULPD      (R9)(AX*8), Y11, Y3 // v·b2
	VFMADD231PD Y2, Y0, Y3      // vj = (c2·g)·g + v·b2
	VMOVUPD     Y1, (R8)(AX*8)
	VMOVUPD     Y3, (R9)(AX*8)
	VSQRTPD     Y3, Y3
	VDIVPD      Y12, Y3, Y3     // √vj / √(1 − β₂ᵗ)
	VADDPD      Y13, Y3, Y3     // + ε
	VMULPD      Y14, Y1, Y1     // negStep·mj
	VDIVPD      Y3, Y1, Y1
	VADDPD      (DI)(AX*8), Y1, Y1
	VMOVUPD     Y1, (DI)(AX*8)
	ADDQ        $4, AX
	JMP         div

nodiv:
	CMPQ        AX, CX
	JGE         done
	VMOVUPD     (SI)(AX*8), Y0
	VMULPD      (R8)(AX*8), Y9, Y1
	VFMADD231PD Y8, Y0, Y1
	VMULPD      Y10, Y0, Y2
	VMULPD      (R9)(AX*8), Y11, Y3
	VFMADD231PD Y2, Y0, Y3
	VMOVUPD     Y1, (R8)(AX*8)
	VMOVUPD     Y3, (R9)(AX*8)
	VSQRTPD     Y3, Y3
	VADDPD      Y13, Y3, Y3
	VMULPD      Y14, Y1, Y1
	VDIVPD      Y3, Y1, Y1
	VADDPD      (DI)(AX*8), Y1, Y1
	VMOVUPD     Y1, (DI)(AX*8)
	ADDQ        $4, AX
	JMP         nodiv

done:
	VZEROUPPER
	RET
