package estimators

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzResample feeds every resampling scheme log weights built from the
// fuzzer's bytes — ordinary values, −Inf, values near ±MaxFloat64 and
// near-duplicates that make cumulative sums round — and checks the
// documented guarantees: every index is in range and of positive weight
// (any index when all weights are zero), and the output is sorted.
//
//	go test -run xxx -fuzz=FuzzResample ./estimators
func FuzzResample(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(4), uint64(1))
	f.Add([]byte{0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0}, uint8(9), uint64(2))
	f.Add([]byte{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, uint8(10), uint64(3))
	f.Fuzz(func(t *testing.T, raw []byte, m uint8, seed uint64) {
		if len(raw) == 0 || len(raw) > 256 {
			return
		}
		logw := make([]float64, len(raw))
		for i, b := range raw {
			switch b % 8 {
			case 0:
				logw[i] = math.Inf(-1)
			case 1:
				logw[i] = -math.MaxFloat64 / 2
			case 2:
				logw[i] = math.MaxFloat64 / 2
			case 3:
				logw[i] = 0.1 // many equal weights: sums that round
			default:
				logw[i] = float64(binary.LittleEndian.Uint16([]byte{b, byte(i)})) / 1000
			}
		}
		allZero := true
		for _, v := range logw {
			if !math.IsInf(v, -1) {
				allZero = false
			}
		}
		dst := make([]int, int(m)%64+1)
		for _, meth := range rsMethods {
			rng := rand.New(rand.NewPCG(seed, 9))
			meth.fn(rng, logw, dst)
			for k, a := range dst {
				if a < 0 || a >= len(logw) {
					t.Fatalf("%s: index %d out of range [0, %d)", meth.name, a, len(logw))
				}
				if !allZero && math.IsInf(logw[a], -1) {
					t.Fatalf("%s: index %d has zero weight", meth.name, a)
				}
				if k > 0 && a < dst[k-1] {
					t.Fatalf("%s: output %v not sorted", meth.name, dst)
				}
			}
		}
	})
}
