#!/usr/bin/env bash
# Regenerates src/gen from messages/proto with the repository's buf (a Go
# tool pinned in tools/proto/go.mod, so no protoc install) and the
# protoc-gen-es plugin from node_modules (pinned in package-lock.json).
# Extra arguments go to `buf generate` (the Go test passes -o DIR to
# generate elsewhere and compare).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ ! -x node_modules/.bin/protoc-gen-es ]]; then
	npm ci --no-audit --no-fund
fi
go tool -modfile=../../tools/proto/go.mod buf generate "$@"
