package ad

import (
	"math"
	"math/big"
	"sync"
)

// High-precision references for the transcendental kernels, at trPrec
// bits, built only from big.Float's exact arithmetic (+, −, ·, ÷):
//
//	ln 2     = Σ_{k≥1} 1/(k·2ᵏ)
//	eʳ       = Σ rᵏ/k!                        for |r| ≤ ½
//	eˣ       = 2ⁿ·eʳ,  n = round(x/ln 2), r = x − n·ln 2
//	log y    = e·ln 2 + 2·atanh(s), s = (m−1)/(m+1), y = 2ᵉ·m, m in [√½, √2)
//	log1p x  = 2·atanh(x/(2+x))                for |x| ≤ ¼ (no cancellation)
//	atanh s  = Σ s^(2k+1)/(2k+1)
//
// Every series is summed until its terms fall below 2^−(trPrec+20) of the
// sum, so the references are far more accurate than the 2⁻⁵³ they judge.

const trPrec = 256

func trF(v float64) *big.Float { return new(big.Float).SetPrec(trPrec).SetFloat64(v) }
func trNew() *big.Float        { return new(big.Float).SetPrec(trPrec) }

var trLn2 = sync.OnceValue(func() *big.Float {
	sum, term := trNew(), trF(1)
	for k := int64(1); ; k++ {
		term.SetMantExp(term, -1) // 2^−k
		q := trNew().Quo(term, trF(float64(k)))
		if q.Sign() == 0 || q.MantExp(nil) < sum.MantExp(nil)-trPrec-20 {
			return sum
		}
		sum.Add(sum, q)
	}
})

// trSmall reports whether term is negligible against sum.
func trSmall(term, sum *big.Float) bool {
	return term.Sign() == 0 || (sum.Sign() != 0 && term.MantExp(nil) < sum.MantExp(nil)-trPrec-20)
}

// trExpSmall returns eʳ for |r| ≤ ½.
func trExpSmall(r *big.Float) *big.Float {
	sum, term := trF(1), trF(1)
	for k := int64(1); ; k++ {
		term.Mul(term, r)
		term.Quo(term, trF(float64(k)))
		if trSmall(term, sum) {
			return sum
		}
		sum.Add(sum, term)
	}
}

// trExp returns eˣ for finite x with |x| ≤ 10⁴.
func trExp(x float64) *big.Float {
	n := math.Round(x * math.Log2E)
	r := trNew().Sub(trF(x), trNew().Mul(trF(n), trLn2()))
	e := trExpSmall(r)
	return e.SetMantExp(e, int(n))
}

// trAtanh2 returns 2·atanh(s) for |s| ≤ 0.2.
func trAtanh2(s *big.Float) *big.Float {
	sum := trNew().Set(s)
	z := trNew().Mul(s, s)
	pow := trNew().Set(s)
	for k := int64(1); ; k++ {
		pow.Mul(pow, z)
		q := trNew().Quo(pow, trF(float64(2*k+1)))
		if trSmall(q, sum) {
			break
		}
		sum.Add(sum, q)
	}
	return sum.SetMantExp(sum, 1)
}

// trLog returns log y for y > 0.
func trLog(y *big.Float) *big.Float {
	m := trNew()
	e := y.MantExp(m) // y = m·2ᵉ, m in [½, 1)
	if m.Cmp(trF(math.Sqrt2/2)) < 0 {
		m.SetMantExp(m, 1)
		e--
	}
	s := trNew().Quo(trNew().Sub(m, trF(1)), trNew().Add(m, trF(1)))
	r := trAtanh2(s)
	return r.Add(r, trNew().Mul(trF(float64(e)), trLn2()))
}

// trLog1pBig returns log(1 + x) for x > −1.
func trLog1pBig(x *big.Float) *big.Float {
	if trNew().Abs(x).Cmp(trF(0.25)) <= 0 {
		return trAtanh2(trNew().Quo(x, trNew().Add(x, trF(2))))
	}
	return trLog(trNew().Add(x, trF(1)))
}

func trLog1p(x float64) *big.Float { return trLog1pBig(trF(x)) }

// trCap is where the references stop following x: e^−10⁴ is far below
// the smallest subnormal and 10⁴ + e^−10⁴ is 10⁴ to any float64, so every
// larger |x| has the same correctly rounded answer as the capped one
// (softplus(x) = x exactly is handled by the callers).
const trCap = 1e4

// trSoftplus returns log(1 + eˣ) = max(x, 0) + log1p(e^−|x|) for finite x.
func trSoftplus(x float64) *big.Float {
	t := trExp(-min(math.Abs(x), trCap))
	r := trLog1pBig(t)
	if x > 0 {
		r.Add(r, trF(x))
	}
	return r
}

// trSigmoid returns σ(x) = 1/(1 + e⁻ˣ) for finite x.
func trSigmoid(x float64) *big.Float {
	t := trExp(-min(math.Abs(x), trCap))
	den := trNew().Add(t, trF(1))
	if x < 0 {
		return trNew().Quo(t, den)
	}
	return trNew().Quo(trF(1), den)
}

// trBernoulli returns x·l − softplus(l) for finite l, as
// (x − [l > 0])·l − log1p(e^−|l|): the identity x·l − max(l, 0) = c·l is
// exact, and summing x·l and softplus(l) at trPrec bits would lose the
// result when it is e^−|l| next to |l| (x = 1, l = 595 gives −e⁻⁵⁹⁵).
func trBernoulli(x, l float64) *big.Float {
	c := trF(x)
	if l > 0 {
		c.Sub(c, trF(1))
	}
	r := c.Mul(c, trF(l))
	return r.Sub(r, trLog1pBig(trExp(-min(math.Abs(l), trCap))))
}

// trBernGrad returns x − σ(l) for finite l, as (x − [l > 0]) ± σ(−|l|),
// for the same reason.
func trBernGrad(x, l float64) *big.Float {
	q := trSigmoid(-math.Abs(l))
	c := trF(x)
	if l > 0 {
		return c.Sub(c, trF(1)).Add(c, q)
	}
	return c.Sub(c, q)
}

// trULP returns |got − T| in units of the float64 spacing at T (on the
// side of the nearest float64 where T lies; 2⁻¹⁰⁷⁴ among subnormals).
// An infinite or NaN got gives +Inf.
func trULP(got float64, T *big.Float) float64 {
	if math.IsInf(got, 0) || math.IsNaN(got) {
		return math.Inf(1)
	}
	t, _ := T.Float64()
	a := math.Abs(t)
	var ulp float64
	if new(big.Float).Abs(T).Cmp(new(big.Float).SetFloat64(a)) < 0 {
		ulp = a - math.Nextafter(a, 0)
	} else {
		ulp = math.Nextafter(a, math.Inf(1)) - a
	}
	if ulp == 0 || math.IsInf(ulp, 0) { // a = MaxFloat64 rounding up, or a = 0 rounding down
		ulp = math.Nextafter(a, 0) - math.Nextafter(math.Nextafter(a, 0), 0)
		if a == 0 {
			ulp = math.SmallestNonzeroFloat64
		}
	}
	d := trNew().Sub(trF(got), T)
	e, _ := d.Abs(d).Float64()
	return e / ulp
}
