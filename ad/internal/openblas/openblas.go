//go:build netlib

// Package openblas sets OpenBLAS's thread count for ad's netlib build. It
// is a package of its own because a Go package that uses cgo cannot also
// hold assembly, and ad has assembly kernels.
package openblas

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

// SetThreads sets how many threads OpenBLAS may use.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }
