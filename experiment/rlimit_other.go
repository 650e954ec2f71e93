//go:build !unix

package experiment

func addressSpaceLimit() (uint64, bool) { return 0, false }
