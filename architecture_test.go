// Package architecture_test holds the repository-wide rules that keep the design honest: pure
// overlay cores import nothing that does I/O or owns time, imports flow one way, and every
// package says what it is.
package architecture_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type pkgInfo struct {
	ImportPath string
	Dir        string
	Name       string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkgInfo
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if len(p.GoFiles) > 0 { // the root holds only these tests
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

const module = "meshcomm"

// pureCores are the deterministic state machines: no I/O, no clocks, no goroutines, no global
// randomness. The simulator depends on it.
var pureCores = map[string]bool{
	module + "/flood":             true,
	module + "/mesh":              true,
	module + "/mesh/store":        true,
	module + "/mesh/unstructured": true,
	module + "/mesh/structured":   true,
	module + "/mesh/hybrid":       true,
}

// forbiddenInCore are standard packages that do I/O, own time or scheduling, or give global
// randomness. A third-party import is forbidden too.
func forbiddenInCore(imp string) bool {
	for _, p := range []string{"net", "os", "crypto/rand", "syscall", "runtime", "unsafe", "io/ioutil",
		"log", "log/slog", "sync", "sync/atomic", "math/rand", "os/exec", "os/signal", "plugin"} {
		if imp == p || strings.HasPrefix(imp, p+"/") && p != "math/rand" {
			return true
		}
	}
	if imp == "math/rand" {
		return true // math/rand/v2 is allowed only through a seeded *rand.Rand, checked below
	}
	first := strings.SplitN(imp, "/", 2)[0]
	return strings.Contains(first, ".") // third party
}

// forbiddenCalls are package-level functions of time and math/rand/v2 that read the clock or the
// global random source.
var forbiddenCalls = map[string]map[string]bool{
	"time": {"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
		"Tick": true, "NewTicker": true, "NewTimer": true},
	"math/rand/v2": {"Int": true, "IntN": true, "Int64": true, "Int64N": true, "Uint64": true, "Uint32": true,
		"Float64": true, "Float32": true, "Perm": true, "Shuffle": true, "N": true, "Int32": true, "Int32N": true,
		"UintN": true, "Uint64N": true, "Uint32N": true, "NormFloat64": true, "ExpFloat64": true},
}

func TestPureCoresDoNoIO(t *testing.T) {
	pkgs := listPackages(t)
	seen := 0
	for _, p := range pkgs {
		if !pureCores[p.ImportPath] {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				if !pureCores[imp] {
					t.Errorf("pure core %s imports %s, which is not a pure core", p.ImportPath, imp)
				}
				continue
			}
			if forbiddenInCore(imp) {
				t.Errorf("pure core %s imports %s", p.ImportPath, imp)
			}
		}
		checkCoreSource(t, p)
	}
	if seen == 0 {
		t.Fatal("no pure core package found: the list above is stale")
	}
}

func checkCoreSource(t *testing.T, p pkgInfo) {
	fset := token.NewFileSet()
	for _, f := range p.GoFiles {
		file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		local := map[string]string{} // local name -> import path
		for _, is := range file.Imports {
			path := strings.Trim(is.Path.Value, `"`)
			name := filepath.Base(path)
			if path == "math/rand/v2" {
				name = "rand"
			}
			if is.Name != nil {
				name = is.Name.Name
			}
			local[name] = path
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: pure core starts a goroutine", fset.Position(x.Pos()))
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok {
					if calls := forbiddenCalls[local[id.Name]]; calls[x.Sel.Name] {
						t.Errorf("%s: pure core calls %s.%s", fset.Position(x.Pos()), local[id.Name], x.Sel.Name)
					}
				}
			}
			return true
		})
	}
}

// layers gives each project package a rank; a package may import only packages of lower rank
// (or its own rank's leaf packages listed as such), so imports flow one way:
// cmd -> tui -> node -> {sip, mailbox, media, mesh/..., transport, discovery, identity} -> mesh.
func rank(path string) int {
	rel := strings.TrimPrefix(path, module+"/")
	switch {
	case rel == "flood":
		return 0
	case rel == "mesh":
		return 1
	case rel == "mesh/store":
		return 2
	case rel == "mesh/unstructured" || rel == "mesh/structured":
		return 3
	case rel == "mesh/hybrid":
		return 4
	case strings.HasPrefix(rel, "identity"), strings.HasPrefix(rel, "transport"),
		strings.HasPrefix(rel, "discovery"), strings.HasPrefix(rel, "media"):
		return 5
	case strings.HasPrefix(rel, "sip"), strings.HasPrefix(rel, "mailbox"):
		return 6
	case strings.HasPrefix(rel, "sim"), strings.HasPrefix(rel, "node"):
		return 7
	case strings.HasPrefix(rel, "tui"):
		return 8
	case strings.HasPrefix(rel, "fieldtests/radiolink"):
		return 9
	case rel == "fieldtests/lab":
		return 10 // real daemons over the radio
	case strings.HasPrefix(rel, "fieldtests"):
		return 11 // field tests and benchmarks built on the lab
	case strings.HasPrefix(rel, "cmd"):
		return 12
	}
	return -1
}

func TestImportsFlowOneWay(t *testing.T) {
	for _, p := range listPackages(t) {
		r := rank(p.ImportPath)
		if r < 0 {
			t.Errorf("package %s has no place in the layering (add it to rank())", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if ri := rank(imp); ri >= r && !(ri == r && sameFamily(p.ImportPath, imp)) {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must flow downward", p.ImportPath, r, imp, ri)
			}
		}
	}
}

// sameFamily allows a package to import its own sub-packages (transport -> transport/memnet).
func sameFamily(a, b string) bool { return strings.HasPrefix(b, a+"/") }

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		fset := token.NewFileSet()
		documented := false
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil && strings.HasPrefix(file.Doc.Text(), "Package "+file.Name.Name) ||
				file.Doc != nil && p.Name == "main" && strings.HasPrefix(file.Doc.Text(), "Command ") {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package %s has no package doc comment (\"Package %s ...\")", p.ImportPath, p.Name)
		}
	}
}

func TestNoGrabBagPackages(t *testing.T) {
	for _, p := range listPackages(t) {
		switch filepath.Base(p.ImportPath) {
		case "util", "utils", "common", "misc", "helpers", "shared":
			t.Errorf("package %s is a grab-bag name: name it after what it does", p.ImportPath)
		}
	}
}
