package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// The gateway's cost per operation on a real node (embedded store, real
// HTTP on loopback), for docs/BENCHMARKS.md: process CPU time per item
// (user + system, from getrusage) beside wall time. The benchmark's own
// HTTP client runs in the same process, so cpu-µs/item is an upper bound
// on the node's share; its requests are prebuilt bytes and its responses
// are read and discarded, not decoded, to keep that share small.
//
//	go test -run XXX -bench 'BenchmarkGateway' -count 3 ./cluster/

// BenchmarkGatewayUpdate: one memory-lane update per request, as a game
// server without batching sends them.
func BenchmarkGatewayUpdate(b *testing.B) {
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			gw := benchGateway(b, "Update")
			bodies := make([][]byte, callers)
			for i := range bodies {
				bodies[i] = []byte(updateJSON(fmt.Sprint("u", i)))
				gw.post(b, bodies[i]) // the first update creates the profile
			}
			runGatewayBench(b, callers, 1, func(caller int) { gw.post(b, bodies[caller]) })
		})
	}
}

// BenchmarkGatewayBatch: a Batch of 100 memory-lane updates on 100
// resident profiles per request, as the Roblox module's batcher sends them
// (target: at most 5 µs of node CPU per item).
func BenchmarkGatewayBatch(b *testing.B) {
	const items = 100
	for _, callers := range []int{1, 4} {
		b.Run(fmt.Sprintf("items=%d/callers=%d", items, callers), func(b *testing.B) {
			gw := benchGateway(b, "Batch")
			bodies := make([][]byte, callers)
			for c := range bodies {
				var sb strings.Builder
				sb.WriteString(`{"items":[`)
				for i := range items {
					if i > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, `{"update":%s}`, updateJSON(fmt.Sprintf("b%d-%d", c, i)))
				}
				sb.WriteString(`]}`)
				bodies[c] = []byte(sb.String())
				gw.post(b, bodies[c])
			}
			runGatewayBench(b, callers, items, func(caller int) { gw.post(b, bodies[caller]) })
		})
	}
}

// BenchmarkGatewayBatchProto: the same batches as BenchmarkGatewayBatch in
// binary protobuf over the Connect protocol (connect-go's client, as a Go,
// Unity or Unreal server with generated code sends them): no JSON on
// either side.
func BenchmarkGatewayBatchProto(b *testing.B) {
	const items = 100
	for _, callers := range []int{1, 4} {
		b.Run(fmt.Sprintf("items=%d/callers=%d", items, callers), func(b *testing.B) {
			gw := benchGateway(b, "Batch")
			base := strings.TrimSuffix(gw.url, "/hearth.v1.ProfileService/Batch")
			client := hearthv1connect.NewProfileServiceClient(&http.Client{Transport: gw.tr}, base)
			reqs := make([]*hearthv1.BatchRequest, callers)
			for c := range reqs {
				reqs[c] = &hearthv1.BatchRequest{}
				for i := range items {
					reqs[c].Items = append(reqs[c].Items, &hearthv1.BatchItem{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{
						Profile: &hearthv1.ProfileRef{Namespace: "bench", Id: fmt.Sprintf("p%d-%d", c, i)},
						Operations: []*hearthv1.Operation{
							{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/coins", Value: "1"},
							{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/last", Value: `"x"`},
						},
					}}})
				}
			}
			send := func(c int) {
				res, err := client.Batch(context.Background(), connect.NewRequest(reqs[c]))
				if err != nil || len(res.Msg.GetResults()) != items {
					b.Errorf("batch: %v", err) // not Fatal: callers run on their own goroutines
				}
			}
			for c := range reqs {
				send(c)
			}
			runGatewayBench(b, callers, items, send)
		})
	}
}

func updateJSON(id string) string {
	return fmt.Sprintf(`{"profile":{"namespace":"bench","id":%q},"operations":[`+
		`{"kind":"OPERATION_KIND_INCREMENT","path":"/coins","value":"1"},`+
		`{"kind":"OPERATION_KIND_SET","path":"/last","value":"\"x\""}]}`, id)
}

// benchGateway starts an embedded node and returns a poster to method.
func benchGateway(b *testing.B, method string) *gatewayPoster {
	b.Helper()
	cfg := embeddedConfig(b, b.TempDir())
	n := startNode(b, cfg)
	b.Cleanup(func() { stopNode(b, n) })
	// Enough idle connections that every caller keeps its own.
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return &gatewayPoster{url: "http://" + n.Addr() + "/hearth.v1.ProfileService/" + method, tr: tr}
}

// gatewayPoster sends prebuilt JSON bodies to one method of a gateway.
type gatewayPoster struct {
	url string
	tr  *http.Transport
}

// post sends body; failures are b.Error, not Fatal: callers run on their
// own goroutines.
func (g *gatewayPoster) post(b *testing.B, body []byte) {
	req, err := http.NewRequest(http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := g.tr.RoundTrip(req)
	if err != nil {
		b.Error(err)
		return
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || n == 0 {
		b.Errorf("POST %s: %d", g.url, res.StatusCode)
	}
}

// runGatewayBench runs b.N requests over callers goroutines and reports
// items per second and process CPU per item.
func runGatewayBench(b *testing.B, callers, itemsPerRequest int, send func(caller int)) {
	b.Helper()
	next := make(chan struct{}, callers)
	done := make(chan struct{})
	cpu0 := processCPU(b)
	start := time.Now()
	b.ResetTimer()
	for c := range callers {
		go func() {
			for range next {
				send(c)
			}
			done <- struct{}{}
		}()
	}
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	for range callers {
		<-done
	}
	b.StopTimer()
	elapsed, cpu := time.Since(start), processCPU(b)-cpu0
	items := float64(b.N * itemsPerRequest)
	b.ReportMetric(items/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(cpu.Microseconds())/items, "cpu-µs/item")
}

// processCPU is this process's user + system time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
