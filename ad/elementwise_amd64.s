//go:build amd64 && !purego

#include "textflag.h"

DATA ebone<>+0(SB)/8, $1.0
GLOBL ebone<>(SB), RODATA|NOPTR, $8

// func tanhBackAVX2(out, g, y []float64)
//
// out[i] = g[i]·(1 − y[i]·y[i]) for i < len(out), with the roundings of
// the Go expression (a product, a difference, a product; no FMA), four
// entries at a time and the rest one by one.
TEXT ·tanhBackAVX2(SB), NOSPLIT, $0-72
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         g_base+24(FP), SI
	MOVQ         y_base+48(FP), DX
	VBROADCASTSD ebone<>(SB), Y15
	XORQ         AX, AX
	MOVQ         CX, BX
	ANDQ         $-4, BX

loop4:
	CMPQ    AX, BX
	JGE     tail
	VMOVUPD (DX)(AX*8), Y0
	VMULPD  Y0, Y0, Y0
	VSUBPD  Y0, Y15, Y0
	VMULPD  (SI)(AX*8), Y0, Y0
	VMOVUPD Y0, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     loop4

tail:
	CMPQ  AX, CX
	JGE   done
	MOVSD (DX)(AX*8), X0
	MULSD X0, X0
	MOVSD X15, X1
	SUBSD X0, X1
	MULSD (SI)(AX*8), X1
	MOVSD X1, (DI)(AX*8)
	INCQ  AX
	JMP   tail

done:
	VZEROUPPER
	RET
