// Package typescript holds Hearth's TypeScript client, an npm package. Its
// Go files only regenerate the client's code (`go generate`, the same as
// `bash generate.sh`) and run its Node tests against a real node
// (`go test`); see docs/CLIENTS.md.
package typescript

//go:generate bash generate.sh
