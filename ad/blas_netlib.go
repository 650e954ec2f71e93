//go:build netlib

package ad

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/eimkit/eimkit/ad/internal/openblas"
)

// With the netlib build tag, matrix products above the small-matrix
// threshold run through OpenBLAS (cgo; Debian's libopenblas-dev, and
// CGO_LDFLAGS=-lopenblas). OpenBLAS runs single-threaded except for large
// products (see bigGemm): for the small products of training steps its own
// thread pool, spin-waiting beside ad's helper goroutine, made an SNIS step
// slower (measured: 0.66 ms single-threaded against 1.0–1.5 ms).
func init() {
	blas64.Use(netlib.Implementation{})
	openblas.SetThreads(1)
	setBLASThreads = openblas.SetThreads
	fastBLAS = true
}
