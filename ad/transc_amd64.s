//go:build amd64 && !purego

#include "textflag.h"

// Vectorized float64 exp, log, log1p, softplus, sigmoid and the Bernoulli
// log-likelihood, 4 lanes per YMM register (AVX2 + FMA). The tail of
// 1..3 entries goes through masked loads and stores, so an entry's result
// never depends on its place in the slice (docs/ad.md, "Transcendentals").
//
// exp(x) (EXP4):
//   c  = min(max(x, −746), 710), NaN kept (exp(−746) rounds to 0,
//        exp(710) overflows: the clamp only keeps 2ⁿ representable)
//   n  = round(c·log2e) via the 1.5·2⁵² shift; r = (c − n·ln2hi) − n·ln2lo,
//        |r| ≤ ln2/2 (ln2hi has 21 trailing zero bits: n·ln2hi is exact)
//   p  = 1 + r + r²·g(r) ≈ eʳ, g the degree-9 Chebyshev interpolant of the
//        tanh kernel (tanh_amd64.s), |p − eʳ| ≈ 1.3e-17
//   eˣ = (p·2^⌊n/2⌋)·2^(n−⌊n/2⌋): both factors are normal for every n in
//        [−1076, 1024]; the first product is exact, the second rounds once,
//        so subnormal results are rounded once and overflow gives +Inf.
//
// log(u) for u = 2ᵏ·m, m in [OFF, 2·OFF), OFF ≈ √2/2 (LOGF), the fdlibm
// reduction (e_log.c, also Go's math.Log):
//   f = m − 1 (exact), s = f/(2+f), z = s², R(z) = Lg1·z + … + Lg7·z⁷
//   log(u) = k·ln2hi − ((½f² − (s·(½f² + R) + k·ln2lo + C)) − f)
// where C is a correction (0 for log; the rounding error of 1 + x, divided
// by 1 + x, for log1p). k and m come from integer arithmetic on the bits:
//   u' = bits(u) − OFF + 2⁶²,  k + 1024 = u' >> 52,  bits(m) = (u' & (2⁵²−1)) + OFF.
//
// log1p(x): f = x, k = 0, C = 0 when x is in [√2/2 − 1, √2 − 1) (f exact);
// otherwise u = fl(1 + x), C = c/u with c = x − (u − 1) = (1 + x) − u and
// 1/u from VRCPPS: C is below 2⁻⁵³ of a result of magnitude ≥ 0.34 there,
// so its 12-bit reciprocal costs < 0.001 ulp. c is exact: u − 1 is (u is
// a multiple of ulp(u), and so is 1, below 2⁵³; above, C is negligible
// anyway), and so is x − (u − 1) (Sterbenz: the two are within a factor
// of 2, or u − 1 = x for x in (−1, −½]). fdlibm also has a second form,
// 1 − (u − x), for u ≥ 2; it gives the same exact c and is not needed.
//
// softplus(x) = max(x, 0) + log1p(t), t = e^(−|x|) in [0, 1]; log-sigmoid
// is −softplus(−x) (sign flips on the way in and out). log1p(t) as above
// but specialised: t < √2 − 1: f = t; else k = 1, f = u/2 − 1 (exact).
// sigmoid(x) = (x < 0 ? t : 1)/(1 + t).
//
// Bernoulli log-likelihood per entry, c = x − [l > 0]:
//   x·l − softplus(l) = (c == 0 ? 0 : c·l) − log1p(e^(−|l|))
// (exactly the same number for finite l; the limit 0 where c = 0 and l is
// infinite), and its l-derivative x − σ(l) = c + (l > 0 ? q : −q),
// q = t/(1 + t): no cancellation where σ(l) is close to x.

