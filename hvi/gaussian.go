package hvi

import "github.com/eimkit/eimkit/refmodel"

// LinearGaussian is the reference model of the tests and of `eimkit hvi`,
// z ~ N(0, I_dz), x | z ~ N(W z, σ² I_dx), with closed-form evidence,
// posterior and mean-field gap. It is refmodel.LinearGaussian (the one
// home of the reference models), kept under this name for existing code.
type LinearGaussian = refmodel.LinearGaussian
