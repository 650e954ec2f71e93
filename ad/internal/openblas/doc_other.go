//go:build !netlib

// Package openblas sets OpenBLAS's thread count for ad's netlib build
// (build tag netlib); without the tag it is empty.
package openblas