#define K_ABS transcconst<>+0(SB)
#define K_SIGN transcconst<>+32(SB)
#define K_ONE transcconst<>+64(SB)
#define K_TWO transcconst<>+96(SB)
#define K_HALF transcconst<>+128(SB)
#define K_EXPLO transcconst<>+160(SB)
#define K_EXPHI transcconst<>+192(SB)
#define K_LOG2E transcconst<>+224(SB)
#define K_SHIFT transcconst<>+256(SB)
#define K_SHIFTB transcconst<>+288(SB)
#define K_LN2HI transcconst<>+320(SB)
#define K_LN2LO transcconst<>+352(SB)
#define K_G0 transcconst<>+384(SB)
#define K_G1 transcconst<>+416(SB)
#define K_G2 transcconst<>+448(SB)
#define K_G3 transcconst<>+480(SB)
#define K_G4 transcconst<>+512(SB)
#define K_G5 transcconst<>+544(SB)
#define K_G6 transcconst<>+576(SB)
#define K_G7 transcconst<>+608(SB)
#define K_G8 transcconst<>+640(SB)
#define K_G9 transcconst<>+672(SB)
#define K_LG1 transcconst<>+704(SB)
#define K_LG2 transcconst<>+736(SB)
#define K_LG3 transcconst<>+768(SB)
#define K_LG4 transcconst<>+800(SB)
#define K_LG5 transcconst<>+832(SB)
#define K_LG6 transcconst<>+864(SB)
#define K_LG7 transcconst<>+896(SB)
#define K_OFFB transcconst<>+928(SB)
#define K_OFF transcconst<>+960(SB)
#define K_LOW52 transcconst<>+992(SB)
#define K_TWO52 transcconst<>+1024(SB)
#define K_TWO52K transcconst<>+1056(SB)
#define K_MINNORM transcconst<>+1088(SB)
#define K_FIFTYTWO transcconst<>+1120(SB)
#define K_INF transcconst<>+1152(SB)
#define K_NEGINF transcconst<>+1184(SB)
#define K_NAN transcconst<>+1216(SB)
#define K_TINY transcconst<>+1248(SB)
#define K_LPLO transcconst<>+1280(SB)
#define K_LPHI transcconst<>+1312(SB)

// EXP4 computes Y0 = exp(Y0) lane-wise. Clobbers Y1–Y9.
#define EXP4 \
	VMOVUPD  K_EXPLO, Y1; \
	VMAXPD   Y0, Y1, Y1; /* max(−746, x); NaN → x (second operand) */ \
	VMOVUPD  K_EXPHI, Y2; \
	VMINPD   Y1, Y2, Y1; /* c = min(710, ·); NaN kept */ \
	VMOVUPD  K_SHIFT, Y2; \
	VFMADD231PD K_LOG2E, Y1, Y2; /* c·log2e + 1.5·2⁵² */ \
	VSUBPD   K_SHIFT, Y2, Y2; /* Y2 = n */ \
	VFNMADD231PD K_LN2HI, Y2, Y1; /* c − n·ln2hi */ \
	VFNMADD231PD K_LN2LO, Y2, Y1; /* Y1 = r */ \
	VMULPD   Y1, Y1, Y4; /* r² */ \
	VMOVUPD  K_G3, Y5; \
	VFMADD213PD K_G2, Y1, Y5; /* g2 + g3·r */ \
	VMOVUPD  K_G5, Y6; \
	VFMADD213PD K_G4, Y1, Y6; /* g4 + g5·r */ \
	VMOVUPD  K_G7, Y7; \
	VFMADD213PD K_G6, Y1, Y7; /* g6 + g7·r */ \
	VMOVUPD  K_G9, Y8; \
	VFMADD213PD K_G8, Y1, Y8; /* g8 + g9·r */ \
	VFMADD231PD Y6, Y4, Y5; /* g2 + … + g5·r³ */ \
	VFMADD231PD Y8, Y4, Y7; /* g6 + … + g9·r³ */ \
	VMULPD   Y4, Y4, Y9; /* r⁴ */ \
	VFMADD231PD Y7, Y9, Y5; /* H = g2 + … + g9·r⁷ */ \
	VFMADD213PD K_G1, Y1, Y5; \
	VFMADD213PD K_G0, Y1, Y5; /* g(r) */ \
	VFMADD213PD K_ONE, Y1, Y5; /* 1 + r·g */ \
	VFMADD213PD K_ONE, Y1, Y5; /* p = 1 + r + r²·g */ \
	VMULPD   K_HALF, Y2, Y6; \
	VROUNDPD $1, Y6, Y6; /* n1 = ⌊n/2⌋ */ \
	VSUBPD   Y6, Y2, Y7; /* n2 = n − n1 */ \
	VADDPD   K_SHIFTB, Y6, Y6; \
	VPSLLQ   $52, Y6, Y6; /* 2^n1: (n1 + 1023) << 52 */ \
	VADDPD   K_SHIFTB, Y7, Y7; \
	VPSLLQ   $52, Y7, Y7; /* 2^n2 */ \
	VMULPD   Y6, Y5, Y5; /* exact */ \
	VMULPD   Y7, Y5, Y0 /* rounds once */

