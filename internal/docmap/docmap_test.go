package docmap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// root is the module's root, two folders up from internal/docmap.
var root = filepath.Join("..", "..")

// index caches Index per package folder.
type index map[string]map[string]Decl

func (ix index) lookup(t *testing.T, pkg string) map[string]Decl {
	t.Helper()
	if d, ok := ix[pkg]; ok {
		return d
	}
	d, err := Index(filepath.Join(root, filepath.FromSlash(pkg)))
	if err != nil {
		t.Errorf("package %s: %v", pkg, err)
	}
	ix[pkg] = d
	return d
}

// TestEquationMap checks docs/equations.md: every row names at least one
// identifier and one test; every identifier exists in the named package,
// exported and outside test files (public API); every test is a Test,
// Example, Benchmark or Fuzz function of a _test.go file there; and every
// label of Required opens a row.
func TestEquationMap(t *testing.T) {
	f, err := os.Open(filepath.Join(root, "docs", "equations.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ParseTable(f)
	if err != nil {
		t.Fatal(err)
	}
	ix := index{}
	for _, r := range rows {
		if len(r.Code) == 0 || len(r.Tests) == 0 {
			t.Errorf("line %d (%s): needs an identifier and a test, has %d and %d", r.Line, r.Paper, len(r.Code), len(r.Tests))
		}
		for _, s := range r.Code {
			pkg, name, ok := Split(s)
			if !ok {
				t.Errorf("line %d (%s): %q is not package.Name or package.Type.Method", r.Line, r.Paper, s)
				continue
			}
			d, found := ix.lookup(t, pkg)[name]
			switch {
			case !found:
				t.Errorf("line %d (%s): %s does not exist", r.Line, r.Paper, s)
			case d.Test():
				t.Errorf("line %d (%s): %s is declared in the test file %s, not in the package's API", r.Line, r.Paper, s, d.File)
			case !exported(name):
				t.Errorf("line %d (%s): %s is not exported", r.Line, r.Paper, s)
			}
		}
		for _, s := range r.Tests {
			pkg, name, ok := Split(s)
			if !ok || strings.Contains(name, ".") {
				t.Errorf("line %d (%s): %q is not package.TestName", r.Line, r.Paper, s)
				continue
			}
			d, found := ix.lookup(t, pkg)[name]
			switch {
			case !found:
				t.Errorf("line %d (%s): test %s does not exist", r.Line, r.Paper, s)
			case !d.Test() || d.Kind != "func" || !isTestName(name):
				t.Errorf("line %d (%s): %s is not a test function of a _test.go file (%s %s in %s)", r.Line, r.Paper, s, d.Kind, name, d.File)
			}
		}
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[r.Paper] = true
	}
	for _, label := range Required {
		if !have[label] {
			t.Errorf("no row for %s", label)
		}
	}
}

func exported(name string) bool {
	for _, part := range strings.Split(name, ".") {
		if part == "" || !unicode.IsUpper([]rune(part)[0]) {
			return false
		}
	}
	return true
}

func isTestName(name string) bool {
	for _, p := range []string{"Test", "Example", "Benchmark", "Fuzz"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestIndexListsEverything checks that docs/README.md links every other
// document of docs/ and every notebook of notebooks/.
func TestIndexListsEverything(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	nbs, _ := filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
	if len(docs) < 2 || len(nbs) == 0 {
		t.Fatalf("found %d documents and %d notebooks: wrong folder?", len(docs), len(nbs))
	}
	for _, d := range docs {
		if name := filepath.Base(d); name != "README.md" && !strings.Contains(readme, "("+name+")") {
			t.Errorf("docs/README.md, the documentation index, does not link %s: add a row for it", name)
		}
	}
	for _, nb := range nbs {
		if name := "../notebooks/" + filepath.Base(nb); !strings.Contains(readme, "("+name+")") {
			t.Errorf("docs/README.md, the documentation index, does not link %s: add a row for it", name)
		}
	}
}

// The parser itself: escaped bars stay in their cell, the separator row is
// skipped, and a malformed row is an error.
func TestParseTable(t *testing.T) {
	const md = "intro\n\n| paper | what | implemented by | checked by |\n|---|---|---|---|\n" +
		"| Eq. 1 | `q(z \\| x)` | `avvi.ELBO`, `avvi.Q` | `avvi.TestIntegrands` |\n" +
		"| Alg. 3 | x | `eimfamily.HIS.Forward` | `eimfamily.TestHISJacobian` |\n\nafter\n| a | b |\n"
	rows, err := ParseTable(strings.NewReader(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Paper != "Eq. 1" || len(rows[0].Code) != 2 || rows[0].Code[1] != "avvi.Q" ||
		rows[1].Tests[0] != "eimfamily.TestHISJacobian" || rows[1].Line != 6 {
		t.Fatalf("ParseTable = %+v", rows)
	}
	if _, err := ParseTable(strings.NewReader("| paper | what | implemented by | checked by |\n|---|\n| a | b |\n")); err == nil {
		t.Error("a row of two cells: no error")
	}
	if _, err := ParseTable(strings.NewReader("no table\n")); err == nil {
		t.Error("no table: no error")
	}
	for s, want := range map[string][2]string{
		"iwae.IWAE.Integrand":        {"iwae", "IWAE.Integrand"},
		"proofs_test.TestIWAEFinite": {"proofs_test", "TestIWAEFinite"},
		"internal/docmap.ParseTable": {"internal/docmap", "ParseTable"},
	} {
		if p, n, ok := Split(s); !ok || p != want[0] || n != want[1] {
			t.Errorf("Split(%q) = %q, %q, %v", s, p, n, ok)
		}
	}
	for _, s := range []string{"IWAE", "iwae.", "iwae.A.B.C", "Iwae.X"} {
		if _, _, ok := Split(s); ok {
			t.Errorf("Split(%q) accepted", s)
		}
	}
}

// Index finds methods of generic and pointer receivers and tells test files
// apart (on this package's own source).
func TestIndex(t *testing.T) {
	d, err := Index(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ParseTable": "func", "Decl.Test": "method", "Row": "type", "Row.Paper": "field", "Required": "var", "TestIndex": "func"} {
		if d[name].Kind != want {
			t.Errorf("%s: kind %q, want %q", name, d[name].Kind, want)
		}
	}
	if !d["TestIndex"].Test() || d["ParseTable"].Test() {
		t.Error("test files not told apart")
	}
}

// TestNotebookReferences checks the names the notebooks cite: every
// backticked package.Name or package.Type.Method in a notebook's text or
// code whose package is a folder of this module must exist there (a test
// name in a _test.go file, anything else in the package's own files).
func TestNotebookReferences(t *testing.T) {
	nbs, _ := filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
	if len(nbs) == 0 {
		t.Fatal("no notebooks found: wrong folder?")
	}
	ix := index{}
	checked := 0
	for _, path := range nbs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var nb struct {
			Cells []struct {
				Source []string `json:"source"`
			} `json:"cells"`
		}
		if err := json.Unmarshal(b, &nb); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for n, c := range nb.Cells {
			for _, s := range spans(strings.Join(c.Source, "")) {
				pkg, name, ok := Split(s)
				if !ok {
					continue
				}
				if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(pkg))); err != nil || !fi.IsDir() {
					continue // not a package of this module (a variable, a file name, …)
				}
				checked++
				d, found := ix.lookup(t, pkg)[name]
				switch {
				case !found:
					t.Errorf("%s, cell %d: %s does not exist", filepath.Base(path), n+1, s)
				case isTestName(name) != d.Test():
					t.Errorf("%s, cell %d: %s is in %s", filepath.Base(path), n+1, s, d.File)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d references checked: is the parsing broken?", checked)
	}
}
