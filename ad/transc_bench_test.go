package ad

import (
	"math"
	"testing"
)

// Kernels against package math, ns per entry, on 23,040 entries (a
// [1152, 20] layer, in cache): go test ./ad -run xxx -bench Transc.
// Each benchmark has a "kernel" case (the vector kernel, or the portable
// loop where the kernels do not run) and a "math" case (the same function
// through package math, as ad computed it before).

const trBenchN = 1152 * 20

func trBenchRun(b *testing.B, src []float64, f func(dst, src []float64)) {
	dst := make([]float64, len(src))
	for b.Loop() {
		f(dst, src)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(src)), "ns/entry")
}

func trBenchData(lo, hi float64) []float64 {
	return trUniform(trRand(30), trBenchN, lo, hi)
}

func trBench(b *testing.B, lo, hi float64, kernel func(dst, src []float64), ref func(float64) float64) {
	src := trBenchData(lo, hi)
	b.Run("kernel", func(b *testing.B) { trBenchRun(b, src, kernel) })
	b.Run("math", func(b *testing.B) {
		trBenchRun(b, src, func(dst, src []float64) {
			for i, v := range src {
				dst[i] = ref(v)
			}
		})
	})
}

func BenchmarkTranscExp(b *testing.B) { trBench(b, -20, 20, expVec, math.Exp) }

func BenchmarkTranscLog(b *testing.B) { trBench(b, 1e-3, 1e3, logVec, math.Log) }

func BenchmarkTranscLog1p(b *testing.B) { trBench(b, -0.9, 10, log1pVec, math.Log1p) }

func BenchmarkTranscSoftplus(b *testing.B) {
	trBench(b, -20, 20, func(d, s []float64) { softplusVec(d, s, false) },
		func(v float64) float64 { return math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))) })
}

func BenchmarkTranscLogSigmoid(b *testing.B) {
	trBench(b, -20, 20, func(d, s []float64) { softplusVec(d, s, true) },
		func(v float64) float64 { return math.Min(v, 0) - math.Log1p(math.Exp(-math.Abs(v))) })
}

func BenchmarkTranscSigmoid(b *testing.B) {
	trBench(b, -20, 20, func(d, s []float64) { sigmoidVec(d, s, false) },
		func(v float64) float64 {
			t := math.Exp(-math.Abs(v))
			if v < 0 {
				return t / (1 + t)
			}
			return 1 / (1 + t)
		})
}

// BenchmarkTranscBernoulliRow is one row of the Bernoulli log-likelihood
// per 784 entries (an MNIST image), against the same sum through math.
func BenchmarkTranscBernoulliRow(b *testing.B) {
	const d = 784
	l := trBenchData(-8, 8)
	x := make([]float64, len(l))
	r := trRand(31)
	for i := range x {
		if r.Float64() < 0.13 {
			x[i] = 1
		}
	}
	run := func(b *testing.B, row func(x, l []float64) float64) {
		var s float64
		for b.Loop() {
			for i := 0; i+d <= len(l); i += d {
				s += row(x[i:i+d], l[i:i+d])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(l)/d*d), "ns/entry")
		_ = s
	}
	b.Run("kernel", func(b *testing.B) { run(b, bernoulliRow) })
	b.Run("math", func(b *testing.B) {
		run(b, func(x, l []float64) float64 {
			s := 0.0
			for i, v := range l {
				s += x[i]*v - (math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))))
			}
			return s
		})
	})
	b.Run("grad-kernel", func(b *testing.B) {
		dl := make([]float64, d)
		run(b, func(x, l []float64) float64 { bernoulliGradRow(dl, x, l, 1); return dl[0] })
	})
}
