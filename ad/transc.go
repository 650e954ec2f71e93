package ad

import "math"

// The portable loops behind the transcendental kernels: the whole
// computation under -tags purego and on CPUs without AVX2 and FMA. They
// follow the kernels' algorithms (transc_amd64.s) in scalar Go rather
// than calling package math, whose amd64 assembly is wrong at the edges
// this package needs: math.Exp returns +Inf from x ≈ 709.5 (exp(709.6) is
// 1.6e308), and math.Log of a subnormal is off by up to 35 (log(5e-324)
// gives −709.09 instead of −744.44). Both paths meet the same ulp bounds
// (transc_test.go, docs/ad.md); they round differently (the kernels fuse
// more multiply–adds), so results differ in the last bits between them.

// Constants of the kernels: exp's reduction and polynomial (the tanh
// kernel's, fitted by Chebyshev interpolation), fdlibm's log polynomial.
const (
	expLo     = -746.0                     // exp(x) rounds to 0 below
	expHi     = 710.0                      // and overflows above
	ln2Hi     = 6.93147180369123816490e-01 // 21 trailing zero bits
	ln2Lo     = 1.90821492927058770002e-10
	logOff    = 0x3fe6a09e667f3bcd // ≈ √2/2: m in [logOff, 2·logOff)
	log1pLo   = math.Sqrt2/2 - 1   // log1p(x) = log1p(f) with f = x exact on [log1pLo, log1pHi)
	log1pHi   = math.Sqrt2 - 1
	log1pTiny = 0x1p-54 // log1p(x) rounds to x below
)

var expG = [10]float64{
	0x1.0000000000001p-1, 0x1.5555555555556p-3, 0x1.5555555553d64p-5, 0x1.11111111109b4p-7,
	0x1.6c16c1788b646p-10, 0x1.a01a01a7c3d59p-13, 0x1.a019b90eefe8ep-16, 0x1.71de0daf7a6ccp-19,
	0x1.2891834686c7ep-22, 0x1.af38a71a18cb9p-26,
}

var logLg = [7]float64{
	6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
	2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
	1.479819860511658591e-01,
}

// pow2 returns 2ⁿ for an integral n in [−1022, 1023].
func pow2(n float64) float64 { return math.Float64frombits(uint64(int64(n)+1023) << 52) }

// expGo is the exp kernel in scalar Go.
func expGo(x float64) float64 {
	if x != x {
		return x
	}
	c := min(max(x, expLo), expHi)
	n := math.RoundToEven(c * math.Log2E)
	r := (c - n*ln2Hi) - n*ln2Lo // the first difference is exact
	r2 := r * r
	g := &expG
	h := (g[2] + g[3]*r) + r2*(g[4]+g[5]*r) + r2*r2*((g[6]+g[7]*r)+r2*(g[8]+g[9]*r))
	q := g[0] + r*(g[1]+r*h)
	p := math.FMA(r, math.FMA(r, q, 1), 1)
	n1 := math.Floor(n / 2)
	return p * pow2(n1) * pow2(n-n1) // exact, then one rounding
}

// logF returns k·ln2 + log1p(f) + C for f in [√2/2 − 1, √2 − 1] (fdlibm's
// e_log.c form).
func logF(f, k, C float64) float64 {
	s := f / (2 + f)
	z := s * s
	w := z * z
	L := &logLg
	t1 := w * (L[1] + w*(L[3]+w*L[5]))
	t2 := z * (L[0] + w*(L[2]+w*(L[4]+w*L[6])))
	R := t2 + t1
	hfsq := 0.5 * f * f
	return k*ln2Hi - ((hfsq - (s*(hfsq+R) + (k*ln2Lo + C))) - f)
}

// logParts returns k and f = m − 1 for a positive normal u = 2ᵏ·m, m in
// [logOff, 2·logOff).
func logParts(u float64) (k, f float64) {
	ix := math.Float64bits(u)
	tmp := ix - logOff
	k = float64(int64(tmp) >> 52)
	m := math.Float64frombits(ix - tmp&(0xfff<<52))
	return k, m - 1
}

// logGo is the log kernel in scalar Go.
func logGo(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return x
	}
	adj := 0.0
	if x < 0x1p-1022 {
		x *= 0x1p52
		adj = 52
	}
	k, f := logParts(x)
	return logF(f, k-adj, 0)
}

