package dist

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// maxGlibc is the newest glibc a release may need: Amazon Linux 2023 (the
// base of aws-for-fluent-bit 3.x) has 2.34; Debian 12, the official Fluent
// Bit image's base, 2.36.
const maxGlibc = "2.34"

// machines are the ELF machines of the release's architectures.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func openELF(t *testing.T, ar archive) *elf.File {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(ar.files["out_kubeship.so"]))
	if err != nil {
		t.Fatalf("%s/out_kubeship.so: %v", ar.name, err)
	}
	return f
}

// glibcVersion parses "2.34" (from GLIBC_2.34) into comparable numbers.
func glibcVersion(s string) []int {
	var v []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

// Each object is a shared object for its architecture that needs only
// libc.so.6, and no glibc newer than 2.34: the highest GLIBC_ version of
// the symbols it imports, read from its dynamic symbol table, is at most
// maxGlibc, so it loads in aws-for-fluent-bit 3.x as in the official image.
func TestGlibcAtMost234(t *testing.T) {
	a := load(t)
	limit := glibcVersion(maxGlibc)
	for _, ar := range a.archives {
		t.Run(ar.arch, func(t *testing.T) {
			f := openELF(t, ar)
			if f.Machine != machines[ar.arch] || f.Type != elf.ET_DYN || f.Class != elf.ELFCLASS64 {
				t.Fatalf("out_kubeship.so is %v %v %v, want a 64-bit shared object for %v", f.Class, f.Type, f.Machine, machines[ar.arch])
			}
			libs, err := f.ImportedLibraries()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(libs, []string{"libc.so.6"}) {
				t.Errorf("out_kubeship.so needs %v, want only libc.so.6 (since glibc 2.34 it holds libpthread and libdl)", libs)
			}
			syms, err := f.ImportedSymbols()
			if err != nil {
				t.Fatal(err)
			}
			highest, by := []int{0}, ""
			for _, s := range syms {
				if s.Version == "" {
					continue
				}
				n, ok := strings.CutPrefix(s.Version, "GLIBC_")
				v := glibcVersion(n)
				if !ok || v == nil {
					t.Errorf("%s needs symbol version %s, which is no glibc release", s.Name, s.Version)
					continue
				}
				if slices.Compare(v, highest) > 0 {
					highest, by = v, s.Name+"@"+s.Version
				}
				if slices.Compare(v, limit) > 0 {
					t.Errorf("%s needs %s, newer than glibc %s (Amazon Linux 2023): build against an older glibc or avoid the symbol", s.Name, s.Version, maxGlibc)
				}
			}
			if by == "" {
				t.Fatal("no versioned glibc symbol found: has the object's shape changed?")
			}
			t.Logf("linux/%s: highest glibc symbol version %s (%s)", ar.arch, strings.TrimPrefix(by[strings.Index(by, "@")+1:], "GLIBC_"), by)
		})
	}
}

var export = regexp.MustCompile(`(?m)^//export (\w+)$`)

// Each object exports exactly the functions plugin/ marks //export, which
// are Fluent Bit's Go proxy entry points, and plugin/exports.map names the
// same: Go's cgo runtime and fluent-bit-go's C helpers stay inside.
func TestExportsOnlyTheProxyFunctions(t *testing.T) {
	a := load(t)
	var want []string
	files, _ := filepath.Glob(filepath.Join(a.root, "plugin", "*.go"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range export.FindAllStringSubmatch(string(b), -1) {
			want = append(want, m[1])
		}
	}
	slices.Sort(want)
	for _, fn := range []string{"FLBPluginRegister", "FLBPluginInit", "FLBPluginFlushCtx", "FLBPluginExitCtx"} {
		if !slices.Contains(want, fn) {
			t.Errorf("plugin/ does not export %s, which Fluent Bit's Go proxy needs", fn)
		}
	}
	for _, fn := range want {
		if !strings.HasPrefix(fn, "FLBPlugin") {
			t.Errorf("plugin/ exports %s, which is not a Fluent Bit proxy function", fn)
		}
	}

	m, err := os.ReadFile(filepath.Join(a.root, "plugin", "exports.map"))
	if err != nil {
		t.Fatal(err)
	}
	global := string(m)
	global = global[strings.Index(global, "global:")+len("global:") : strings.Index(global, "local:")]
	mapped := strings.Fields(strings.ReplaceAll(global, ";", " "))
	slices.Sort(mapped)
	if !slices.Equal(mapped, want) {
		t.Errorf("plugin/exports.map exports %v; plugin/ marks %v //export", mapped, want)
	}

	for _, ar := range a.archives {
		t.Run(ar.arch, func(t *testing.T) {
			syms, err := openELF(t, ar).DynamicSymbols()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range syms {
				bind := elf.ST_BIND(s.Info)
				if s.Section == elf.SHN_UNDEF || (bind != elf.STB_GLOBAL && bind != elf.STB_WEAK) {
					continue
				}
				got = append(got, s.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("out_kubeship.so exports %v, want exactly %v", got, want)
			}
		})
	}
}
