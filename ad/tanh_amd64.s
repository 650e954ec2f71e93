//go:build amd64 && !purego

#include "textflag.h"

// Vectorized float64 tanh, 4 lanes per YMM register (AVX2 + FMA).
//
// For a = |x|:
//   a <  0.625: tanh(a) = a + a·z·P(z)/Q(z), z = a², P and Q the Cephes
//               degree-2 / monic degree-3 polynomials (same form as math.Tanh).
//   a >= 0.625: tanh(a) = 1 − 2/(s+1), s = exp(2a), 2a clamped to ≤ 44
//               (tanh rounds to exactly 1 for a > ~19.06, and e^44 keeps the
//               exponent arithmetic far from overflow).
// Both branches are written as c + num/den and blended before a single
// division:  small: c = a, num = a·z·P, den = Q;  large: c = 1, num = −2,
// den = s+1.  The sign bit of x is OR-ed back at the end, which also maps
// −0 → −0.  NaN lanes compare false against 0.625 and take the small
// branch, which propagates the NaN; ±Inf take the large branch → ±1.
// Subnormal a: z underflows to 0 and the small branch returns a exactly.
//
// exp(y), y in [0, 44] (NaN lanes are mapped to 44 by VMINPD):
//   k  = y·log2e + 1.5·2⁵²      (round-to-nearest integer n in the low bits)
//   n  = k − 1.5·2⁵²
//   r  = (y − n·ln2hi) − n·ln2lo, |r| ≤ ln2/2 (+tiny); ln2hi has 21 trailing
//        zero bits so n·ln2hi is exact and the first subtraction is exact.
//   p  = 1 + r + r²·g(r) ≈ e^r, g of degree 9 obtained by interpolating
//        (e^r − 1 − r)/r² at the 10 Chebyshev nodes of [−0.3466, 0.3466]
//        (computed at 256 bits, then rounded); max |p − e^r| ≈ 1.3e-17 on
//        that interval with the rounded coefficients. The four low-order
//        steps are Horner (for accuracy), the rest Estrin (shorter chain).
//   s  = p·2ⁿ by adding n<<52 to the bit pattern (0 ≤ n ≤ 64).

#define K_ABS tanhconst<>+0(SB)
#define K_THRESH tanhconst<>+32(SB)
#define K_P0 tanhconst<>+64(SB)
#define K_P1 tanhconst<>+96(SB)
#define K_P2 tanhconst<>+128(SB)
#define K_Q0 tanhconst<>+160(SB)
#define K_Q1 tanhconst<>+192(SB)
#define K_Q2 tanhconst<>+224(SB)
#define K_YMAX tanhconst<>+256(SB)
#define K_LOG2E tanhconst<>+288(SB)
#define K_SHIFT tanhconst<>+320(SB)
#define K_LN2HI tanhconst<>+352(SB)
#define K_LN2LO tanhconst<>+384(SB)
#define K_G0 tanhconst<>+416(SB)
#define K_G1 tanhconst<>+448(SB)
#define K_G2 tanhconst<>+480(SB)
#define K_G3 tanhconst<>+512(SB)
#define K_G4 tanhconst<>+544(SB)
#define K_G5 tanhconst<>+576(SB)
#define K_G6 tanhconst<>+608(SB)
#define K_G7 tanhconst<>+640(SB)
#define K_G8 tanhconst<>+672(SB)
#define K_G9 tanhconst<>+704(SB)
#define K_ONE tanhconst<>+736(SB)
#define K_NEGTWO tanhconst<>+768(SB)

