// Package docmap keeps the documentation's map from the paper to the code
// honest. docs/equations.md has one table row per equation, algorithm,
// appendix and named bound of "Energy-Inspired Models: Learning with
// Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
// 2019), naming the identifiers that implement it and the tests that check
// it, in backticks:
//
//	| paper | what | implemented by | checked by |
//	|---|---|---|---|
//	| Eq. 1 | the ELBO | `avvi.ELBO` | `avvi.TestIntegrands` |
//
// An identifier is package.Name or package.Type.Method, the package being
// a folder of the module (proofs_test for the cross-package tests). The
// tests of this package parse the table (ParseTable), resolve every name
// against the source with go/parser (Index), and require a row for each
// item of the paper (Required), so a renamed function or test, or a
// missing equation, fails go test. They also check that docs/README.md
// links every document of docs/ and every notebook, and that every name
// of this module a notebook cites in backticks (`estimators.TestAISExact`,
// `eimfamily.SNIS`) exists.
package docmap
