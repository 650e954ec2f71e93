package statespace

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// KalmanLogLikelihood returns the exact log marginal likelihood
// log p(y_{0:T−1}) of the observations ys (T×dy, row t holding y_t), by
// the Kalman filter's prediction-error decomposition:
//
//	m₀⁻ = Mu0,  P₀⁻ = Sigma0;   m_t⁻ = A m_{t−1},  P_t⁻ = A P_{t−1} Aᵀ + Q   (t ≥ 1)
//	e_t = y_t − C m_t⁻,   S_t = C P_t⁻ Cᵀ + R = L_t L_tᵀ
//	log p(y_t | y_{0:t−1}) = −½ (|L_t⁻¹ e_t|² + log det S_t + dy log 2π)
//	K_t = P_t⁻ Cᵀ S_t⁻¹,   m_t = m_t⁻ + K_t e_t
//	P_t = (I − K_t C) P_t⁻ (I − K_t C)ᵀ + K_t R K_tᵀ                       (Joseph form)
//
// No matrix is inverted: S_t is factorized by Cholesky and K_t comes from
// solves with the factor. The Joseph form keeps P_t symmetric positive
// semi-definite in floating point, where P_t⁻ − K_t S_t K_tᵀ may not be.
//
// The result is NaN if some S_t is not numerically positive definite,
// which positive definite R rules out except for badly scaled parameters.
// It panics if ys has no rows or does not have dy columns.
func (m *LinearGaussian) KalmanLogLikelihood(ys *mat.Dense) float64 {
	T, c := ys.Dims()
	if T < 1 || c != m.dy {
		panic(fmt.Sprintf("statespace: KalmanLogLikelihood: ys is %d×%d, want T×%d with T ≥ 1", T, c, m.dy))
	}
	dx, dy := m.dx, m.dy
	A, C, Q, R := m.p.A, m.p.C, m.p.Q, m.p.R
	mean := mat.VecDenseCopyOf(m.p.Mu0)
	P := mat.NewSymDense(dx, nil)
	P.CopySym(m.p.Sigma0)

	var (
		apa, cpc, cp, kt, k, ikc, joseph, kr, krk mat.Dense
		S                                         = mat.NewSymDense(dy, nil)
		chol                                      mat.Cholesky
		L                                         mat.TriDense
		e, z, cm, ke, am                          mat.VecDense
		eye                                       = identity(dx)
	)
	ll := 0.0
	for t := range T {
		if t > 0 {
			am.MulVec(A, mean)
			mean.CopyVec(&am)
			apa.Mul(A, P)
			apa.Mul(&apa, A.T())
			apa.Add(&apa, Q)
			symmetrize(P, &apa)
		}
		// Innovation e = y_t − C m⁻ and its covariance S = C P⁻ Cᵀ + R.
		cm.MulVec(C, mean)
		e.SubVec(ys.RowView(t), &cm)
		cp.Mul(C, P) // dy×dx
		cpc.Mul(&cp, C.T())
		cpc.Add(&cpc, R)
		symmetrize(S, &cpc)
		if !chol.Factorize(S) {
			return math.NaN()
		}
		chol.LTo(&L)
		if err := z.SolveVec(&L, &e); err != nil && !isCondition(err) {
			return math.NaN()
		}
		ll -= 0.5 * (mat.Dot(&z, &z) + chol.LogDet() + float64(dy)*math.Log(2*math.Pi))

		// Update: Kᵀ = S⁻¹ C P⁻ (dy×dx).
		if err := chol.SolveTo(&kt, &cp); err != nil && !isCondition(err) {
			return math.NaN()
		}
		k.CloneFrom(kt.T())
		ke.MulVec(&k, &e)
		mean.AddVec(mean, &ke)
		ikc.Mul(&k, C)
		ikc.Sub(eye, &ikc)
		joseph.Mul(&ikc, P)
		joseph.Mul(&joseph, ikc.T())
		kr.Mul(&k, R)
		krk.Mul(&kr, &kt) // K R Kᵀ, with Kᵀ = kt
		joseph.Add(&joseph, &krk)
		symmetrize(P, &joseph)
	}
	return ll
}

// symmetrize sets dst to (a + aᵀ)/2.
func symmetrize(dst *mat.SymDense, a *mat.Dense) {
	n := dst.SymmetricDim()
	for i := range n {
		for j := i; j < n; j++ {
			dst.SetSym(i, j, 0.5*(a.At(i, j)+a.At(j, i)))
		}
	}
}

func identity(n int) *mat.Dense {
	d := mat.NewDense(n, n, nil)
	for i := range n {
		d.Set(i, i, 1)
	}
	return d
}

// isCondition reports whether err is gonum's warning that a solve was
// ill-conditioned; the solution is still computed.
func isCondition(err error) bool {
	_, ok := err.(mat.Condition)
	return ok
}