// log1pGo is the log1p kernel in scalar Go.
func log1pGo(x float64) float64 {
	switch {
	case x != x || x < -1:
		return math.NaN()
	case x == -1:
		return math.Inf(-1)
	case math.IsInf(x, 1) || math.Abs(x) < log1pTiny:
		return x
	case x >= log1pLo && x < log1pHi:
		return logF(x, 0, 0)
	}
	u := 1 + x
	c := x - (u - 1) // (1 + x) − u, exact (transc_amd64.s)
	k, f := logParts(u)
	return logF(f, k, c/u)
}

// log1pT returns log1p(t) for t in [0, 1]: f = t near 0, otherwise
// 1 + t = 2·(1 + f) with f = (1+t)/2 − 1 exact and the rounding of 1 + t
// as the correction.
func log1pT(t float64) float64 {
	if !(t >= log1pHi) { // NaN too
		return logF(t, 0, 0)
	}
	u := 1 + t
	return logF(0.5*u-1, 1, (t-(u-1))/u)
}

func expLoop(dst, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = expGo(v)
	}
}

func logLoop(dst, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = logGo(v)
	}
}

func log1pLoop(dst, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = log1pGo(v)
	}
}

// softplus returns log(1 + eᵛ) = max(v, 0) + log1p(e^(−|v|)), which does
// not overflow.
func softplus(v float64) float64 {
	return math.Max(v, 0) + log1pT(expGo(-math.Abs(v)))
}

// sigmoid returns σ(v) = 1/(1 + e⁻ᵛ) through e^(−|v|), which does not
// overflow.
func sigmoid(v float64) float64 {
	t := expGo(-math.Abs(v))
	if v < 0 {
		return t / (1 + t)
	}
	return 1 / (1 + t)
}

// softplusLoop sets dst = softplus(src), or log σ(src) = −softplus(−src)
// if neg.
func softplusLoop(dst, src []float64, neg bool) {
	dst = dst[:len(src)]
	if neg {
		for i, v := range src {
			dst[i] = -softplus(-v)
		}
		return
	}
	for i, v := range src {
		dst[i] = softplus(v)
	}
}

// sigmoidLoop sets dst = σ(src), or σ(−src) if neg.
func sigmoidLoop(dst, src []float64, neg bool) {
	dst = dst[:len(src)]
	if neg {
		for i, v := range src {
			dst[i] = sigmoid(-v)
		}
		return
	}
	for i, v := range src {
		dst[i] = sigmoid(v)
	}
}

// mulSigmoidLoop sets dst = g ⊙ σ(±src).
func mulSigmoidLoop(dst, g, src []float64, neg bool) {
	dst, g = dst[:len(src)], g[:len(src)]
	s := 1.0
	if neg {
		s = -1
	}
	for i, v := range src {
		dst[i] = g[i] * sigmoid(s*v)
	}
}

// bernoulliTerm returns x·l − softplus(l), the log-likelihood of x under
// a Bernoulli with logit l, as c·l − log1p(e^(−|l|)) with c = x − [l > 0]:
// for finite l the same value (x·l − max(l, 0) = c·l), with no
// cancellation between x·l and softplus(l) at large |l|, and where c = 0
// (x = 1, l = +Inf or x = 0, l = −Inf) the term c·l is its limit 0.
func bernoulliTerm(x, l float64) float64 {
	c := x
	if l > 0 {
		c = x - 1
	}
	cl := 0.0
	if c != 0 {
		cl = c * l
	}
	return cl - log1pT(expGo(-math.Abs(l)))
}

// bernoulliDeriv returns x − σ(l), the l-derivative of bernoulliTerm, as
// c ± σ(−|l|): accurate where σ(l) is close to x.
func bernoulliDeriv(x, l float64) float64 {
	t := expGo(-math.Abs(l))
	q := t / (1 + t)
	if l > 0 {
		return (x - 1) + q
	}
	return x - q
}

// bernoulliRowLoop returns Σᵢ bernoulliTerm(x[i], l[i]) over i < len(l),
// in increasing i.
func bernoulliRowLoop(x, l []float64) float64 {
	x = x[:len(l)]
	s := 0.0
	for i, v := range l {
		s += bernoulliTerm(x[i], v)
	}
	return s
}

// bernoulliGradRowLoop sets dl[i] = g·(x[i] − σ(l[i])) for i < len(l).
func bernoulliGradRowLoop(dl, x, l []float64, g float64) {
	dl, x = dl[:len(l)], x[:len(l)]
	for i, v := range l {
		dl[i] = g * bernoulliDeriv(x[i], v)
	}
}