// LOGF computes Y0 = k·ln2 + log1p(f) + C from Y1 = f (in [√2/2−1, √2−1]),
// Y2 = k and Y9 = C. Clobbers Y1–Y9.
#define LOGF \
	VADDPD   K_TWO, Y1, Y3; /* 2 + f */ \
	VDIVPD   Y3, Y1, Y3; /* s = f/(2+f) */ \
	VMULPD   Y3, Y3, Y4; /* z = s² */ \
	VMULPD   Y4, Y4, Y5; /* w = z² */ \
	VMOVUPD  K_LG6, Y6; \
	VFMADD213PD K_LG4, Y5, Y6; \
	VFMADD213PD K_LG2, Y5, Y6; \
	VMULPD   Y5, Y6, Y6; /* t1 = w·(Lg2 + w·(Lg4 + w·Lg6)) */ \
	VMOVUPD  K_LG7, Y7; \
	VFMADD213PD K_LG5, Y5, Y7; \
	VFMADD213PD K_LG3, Y5, Y7; \
	VFMADD213PD K_LG1, Y5, Y7; \
	VMULPD   Y4, Y7, Y7; /* t2 = z·(Lg1 + w·(Lg3 + w·(Lg5 + w·Lg7))) */ \
	VADDPD   Y6, Y7, Y7; /* R */ \
	VMULPD   Y1, Y1, Y8; \
	VMULPD   K_HALF, Y8, Y8; /* hfsq = ½f² */ \
	VADDPD   Y8, Y7, Y7; /* hfsq + R */ \
	VFMADD231PD K_LN2LO, Y2, Y9; /* C + k·ln2lo */ \
	VFMADD231PD Y7, Y3, Y9; /* s·(hfsq + R) + k·ln2lo + C */ \
	VSUBPD   Y9, Y8, Y8; /* hfsq − … */ \
	VSUBPD   Y1, Y8, Y8; /* (hfsq − …) − f */ \
	VMULPD   K_LN2HI, Y2, Y2; /* k·ln2hi, exact */ \
	VSUBPD   Y8, Y2, Y0

// KF sets Y2 = k (as a double) and Y1 = f = m − 1 from a positive normal
// u in Y0 (other inputs give garbage, replaced by the callers). Clobbers
// nothing else.
#define KF \
	VPSUBQ   K_OFFB, Y0, Y1; /* u' = bits − OFF + 2⁶² */ \
	VPSRLQ   $52, Y1, Y2; /* k + 1024 */ \
	VPOR     K_TWO52, Y2, Y2; \
	VSUBPD   K_TWO52K, Y2, Y2; /* k */ \
	VPAND    K_LOW52, Y1, Y1; \
	VPADDQ   K_OFF, Y1, Y1; /* m */ \
	VSUBPD   K_ONE, Y1, Y1 /* f = m − 1, exact */

