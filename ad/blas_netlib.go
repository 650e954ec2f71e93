//go:build netlib

package ad

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// With the netlib build tag, matrix products above the small-matrix
// threshold run through OpenBLAS (cgo; Debian's libopenblas-dev, and
// CGO_LDFLAGS=-lopenblas).
func init() {
	blas64.Use(netlib.Implementation{})
	fastBLAS = true
}
