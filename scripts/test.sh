#!/usr/bin/env bash
# The project's test command: prepares what the integration tests need (a
# local PostgreSQL installation and a built Consul), then vets and tests
# every package of the main module and of the deploy module (deploy/).
# Extra arguments go to the main module's `go test` after the package
# pattern, e.g. scripts/test.sh -run TestFoo -v, and skip the deploy module.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

# Integration tests start a throwaway PostgreSQL with initdb/pg_ctl
# (internal/testenv/pgtest), so the server binaries must be installed unless
# HEARTH_TEST_DATABASE_URL points the tests at an existing server.
# pgtest also finds Debian's /usr/lib/postgresql/*/bin without pg_config.
if [[ -z "${HEARTH_TEST_DATABASE_URL:-}" ]] && ! command -v pg_config >/dev/null 2>&1 \
	&& ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	step "PostgreSQL not found; installing it with apt-get"
	sudo=()
	if [[ "$(id -u)" -ne 0 ]]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "error: PostgreSQL is missing and installing it needs root, but sudo is not available" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi
if command -v pg_config >/dev/null 2>&1; then
	echo "PostgreSQL binaries: $(pg_config --bindir) ($(pg_config --version))" >&2
fi

# Build Consul (a tool in tools/go.mod) once, up front: a cold build takes
# minutes and would otherwise happen inside the first test binary that needs
# it, racing its test timeout and any parallel test binaries building it too.
# Exporting the binary's path spares each test binary resolving it again.
if [[ -z "${HEARTH_TEST_CONSUL_ADDR:-}" && -z "${HEARTH_CONSUL_BIN:-}" ]]; then
	step "Building Consul: go tool -modfile=tools/go.mod consul version"
	began=$SECONDS
	go tool -modfile=tools/go.mod consul version
	HEARTH_CONSUL_BIN="$(go tool -modfile=tools/go.mod -n consul)"
	export HEARTH_CONSUL_BIN
	echo "Consul ready in $((SECONDS - began))s: $HEARTH_CONSUL_BIN" >&2
fi

# The Roblox module's strict type check needs luau-analyze, built from
# ../shared/tools into ~/.cache/hearth once (about 6 minutes on two cores):
# build it up front, like Consul, rather than inside a test binary. Without
# ../shared (a fresh clone) the test says it skips; CI always has it.
if [[ -z "${HEARTH_LUAU_ANALYZE:-}" && -f ../shared/tools/luau-0.735.tar.gz ]]; then
	step "Building luau-analyze: clients/roblox/build-luau-analyze.sh"
	HEARTH_LUAU_ANALYZE="$(bash clients/roblox/build-luau-analyze.sh)"
	export HEARTH_LUAU_ANALYZE
	echo "luau-analyze ready: $HEARTH_LUAU_ANALYZE" >&2
fi

step "go vet ./..."
go vet ./...

step "go test -race -count=1 -timeout 30m ./... $*"
go test -race -count=1 -timeout 30m ./... "$@"

# The deployment files (deploy/) are checked in a module of their own, so
# Prometheus, Kubernetes, Compose and BuildKit stay out of the main module.
# Its first build takes a few minutes; later ones come from the build cache.
# Extra arguments (say -run TestFoo) narrow the main module's run, so they
# skip this step.
if [[ $# -eq 0 ]]; then
	step "deploy module: go vet ./... && go test -race -count=1 ./..."
	(cd deploy && go vet ./... && go test -race -count=1 -timeout 15m ./...)
fi