// LOGSPECIAL sets Y0 to log's value for the lanes of Y14 that are not in
// (0, +Inf): NaN for x < 0 and NaN, −Inf for ±0, +Inf for +Inf. Y14 is
// the argument of the logarithm. Clobbers Y11–Y13.
#define LOGSPECIAL \
	VXORPD   Y13, Y13, Y13; \
	VCMPPD   $0x1e, Y13, Y14, Y11; /* u > 0 */ \
	VCMPPD   $0x11, K_INF, Y14, Y12; /* u < Inf */ \
	VANDPD   Y12, Y11, Y11; /* good */ \
	VCMPPD   $0x11, Y13, Y14, Y12; /* u < 0 */ \
	VANDPD   K_NAN, Y12, Y12; \
	VADDPD   Y14, Y12, Y12; /* u, or NaN where u < 0 */ \
	VCMPPD   $0x00, Y13, Y14, Y13; /* u == 0 */ \
	VBLENDVPD Y13, K_NEGINF, Y12, Y12; \
	VBLENDVPD Y11, Y0, Y12, Y0

// LOG4 computes Y0 = log(Y0). Clobbers Y1–Y14.
#define LOG4 \
	VMOVAPD  Y0, Y14; /* x */ \
	VCMPPD   $0x11, K_MINNORM, Y0, Y11; /* x < 2⁻¹⁰²² (subnormal, or special) */ \
	VMULPD   K_TWO52, Y0, Y12; \
	VBLENDVPD Y11, Y12, Y0, Y0; /* u = x·2⁵² for subnormals */ \
	VANDPD   K_FIFTYTWO, Y11, Y10; /* 52 or 0 */ \
	KF; \
	VSUBPD   Y10, Y2, Y2; /* k −= 52 */ \
	VXORPD   Y9, Y9, Y9; /* C = 0 */ \
	LOGF; \
	LOGSPECIAL

// LOG1P4 computes Y0 = log1p(Y0). Clobbers Y1–Y14.
#define LOG1P4 \
	VMOVAPD  Y0, Y10; /* x */ \
	VADDPD   K_ONE, Y0, Y14; /* u = 1 + x */ \
	VSUBPD   K_ONE, Y14, Y2; /* u − 1, exact below 2⁵³ */ \
	VSUBPD   Y2, Y10, Y9; /* c = x − (u − 1) = (1 + x) − u, exact */ \
	VCVTPD2PSY Y14, X3; \
	VRCPPS   X3, X3; \
	VCVTPS2PD X3, Y3; /* ≈ 1/u */ \
	VMULPD   Y3, Y9, Y9; /* C ≈ c/u */ \
	VMOVAPD  Y14, Y0; \
	KF; \
	VMOVUPD  K_LPLO, Y3; \
	VCMPPD   $0x12, Y10, Y3, Y3; /* √2/2 − 1 ≤ x */ \
	VCMPPD   $0x11, K_LPHI, Y10, Y4; /* x < √2 − 1 */ \
	VANDPD   Y4, Y3, Y3; /* near 0: f = x, k = 0, C = 0 */ \
	VBLENDVPD Y3, Y10, Y1, Y1; \
	VANDNPD  Y2, Y3, Y2; \
	VANDNPD  Y9, Y3, Y9; \
	LOGF; \
	LOGSPECIAL; \
	VANDPD   K_ABS, Y10, Y11; \
	VCMPPD   $0x11, K_TINY, Y11, Y11; /* |x| < 2⁻⁵⁴: log1p(x) = x (keeps −0) */ \
	VBLENDVPD Y11, Y10, Y0, Y0

// LOG1PT computes Y0 = log1p(Y0) for Y0 = t in [0, 1] or NaN. Clobbers
// Y1–Y9 and Y11.
#define LOG1PT \
	VCMPPD   $0x11, K_LPHI, Y0, Y11; /* t < √2 − 1: f = t */ \
	VADDPD   K_ONE, Y0, Y1; /* u = 1 + t, in [1, 2] */ \
	VSUBPD   K_ONE, Y1, Y2; /* u − 1, exact */ \
	VSUBPD   Y2, Y0, Y2; /* c = t − (u − 1), exact */ \
	VCVTPD2PSY Y1, X3; \
	VRCPPS   X3, X3; \
	VCVTPS2PD X3, Y3; /* ≈ 1/u */ \
	VMULPD   Y3, Y2, Y9; /* C ≈ c/u */ \
	VMOVUPD  K_HALF, Y3; \
	VFMSUB213PD K_ONE, Y1, Y3; /* u/2 − 1, exact */ \
	VBLENDVPD Y11, Y0, Y3, Y1; /* f */ \
	VANDNPD  K_ONE, Y11, Y2; /* k = 0 or 1 */ \
	VANDNPD  Y9, Y11, Y9; /* C = 0 where f = t */ \
	LOGF

