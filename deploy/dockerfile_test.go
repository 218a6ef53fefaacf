package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

const (
	dockerfile   = "Dockerfile"
	ignoreFile   = "Dockerfile.dockerignore"
	finalBase    = "gcr.io/distroless/static-debian12:nonroot"
	nodeBinary   = "/usr/local/bin/hearth-node"
	nodePackage  = "./cmd/node"
	nonrootUser  = "65532:65532"
	nonrootUID   = 65532
	gatewayPort  = "8080"
	remotePort   = "8090"
	buildCommand = "go build"
)

// parseDockerfile parses the Dockerfile with BuildKit's own parser and
// instruction decoder, with its linter on, and expands every instruction
// as BuildKit does before building (which is when RUN --mount flags are
// read): an unknown instruction, a bad flag, or anything the linter warns
// about is an error.
func parseDockerfile(raw []byte) ([]instructions.Stage, error) {
	res, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, w := range res.Warnings {
		problems = append(problems, "parser: "+w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, description, _, msg string, loc []parser.Range) {
		problems = append(problems, fmt.Sprintf("lint %s (%s): %s at %v", rule, description, msg, loc))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, err
	}
	lex := shell.NewLex(res.EscapeToken)
	expand := func(w string) (string, error) {
		out, _, err := lex.ProcessWord(w, shell.EnvsFromSlice(nil))
		return out, err
	}
	for _, st := range stages {
		for _, c := range st.Commands {
			if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
				if err := e.Expand(expand); err != nil {
					return nil, fmt.Errorf("%s: %w", c.Name(), err)
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return stages, nil
}

func stages(t *testing.T) []instructions.Stage {
	t.Helper()
	s, err := parseDockerfile(check.Read(t, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDockerfileParsesStrictly(t *testing.T) {
	check.RefusesTypos(t, dockerfile, check.Read(t, dockerfile), func(b []byte) error {
		_, err := parseDockerfile(b)
		return err
	},
		check.Typo{From: "ENTRYPOINT [", To: "ENTRYPIONT ["},
		check.Typo{From: "COPY --from=build", To: "COPY --form=build"},
		check.Typo{From: "RUN --mount=type=cache,target=/go/pkg/mod go mod", To: "RUN --mount=type=cahce,target=/go/pkg/mod go mod"},
		check.Typo{From: "FROM golang:${GO_VERSION}-bookworm AS build", To: "FROM golang:${GO_VERSION}-bookworm as build"},
	)
}

// TestImage: two stages; the final one is the static distroless base with
// the node binary only, run as an unprivileged user, exposing the gateway
// and remote ports, with the binary as its exec-form entrypoint.
func TestImage(t *testing.T) {
	stages := stages(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a build stage and a small final one", len(stages))
	}
	final := stages[len(stages)-1]
	if final.BaseName != finalBase {
		t.Errorf("final stage FROM %s, want %s", final.BaseName, finalBase)
	}
	var copies []*instructions.CopyCommand
	var user string
	var exposed []string
	var entrypoint *instructions.EntrypointCommand
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			copies = append(copies, c)
		case *instructions.UserCommand:
			user = c.User
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			entrypoint = c
		case *instructions.WorkdirCommand:
		default:
			t.Errorf("final stage: %s adds to the image; it holds the node binary only", c.Name())
		}
	}
	if len(copies) != 1 || copies[0].From != stages[0].Name || !slices.Equal(copies[0].SourcePaths, []string{"/out/hearth-node"}) || copies[0].DestPath != nodeBinary {
		t.Errorf("final stage copies %+v: want only the binary built in stage %s", copies, stages[0].Name)
	}
	if user != nonrootUser {
		t.Errorf("USER %q, want %s (distroless's nonroot)", user, nonrootUser)
	}
	if !slices.Contains(exposed, gatewayPort) || !slices.Contains(exposed, remotePort) {
		t.Errorf("EXPOSE %v, want %s and %s", exposed, gatewayPort, remotePort)
	}
	if entrypoint == nil || entrypoint.PrependShell || !slices.Equal(entrypoint.CmdLine, []string{nodeBinary}) {
		t.Errorf("ENTRYPOINT %+v: want the exec form [%q] (no shell in the image)", entrypoint, nodeBinary)
	}

	// The Kubernetes pod runs as the image's user, on its ports.
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(check.Read(t, "kubernetes/deployment.yaml"), &d); err != nil {
		t.Fatal(err)
	}
	if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != nonrootUID {
		t.Errorf("kubernetes/deployment.yaml runs as %+v, the image as %s", sc, nonrootUser)
	}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if !slices.Contains(exposed, fmt.Sprint(p.ContainerPort)) {
			t.Errorf("kubernetes/deployment.yaml uses port %d, which the image does not expose", p.ContainerPort)
		}
	}
}

// buildRun finds the RUN that builds the node and splits it into words as
// the shell would.
func buildRun(t *testing.T) []string {
	t.Helper()
	for _, s := range stages(t) {
		for _, c := range s.Commands {
			r, ok := c.(*instructions.RunCommand)
			if !ok || !strings.Contains(strings.Join(r.CmdLine, " "), buildCommand) {
				continue
			}
			words, err := shell.NewLex('\\').ProcessWords(strings.Join(r.CmdLine, " "), shell.EnvsFromSlice(nil))
			if err != nil {
				t.Fatal(err)
			}
			return words
		}
	}
	t.Fatalf("no RUN runs %s", buildCommand)
	return nil
}

// TestBuildCommandMakesAStaticBinary runs the Dockerfile's own build
// command here (outside a container: this machine has none), with the
// output moved to a temporary directory, and checks that the binary is
// static: the final image has no C library or dynamic loader.
func TestBuildCommandMakesAStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/node")
	}
	words := buildRun(t)
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("the build sets %v; without CGO_ENABLED=0 the binary needs a C library", env)
	}
	if len(words) < 3 || words[0] != "go" || words[1] != "build" || words[len(words)-1] != nodePackage {
		t.Fatalf("build command %v: want go build ... %s", words, nodePackage)
	}
	out := filepath.Join(t.TempDir(), "hearth-node")
	args := slices.Clone(words[1:])
	for i := range args {
		if args[i] == "-o" && i+1 < len(args) {
			args[i+1] = out
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = check.RepoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary links %v (%v)", libs, err)
	}
}

// TestBuildContext: the ignore file keeps everything the build reads
// (go.mod, go.sum, every Go and embedded file of the main module's
// packages cmd/node imports) and leaves out what it does not need.
func TestBuildContext(t *testing.T) {
	root := check.RepoRoot(t)
	f, err := os.Open(ignoreFile)
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(rel string) bool {
		ex, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}

	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Module,Standard", nodePackage)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath, Dir     string
			GoFiles, EmbedFiles []string
			Standard            bool
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue
		}
		for _, name := range append(p.GoFiles, p.EmbedFiles...) {
			rel, err := filepath.Rel(root, filepath.Join(p.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			needed = append(needed, rel)
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, rel := range needed {
		if excluded(rel) {
			t.Errorf("%s excludes %s, which the build needs", ignoreFile, rel)
		}
	}
	for _, rel := range []string{".git/config", "deploy/compose.yaml", "docs/OPERATIONS.md", "clients/typescript/package.json", "cluster/node_test.go"} {
		if !excluded(rel) {
			t.Errorf("%s sends %s to the builder, which does not need it", ignoreFile, rel)
		}
	}
}
