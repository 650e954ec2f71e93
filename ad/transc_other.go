//go:build !amd64 || purego

package ad

// haveTranscAVX2 is always false without the amd64 kernels; it exists so
// tests build on every platform.
var haveTranscAVX2 = false

func expVec(dst, src []float64)                { expLoop(dst, src) }
func logVec(dst, src []float64)                { logLoop(dst, src) }
func log1pVec(dst, src []float64)              { log1pLoop(dst, src) }
func softplusVec(dst, src []float64, neg bool) { softplusLoop(dst, src, neg) }
func sigmoidVec(dst, src []float64, neg bool)  { sigmoidLoop(dst, src, neg) }
func mulSigmoidVec(dst, g, src []float64, neg bool) {
	mulSigmoidLoop(dst, g, src, neg)
}
func bernoulliRow(x, l []float64) float64 { return bernoulliRowLoop(x, l) }
func bernoulliGradRow(dl, x, l []float64, g float64) {
	bernoulliGradRowLoop(dl, x, l, g)
}