// SOFTPLUS4 computes Y0 = softplus(Y0). Clobbers Y1–Y12.
#define SOFTPLUS4 \
	VMOVAPD  Y0, Y10; /* x */ \
	VANDPD   K_ABS, Y0, Y0; \
	VXORPD   K_SIGN, Y0, Y0; /* −|x| */ \
	EXP4; /* t */ \
	LOG1PT; \
	VXORPD   Y12, Y12, Y12; \
	VMAXPD   Y10, Y12, Y12; /* max(0, x); NaN → x */ \
	VADDPD   Y12, Y0, Y0

// SIGMOID4 computes Y0 = σ(Y0). Clobbers Y1–Y10.
#define SIGMOID4 \
	VMOVAPD  Y0, Y10; /* x */ \
	VANDPD   K_ABS, Y0, Y0; \
	VXORPD   K_SIGN, Y0, Y0; \
	EXP4; /* t = e^(−|x|) */ \
	VADDPD   K_ONE, Y0, Y1; /* 1 + t */ \
	VXORPD   Y2, Y2, Y2; \
	VCMPPD   $0x11, Y2, Y10, Y2; /* x < 0 */ \
	VMOVUPD  K_ONE, Y3; \
	VBLENDVPD Y2, Y0, Y3, Y3; /* x < 0 ? t : 1 */ \
	VDIVPD   Y1, Y3, Y0

// UNARY(OP) is the body of func(dst, src []float64): dst[i] = OP(src[i])
// for i < len(src), four lanes at a time and a masked last block
// (masked-off lanes load 0 and are not stored). Y15 holds the mask.
#define UNARY(OP) \
	MOVQ dst_base+0(FP), DI; \
	MOVQ src_base+24(FP), SI; \
	MOVQ src_len+32(FP), CX; \
	CMPQ CX, $4; \
	JB   tail; \
loop: \
	VMOVUPD (SI), Y0; \
	OP; \
	VMOVUPD Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	SUBQ $4, CX; \
	CMPQ CX, $4; \
	JAE  loop; \
tail: \
	TESTQ CX, CX; \
	JZ    done; \
	MOVQ $4, BX; \
	SUBQ CX, BX; \
	LEAQ transcmask<>(SB), AX; \
	VMOVUPD (AX)(BX*8), Y15; \
	VMASKMOVPD (SI), Y15, Y0; \
	OP; \
	VMASKMOVPD Y0, Y15, (DI); \
done: \
	VZEROUPPER; \
	RET

// func expAVX2(dst, src []float64)
TEXT ·expAVX2(SB), NOSPLIT, $0-48
	UNARY(EXP4)

// func logAVX2(dst, src []float64)
TEXT ·logAVX2(SB), NOSPLIT, $0-48
	UNARY(LOG4)

// func log1pAVX2(dst, src []float64)
TEXT ·log1pAVX2(SB), NOSPLIT, $0-48
	UNARY(LOG1P4)

// FLIP XORs Y0 with the sign mask in Y14 (0 or the sign bit).
#define FLIP VXORPD Y14, Y0, Y0

#define SOFTPLUSFLIP FLIP; SOFTPLUS4; FLIP

// func softplusAVX2(dst, src []float64, flip uint64)
// dst[i] = s·softplus(s·src[i]) with s = −1 if flip is the sign bit, 1 if
// it is 0: softplus, or log-sigmoid.
TEXT ·softplusAVX2(SB), NOSPLIT, $0-56
	VPBROADCASTQ flip+48(FP), Y14
	UNARY(SOFTPLUSFLIP)

