//go:build netlib

package ad

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/eimkit/eimkit/ad/internal/openblas"
)

// With the netlib build tag, matrix products above the small-matrix
// threshold run through OpenBLAS (cgo; Debian's libopenblas-dev, and
// CGO_LDFLAGS=-lopenblas). OpenBLAS always runs single-threaded and ad
// splits large products between the caller and its helper goroutine
// (gemmBLAS), so no OpenBLAS worker thread ever spins beside that helper:
// with OpenBLAS's own two threads, 42% of the CPU went to sched_yield
// and two threads were no faster than one.
func init() {
	blas64.Use(netlib.Implementation{})
	openblas.SetThreads(1)
	splitBLAS = true
	fastBLAS = true
}
