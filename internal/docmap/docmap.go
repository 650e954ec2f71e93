package docmap

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Required lists the labels that must open a row of the table: every
// numbered equation and algorithm of the paper, its appendices A–C on the
// bounds, and the named bounds of Sec. 5.
var Required = []string{
	"Eq. 1", "Eq. 2", "Eq. 3", "Eq. 4", "Eq. 5", "Eq. 6", "Eq. 7", "Eq. 8",
	"Eq. 9", "Eq. 10", // in App. A
	"Alg. 1", "Alg. 2", "Alg. 3",
	"App. A", "App. B", "App. C",
	"Sec. 5.1 IWAE", "Sec. 5.1 learned r",
	"Sec. 5.2 SIVI", "Sec. 5.2 IWHVI", "Sec. 5.2 DSIVI",
	"Sec. 5.3 HVI", "Sec. 5.3 VSMC",
}

// Row is one row of the map.
type Row struct {
	Line  int      // line number in the file, from 1
	Paper string   // the first column: "Eq. 4", "Sec. 5.2 SIVI", …
	Code  []string // the backticked identifiers of the "implemented by" column
	Tests []string // the backticked tests of the "checked by" column
}

var backticked = regexp.MustCompile("`([^`]*)`")

// ParseTable reads the first Markdown table whose header is
// | paper | what | implemented by | checked by | and returns its rows.
// Cells are split at '|' not preceded by a backslash (so `q(z \| x)` stays
// in one cell). It returns an error if there is no such table or a row
// does not have four cells.
func ParseTable(r io.Reader) ([]Row, error) {
	sc := bufio.NewScanner(r)
	var rows []Row
	inTable := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := splitRow(line)
		if !inTable {
			if len(cells) == 4 && strings.EqualFold(cells[0], "paper") && strings.EqualFold(cells[2], "implemented by") && strings.EqualFold(cells[3], "checked by") {
				inTable = true
			}
			continue
		}
		if strings.Trim(line, "|-: ") == "" {
			continue // the separator row
		}
		if len(cells) != 4 {
			return nil, fmt.Errorf("line %d: %d cells, want 4: %s", n, len(cells), line)
		}
		rows = append(rows, Row{Line: n, Paper: cells[0], Code: spans(cells[2]), Tests: spans(cells[3])})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !inTable {
		return nil, fmt.Errorf("no table with the header | paper | what | implemented by | checked by |")
	}
	return rows, nil
}

// splitRow splits "| a | b \| c |" into ["a", "b \| c"].
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	start := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			cells = append(cells, strings.TrimSpace(line[start:i]))
			start = i + 1
		}
	}
	return append(cells, strings.TrimSpace(line[start:]))
}

func spans(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// Decl is a declaration found in a package's source.
type Decl struct {
	Kind string // "func", "method", "field", "type", "var" or "const"
	File string // the file's name, e.g. "iwae_test.go"
}

// Test reports whether the declaration is in a _test.go file.
func (d Decl) Test() bool { return strings.HasSuffix(d.File, "_test.go") }

// Index parses every .go file of the folder dir (test files and files of
// every build tag included) and returns its top-level declarations by name:
// "F" for a function, type, variable or constant, "T.M" for a method M of
// type T (or of interface T), "T.F" for a field F of struct type T.
func Index(dir string) (map[string]Decl, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no Go files", dir)
	}
	fset := token.NewFileSet()
	decls := map[string]Decl{}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(path)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					decls[d.Name.Name] = Decl{"func", name}
					continue
				}
				decls[recvName(d.Recv.List[0].Type)+"."+d.Name.Name] = Decl{"method", name}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						decls[s.Name.Name] = Decl{"type", name}
						members(decls, s, name)
					case *ast.ValueSpec:
						kind := "var"
						if d.Tok == token.CONST {
							kind = "const"
						}
						for _, id := range s.Names {
							decls[id.Name] = Decl{kind, name}
						}
					}
				}
			}
		}
	}
	return decls, nil
}

// members records the methods of an interface type T and the named
// fields of a struct type T as "T.M", kinds "method" and "field".
func members(decls map[string]Decl, s *ast.TypeSpec, file string) {
	var list *ast.FieldList
	kind := "field"
	switch t := s.Type.(type) {
	case *ast.InterfaceType:
		list, kind = t.Methods, "method"
	case *ast.StructType:
		list = t.Fields
	default:
		return
	}
	for _, f := range list.List {
		for _, id := range f.Names {
			decls[s.Name.Name+"."+id.Name] = Decl{kind, file}
		}
	}
}

// recvName returns T for receivers T, *T, T[X] and *T[X, Y].
func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return fmt.Sprintf("%T", e)
		}
	}
}

var identForm = regexp.MustCompile(`^([a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*)\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)$`)

// Split splits "iwae.IWAE.Integrand" into the folder "iwae" and the name
// "IWAE.Integrand"; ok is false if s is not of the form package.Name or
// package.Type.Method.
func Split(s string) (pkg, name string, ok bool) {
	m := identForm.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}