#define SIGMOIDFLIP FLIP; SIGMOID4

// func sigmoidAVX2(dst, src []float64, flip uint64)
// dst[i] = σ(s·src[i]), s as for softplusAVX2.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-56
	VPBROADCASTQ flip+48(FP), Y14
	UNARY(SIGMOIDFLIP)

// func mulSigmoidAVX2(dst, gs, src []float64, flip uint64)
// dst[i] = gs[i]·σ(s·src[i]) for i < len(src), s as for softplusAVX2.
TEXT ·mulSigmoidAVX2(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ gs_base+24(FP), DX
	MOVQ src_base+48(FP), SI
	MOVQ src_len+56(FP), CX
	VPBROADCASTQ flip+72(FP), Y14
	CMPQ CX, $4
	JB   tail

loop:
	VMOVUPD (SI), Y0
	SIGMOIDFLIP
	VMULPD  (DX), Y0, Y0
	VMOVUPD Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JAE  loop

tail:
	TESTQ CX, CX
	JZ    done
	MOVQ $4, BX
	SUBQ CX, BX
	LEAQ transcmask<>(SB), AX
	VMOVUPD (AX)(BX*8), Y15
	VMASKMOVPD (SI), Y15, Y0
	SIGMOIDFLIP
	VMASKMOVPD (DX), Y15, Y1
	VMULPD  Y1, Y0, Y0
	VMASKMOVPD Y0, Y15, (DI)

done:
	VZEROUPPER
	RET

// BERNTERM computes Y0 = (c == 0 ? 0 : c·l) − log1p(e^(−|l|)), c = x − [l > 0],
// from Y0 = l and Y13 = x. Clobbers Y1–Y12.
#define BERNTERM \
	VMOVAPD  Y0, Y12; /* l */ \
	VANDPD   K_ABS, Y0, Y0; \
	VXORPD   K_SIGN, Y0, Y0; \
	EXP4; /* t */ \
	LOG1PT; /* L = log1p(t) */ \
	VXORPD   Y10, Y10, Y10; \
	VCMPPD   $0x1e, Y10, Y12, Y11; /* l > 0 */ \
	VANDPD   K_ONE, Y11, Y11; \
	VSUBPD   Y11, Y13, Y11; /* c */ \
	VCMPPD   $0x04, Y10, Y11, Y10; /* c ≠ 0 (NaN: true) */ \
	VMULPD   Y12, Y11, Y11; /* c·l */ \
	VANDPD   Y10, Y11, Y11; \
	VSUBPD   Y0, Y11, Y0

// func bernoulliRowAVX2(x, l []float64) float64
// Returns Σᵢ term(x[i], l[i]) over i < len(l), summed in four lanes
// (lane j takes i ≡ j mod 4) that are then added as (s0 + s1) + (s2 + s3).
TEXT ·bernoulliRowAVX2(SB), NOSPLIT, $0-56
	MOVQ x_base+0(FP), DX
	MOVQ l_base+24(FP), SI
	MOVQ l_len+32(FP), CX
	VXORPD Y14, Y14, Y14
	CMPQ CX, $4
	JB   tail

loop:
	VMOVUPD (SI), Y0
	VMOVUPD (DX), Y13
	BERNTERM
	VADDPD  Y0, Y14, Y14
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $4, CX
	CMPQ CX, $4
	JAE  loop

tail:
	TESTQ CX, CX
	JZ    sum
	MOVQ $4, BX
	SUBQ CX, BX
	LEAQ transcmask<>(SB), AX
	VMOVUPD (AX)(BX*8), Y15
	VMASKMOVPD (SI), Y15, Y0
	VMASKMOVPD (DX), Y15, Y13
	BERNTERM
	VANDPD  Y15, Y0, Y0
	VADDPD  Y0, Y14, Y14

sum:
	VEXTRACTF128 $1, Y14, X1
	VHADDPD X14, X14, X0 /* s0 + s1 */
	VHADDPD X1, X1, X1 /* s2 + s3 */
	VADDSD  X1, X0, X0
	MOVSD   X0, ret+48(FP)
	VZEROUPPER
	RET

// BERNGRAD computes Y0 = x − σ(l) as c + (l > 0 ? q : −q), q = t/(1+t),
// from Y0 = l and Y13 = x. Clobbers Y1–Y12.
#define BERNGRAD \
	VMOVAPD  Y0, Y12; /* l */ \
	VANDPD   K_ABS, Y0, Y0; \
	VXORPD   K_SIGN, Y0, Y0; \
	EXP4; /* t */ \
	VADDPD   K_ONE, Y0, Y1; \
	VDIVPD   Y1, Y0, Y0; /* q = σ(−|l|) */ \
	VXORPD   Y10, Y10, Y10; \
	VCMPPD   $0x1e, Y10, Y12, Y11; /* l > 0 */ \
	VANDNPD  K_SIGN, Y11, Y2; /* sign bit where not l > 0 */ \
	VXORPD   Y2, Y0, Y0; /* ±q */ \
	VANDPD   K_ONE, Y11, Y11; \
	VSUBPD   Y11, Y13, Y11; /* c */ \
	VADDPD   Y11, Y0, Y0

// func bernoulliGradRowAVX2(dl, x, l []float64, scale float64)
// dl[i] = scale·(x[i] − σ(l[i])) for i < len(l).
TEXT ·bernoulliGradRowAVX2(SB), NOSPLIT, $0-80
	MOVQ dl_base+0(FP), DI
	MOVQ x_base+24(FP), DX
	MOVQ l_base+48(FP), SI
	MOVQ l_len+56(FP), CX
	VBROADCASTSD scale+72(FP), Y14
	CMPQ CX, $4
	JB   tail

loop:
	VMOVUPD (SI), Y0
	VMOVUPD (DX), Y13
	BERNGRAD
	VMULPD  Y14, Y0, Y0
	VMOVUPD Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JAE  loop

tail:
	TESTQ CX, CX
	JZ    done
	MOVQ $4, BX
	SUBQ CX, BX
	LEAQ transcmask<>(SB), AX
	VMOVUPD (AX)(BX*8), Y15
	VMASKMOVPD (SI), Y15, Y0
	VMASKMOVPD (DX), Y15, Y13
	BERNGRAD
	VMULPD  Y14, Y0, Y0
	VMASKMOVPD Y0, Y15, (DI)

done:
	VZEROUPPER
	RET

// transcmask: four all-ones quadwords followed by four zeros; loading 4
// quadwords at index 4−m gives a mask selecting the first m lanes.
DATA transcmask<>+0(SB)/8, $0xffffffffffffffff
DATA transcmask<>+8(SB)/8, $0xffffffffffffffff
DATA transcmask<>+16(SB)/8, $0xffffffffffffffff
DATA transcmask<>+24(SB)/8, $0xffffffffffffffff
DATA transcmask<>+32(SB)/8, $0
DATA transcmask<>+40(SB)/8, $0
DATA transcmask<>+48(SB)/8, $0
DATA transcmask<>+56(SB)/8, $0
GLOBL transcmask<>(SB), RODATA|NOPTR, $64

// TCONST4 stores v at off, off+8, off+16 and off+24 of transcconst.
#define TCONST4(off, v) \
	DATA transcconst<>+(off)(SB)/8, v \
	DATA transcconst<>+(off+8)(SB)/8, v \
	DATA transcconst<>+(off+16)(SB)/8, v \
	DATA transcconst<>+(off+24)(SB)/8, v

// Constants, each replicated to 32 bytes so they can be used directly as
// 256-bit memory operands.
// K_ABS = abs mask
TCONST4(0, $0x7fffffffffffffff)
// K_SIGN = sign bit
TCONST4(32, $0x8000000000000000)
// K_ONE = 1
TCONST4(64, $0x3ff0000000000000)
// K_TWO = 2
TCONST4(96, $0x4000000000000000)
// K_HALF = 0.5
TCONST4(128, $0x3fe0000000000000)
// K_EXPLO = -746
TCONST4(160, $0xc087500000000000)
// K_EXPHI = 710
TCONST4(192, $0x4086300000000000)
// K_LOG2E = 1.4426950408889634
TCONST4(224, $0x3ff71547652b82fe)
// K_SHIFT = 1.5·2⁵²
TCONST4(256, $0x4338000000000000)
// K_SHIFTB = 1.5·2⁵² + 1023
TCONST4(288, $0x43380000000003ff)
// K_LN2HI = 0.69314718036912382
TCONST4(320, $0x3fe62e42fee00000)
// K_LN2LO = 1.9082149292705877e-10
TCONST4(352, $0x3dea39ef35793c76)
// K_G0 = 0.50000000000000011
TCONST4(384, $0x3fe0000000000001)
// K_G1 = 0.16666666666666669
TCONST4(416, $0x3fc5555555555556)
// K_G2 = 0.041666666666624136
TCONST4(448, $0x3fa5555555553d64)
// K_G3 = 0.0083333333333300633
TCONST4(480, $0x3f811111111109b4)
// K_G4 = 0.001388888891720967
TCONST4(512, $0x3f56c16c1788b646)
// K_G5 = 0.00019841269863050506
TCONST4(544, $0x3f2a01a01a7c3d59)
// K_G6 = 2.4801521302241082e-05
TCONST4(576, $0x3efa019b90eefe8e)
// K_G7 = 2.7557268464831627e-06
TCONST4(608, $0x3ec71de0daf7a6cc)
// K_G8 = 2.7620085455018414e-07
TCONST4(640, $0x3e92891834686c7e)
// K_G9 = 2.5100383195867021e-08
TCONST4(672, $0x3e5af38a71a18cb9)
// K_LG1 = 0.6666666666666735
TCONST4(704, $0x3fe5555555555593)
// K_LG2 = 0.3999999999940942
TCONST4(736, $0x3fd999999997fa04)
// K_LG3 = 0.2857142874366239
TCONST4(768, $0x3fd2492494229359)
// K_LG4 = 0.22222198432149784
TCONST4(800, $0x3fcc71c51d8e78af)
// K_LG5 = 0.1818357216161805
TCONST4(832, $0x3fc7466496cb03de)
// K_LG6 = 0.15313837699209373
TCONST4(864, $0x3fc39a09d078c69f)
// K_LG7 = 0.14798198605116586
TCONST4(896, $0x3fc2f112df3e5244)
// K_OFFB = OFF − 2⁶² (wrapping)
TCONST4(928, $0xffe6a09e667f3bcd)
// K_OFF = ≈ √2/2, the lower end of m
TCONST4(960, $0x3fe6a09e667f3bcd)
// K_LOW52 = mantissa mask
TCONST4(992, $0x000fffffffffffff)
// K_TWO52 = 2⁵²
TCONST4(1024, $0x4330000000000000)
// K_TWO52K = 2⁵² + 1024
TCONST4(1056, $0x4330000000000400)
// K_MINNORM = 2⁻¹⁰²²
TCONST4(1088, $0x0010000000000000)
// K_FIFTYTWO = 52
TCONST4(1120, $0x404a000000000000)
// K_INF = +Inf
TCONST4(1152, $0x7ff0000000000000)
// K_NEGINF = −Inf
TCONST4(1184, $0xfff0000000000000)
// K_NAN = NaN
TCONST4(1216, $0x7ff8000000000000)
// K_TINY = 5.551115123125783e-17
TCONST4(1248, $0x3c90000000000000)
// K_LPLO = -0.2928932188134525
TCONST4(1280, $0xbfd2bec333018867)
// K_LPHI = 0.41421356237309503
TCONST4(1312, $0x3fda827999fcef32)
GLOBL transcconst<>(SB), RODATA|NOPTR, $1344
