// Package messages holds Hearth's public wire API: the hearth.v1 protobuf
// messages in proto/hearth/v1 and their generated Go code in hearthv1.
// Game servers send these messages to profile actors, and the node's gateway
// serves the same ProfileService over HTTP.
package messages

//go:generate go tool -modfile=../tools/proto/go.mod buf lint
//go:generate go tool -modfile=../tools/proto/go.mod buf generate