// TANH4 computes Y0 = tanh(Y0) lane-wise. Clobbers Y1–Y11 and Y13–Y15
// (Y12 holds the tail mask).
#define TANH4 \
	VANDPD   K_ABS, Y0, Y1; /* Y1 = a = |x| */ \
	VXORPD   Y1, Y0, Y2; /* Y2 = sign bit of x */ \
	VMULPD   Y1, Y1, Y3; /* Y3 = z = a² */ \
	/* small branch: P(z), Q(z), num = a·z·P */ \
	VMOVUPD  K_P0, Y4; \
	VFMADD213PD K_P1, Y3, Y4; /* Y4 = P0·z + P1 */ \
	VFMADD213PD K_P2, Y3, Y4; /* Y4 = P(z) */ \
	VADDPD   K_Q0, Y3, Y5; /* Y5 = z + Q0 */ \
	VFMADD213PD K_Q1, Y3, Y5; \
	VFMADD213PD K_Q2, Y3, Y5; /* Y5 = Q(z) */ \
	VMULPD   Y3, Y1, Y6; /* Y6 = a·z */ \
	VMULPD   Y4, Y6, Y6; /* Y6 = a·z·P(z) */ \
	/* large branch: s = exp(min(2a, 44)) */ \
	VADDPD   Y1, Y1, Y7; /* Y7 = y = 2a */ \
	VMINPD   K_YMAX, Y7, Y7; /* y = min(y, 44); NaN → 44 */ \
	VMOVUPD  K_SHIFT, Y8; \
	VFMADD231PD K_LOG2E, Y7, Y8; /* Y8 = k = y·log2e + 1.5·2⁵² */ \
	VSUBPD   K_SHIFT, Y8, Y9; /* Y9 = n */ \
	VFNMADD231PD K_LN2HI, Y9, Y7; /* Y7 = y − n·ln2hi (exact) */ \
	VFNMADD231PD K_LN2LO, Y9, Y7; /* Y7 = r */ \
	VMULPD   Y7, Y7, Y9; /* Y9 = r² (n is dead) */ \
	VMOVUPD  K_G3, Y10; \
	VFMADD213PD K_G2, Y7, Y10; /* Y10 = g2 + g3·r */ \
	VMOVUPD  K_G5, Y11; \
	VFMADD213PD K_G4, Y7, Y11; /* Y11 = g4 + g5·r */ \
	VMOVUPD  K_G7, Y13; \
	VFMADD213PD K_G6, Y7, Y13; /* Y13 = g6 + g7·r */ \
	VMOVUPD  K_G9, Y14; \
	VFMADD213PD K_G8, Y7, Y14; /* Y14 = g8 + g9·r */ \
	VFMADD231PD Y11, Y9, Y10; /* Y10 = g2 + … + g5·r³ */ \
	VFMADD231PD Y14, Y9, Y13; /* Y13 = g6 + … + g9·r³ */ \
	VMULPD   Y9, Y9, Y15; /* Y15 = r⁴ */ \
	VFMADD231PD Y13, Y15, Y10; /* Y10 = H = g2 + … + g9·r⁷ */ \
	VFMADD213PD K_G1, Y7, Y10; /* Y10 = g1 + r·H */ \
	VFMADD213PD K_G0, Y7, Y10; /* Y10 = g(r) */ \
	VFMADD213PD K_ONE, Y7, Y10; /* Y10 = 1 + r·g */ \
	VFMADD213PD K_ONE, Y7, Y10; /* Y10 = p = 1 + r + r²·g ≈ e^r */ \
	VPSLLQ   $52, Y8, Y8; /* Y8 = n<<52 */ \
	VPADDQ   Y8, Y10, Y10; /* Y10 = s = exp(y) */ \
	VADDPD   K_ONE, Y10, Y10; /* Y10 = s + 1 */ \
	/* blend and finish: c + num/den */ \
	VCMPPD   $0x1d, K_THRESH, Y1, Y11; /* Y11 = a >= 0.625 (GE_OQ; NaN → false) */ \
	VBLENDVPD Y11, K_NEGTWO, Y6, Y6; /* num */ \
	VBLENDVPD Y11, Y10, Y5, Y5; /* den */ \
	VBLENDVPD Y11, K_ONE, Y1, Y1; /* c */ \
	VDIVPD   Y5, Y6, Y6; /* Y6 = num/den */ \
	VADDPD   Y6, Y1, Y1; /* Y1 = tanh(a) */ \
	VORPD    Y2, Y1, Y0 /* Y0 = tanh(x) */

// func tanhAVX2(dst, src []float64)
// Computes dst[i] = tanh(src[i]) for i < len(src); len(dst) >= len(src) is
// the caller's responsibility. dst and src may be the same slice.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	CMPQ CX, $4
	JB   tail

loop4:
	VMOVUPD (SI), Y0
	TANH4
	VMOVUPD Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JAE  loop4

