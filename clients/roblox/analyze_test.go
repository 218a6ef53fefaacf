package roblox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// luauAnalyze returns luau-analyze: $HEARTH_LUAU_ANALYZE (scripts/test.sh
// builds it up front), else built by build-luau-analyze.sh from
// ../shared/tools into ~/.cache/hearth (once; about 6 minutes). Where
// ../shared/tools is absent (a fresh clone) the check is skipped, except
// in CI, which always has it.
func luauAnalyze(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("HEARTH_LUAU_ANALYZE"); bin != "" {
		return bin
	}
	out, err := exec.Command("bash", "build-luau-analyze.sh").Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		if inCI() {
			t.Fatalf("../shared/tools/luau-0.735.tar.gz is missing; CI must have it: %s", exit.Stderr)
		}
		t.Skip("luau-analyze cannot be built here: ../shared/tools/luau-0.735.tar.gz is missing (a fresh clone); the strict type check runs where ../shared is present, always in CI")
	}
	if err != nil {
		if exit != nil {
			t.Fatalf("build luau-analyze: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("build luau-analyze: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// analyze runs luau-analyze --mode=strict on files and returns its report
// and whether it passed.
func analyze(t *testing.T, bin string, files ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--mode=strict"}, files...)...).CombinedOutput()
	report := strings.TrimSpace(string(out))
	return report, err == nil && report == ""
}

// TestLuauStrictTypes: the module's core type-checks in strict mode with
// no warning. (The Roblox glue, HearthRoblox.luau, uses Roblox's types,
// which luau-analyze does not know; it is kept small and runs in the
// harness's simulated runtime instead.)
func TestLuauStrictTypes(t *testing.T) {
	bin := luauAnalyze(t)
	files, err := filepath.Glob(filepath.Join("src", "Hearth", "*.luau"))
	if err != nil || len(files) < 10 {
		t.Fatalf("core files: %v %v", files, err)
	}
	if report, ok := analyze(t, bin, files...); !ok {
		t.Errorf("luau-analyze --mode=strict on the core:\n%s", report)
	}

	// The check can fail: a type error in a copy of the core is reported.
	dir := t.TempDir()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "Int64.luau" {
			src = []byte(strings.Replace(string(src), "return Int64\n", "local broken: number = Int64.succ(\"1\")\nreturn Int64\n", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	report, ok := analyze(t, bin, filepath.Join(dir, "init.luau"))
	if ok || !strings.Contains(report, "TypeError") {
		t.Errorf("a planted type error (string as number, reached through init's requires) was not reported:\n%s", report)
	}
}
