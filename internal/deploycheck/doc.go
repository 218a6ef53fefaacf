// Package deploycheck holds the main module's check of the deployment
// files in deploy/: a real node, started as cmd/node starts it, must
// expose every metric that the Grafana dashboard and the Prometheus alert
// rules query (metrics_test.go). The files' own formats are checked in
// the deploy module, which keeps Prometheus, Kubernetes and Compose out of
// this module's dependencies.
package deploycheck