tail:
	TESTQ CX, CX
	JZ    done
	// 1..3 entries left: masked load/compute/store of the first CX lanes.
	// Masked-off lanes load as 0.0 and are never stored.
	MOVQ $4, BX
	SUBQ CX, BX
	LEAQ tanhmask<>(SB), AX
	VMOVUPD (AX)(BX*8), Y12
	VMASKMOVPD (SI), Y12, Y0
	TANH4
	VMASKMOVPD Y0, Y12, (DI)

done:
	VZEROUPPER
	RET

// tanhmask: four all-ones quadwords followed by four zeros; loading 4
// quadwords at index 4−m gives a mask selecting the first m lanes.
DATA tanhmask<>+0(SB)/8, $0xffffffffffffffff
DATA tanhmask<>+8(SB)/8, $0xffffffffffffffff
DATA tanhmask<>+16(SB)/8, $0xffffffffffffffff
DATA tanhmask<>+24(SB)/8, $0xffffffffffffffff
DATA tanhmask<>+32(SB)/8, $0
DATA tanhmask<>+40(SB)/8, $0
DATA tanhmask<>+48(SB)/8, $0
DATA tanhmask<>+56(SB)/8, $0
GLOBL tanhmask<>(SB), RODATA|NOPTR, $64

// CONST4 stores v at off, off+8, off+16 and off+24 of tanhconst.
#define CONST4(off, v) \
	DATA tanhconst<>+(off)(SB)/8, v \
	DATA tanhconst<>+(off+8)(SB)/8, v \
	DATA tanhconst<>+(off+16)(SB)/8, v \
	DATA tanhconst<>+(off+24)(SB)/8, v

// Constants, each replicated to 32 bytes so they can be used directly as
// 256-bit memory operands.
// K_ABS = abs mask
CONST4(0, $0x7fffffffffffffff)
// K_THRESH = 0.625
CONST4(32, $0x3fe4000000000000)
// K_P0 = -0.96439917942505227
CONST4(64, $0xbfeedc5baafd6f4b)
// K_P1 = -99.287723100191855
CONST4(96, $0xc058d26a0e26682d)
// K_P2 = -1614.6876844170845
CONST4(128, $0xc0993ac030580563)
// K_Q0 = 112.81167849163293
CONST4(160, $0x405c33f28a581b86)
// K_Q1 = 2235.4883906010045
CONST4(192, $0x40a176fa0e5535fa)
// K_Q2 = 4844.063053251255
CONST4(224, $0x40b2ec102442040c)
// K_YMAX = 44
CONST4(256, $0x4046000000000000)
// K_LOG2E = 1.4426950408889634
CONST4(288, $0x3ff71547652b82fe)
// K_SHIFT = 6755399441055744
CONST4(320, $0x4338000000000000)
// K_LN2HI = 0.69314718036912382
CONST4(352, $0x3fe62e42fee00000)
// K_LN2LO = 1.9082149292705877e-10
CONST4(384, $0x3dea39ef35793c76)
// K_G0 = 0.50000000000000011
CONST4(416, $0x3fe0000000000001)
// K_G1 = 0.16666666666666669
CONST4(448, $0x3fc5555555555556)
// K_G2 = 0.041666666666624136
CONST4(480, $0x3fa5555555553d64)
// K_G3 = 0.0083333333333300633
CONST4(512, $0x3f811111111109b4)
// K_G4 = 0.001388888891720967
CONST4(544, $0x3f56c16c1788b646)
// K_G5 = 0.00019841269863050506
CONST4(576, $0x3f2a01a01a7c3d59)
// K_G6 = 2.4801521302241082e-05
CONST4(608, $0x3efa019b90eefe8e)
// K_G7 = 2.7557268464831627e-06
CONST4(640, $0x3ec71de0daf7a6cc)
// K_G8 = 2.7620085455018414e-07
CONST4(672, $0x3e92891834686c7e)
// K_G9 = 2.5100383195867021e-08
CONST4(704, $0x3e5af38a71a18cb9)
// K_ONE = 1
CONST4(736, $0x3ff0000000000000)
// K_NEGTWO = -2
CONST4(768, $0xc000000000000000)
GLOBL tanhconst<>(SB), RODATA|NOPTR, $800
