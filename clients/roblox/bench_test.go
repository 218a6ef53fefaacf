package roblox

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/nodetest"
)

// BenchmarkBatch measures what one Batch request costs a Roblox server on
// a real node (PostgreSQL store, JSON over HTTP, as HttpService sends it):
// an autosave flush of 100 profiles (100 memory-lane updates with session
// tokens and expected versions), 100 durable purchases, a heartbeat of
// 100 sessions, and a long poll over 100 profiles that answers at once.
//
//	go test -run '^$' -bench BenchmarkBatch -benchtime 100x ./clients/roblox/
func BenchmarkBatch(b *testing.B) {
	bin, err := nodeBinary()
	if err != nil {
		b.Fatal(err)
	}
	c := nodetest.Start(b, 1, nodetest.Options{DatabaseURL: pg.NewDatabase(b), Binary: bin, Token: testToken, Env: nodeEnv})
	base := c.Nodes[0].URL()
	const n = 100
	type ref = map[string]string
	refs := make([]ref, n)
	items := make([]map[string]any, n)
	for i := range refs {
		refs[i] = ref{"namespace": "game", "id": fmt.Sprintf("bench-%d", i)}
		items[i] = map[string]any{"acquire": map[string]any{"profile": refs[i], "sessionId": "bench-server"}}
	}
	var acquired struct {
		Results []struct {
			Acquire struct {
				SessionToken string `json:"sessionToken"`
				Version      string `json:"version"`
			} `json:"acquire"`
		} `json:"results"`
	}
	api(b, base, "Batch", map[string]any{"items": items}, &acquired)
	tokens := make([]string, n)
	for i, r := range acquired.Results {
		tokens[i] = r.Acquire.SessionToken
		if tokens[i] == "" {
			b.Fatalf("acquire %d failed", i)
		}
	}
	run := func(b *testing.B, method string, body func(iter int) any, check func(raw json.RawMessage) error) {
		b.Helper()
		start := time.Now()
		for i := range b.N {
			var out json.RawMessage
			if status := api(b, base, method, body(i), &out); status != 200 {
				b.Fatalf("%s answered %d: %s", method, status, out)
			}
			if err := check(out); err != nil {
				b.Fatalf("%s: %v: %s", method, err, out)
			}
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "items/s")
		b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/request")
	}
	noErrors := func(raw json.RawMessage) error {
		if strings.Contains(string(raw), `"error"`) {
			return fmt.Errorf("an item failed")
		}
		return nil
	}
	b.Run("autosave-100-updates", func(b *testing.B) {
		run(b, "Batch", func(int) any {
			items := make([]map[string]any, n)
			for i := range items {
				items[i] = map[string]any{"update": map[string]any{
					"profile":      refs[i],
					"sessionToken": tokens[i],
					"operations": []map[string]string{
						{"kind": "OPERATION_KIND_INCREMENT", "path": "/Coins", "value": "1"},
						{"kind": "OPERATION_KIND_APPEND", "path": "/Log", "value": `"x"`},
					},
				}}
			}
			return map[string]any{"items": items}
		}, noErrors)
	})
	b.Run("purchase-100-durable", func(b *testing.B) {
		// Receipts unique across runs (-count), or repeats answer from the
		// purchase records instead of granting.
		run0 := time.Now().UnixNano()
		run(b, "Batch", func(iter int) any {
			items := make([]map[string]any, n)
			for i := range items {
				items[i] = map[string]any{"purchase": map[string]any{
					"profile":      refs[i],
					"sessionToken": tokens[i],
					"receiptId":    fmt.Sprintf("bench-%d-%d-%d", run0, iter, i),
					"productId":    "1001",
					"grant":        []map[string]string{{"kind": "OPERATION_KIND_INCREMENT", "path": "/Coins", "value": "100"}},
				}}
			}
			return map[string]any{"items": items}
		}, noErrors)
	})
	b.Run("heartbeat-100", func(b *testing.B) {
		run(b, "Batch", func(int) any {
			items := make([]map[string]any, n)
			for i := range items {
				items[i] = map[string]any{"heartbeat": map[string]any{"profile": refs[i], "sessionToken": tokens[i]}}
			}
			return map[string]any{"items": items}
		}, noErrors)
	})
	b.Run("poll-100-answered", func(b *testing.B) {
		cursors := make([]map[string]any, n)
		for i := range cursors {
			cursors[i] = map[string]any{"profile": refs[i], "cursor": ""}
		}
		run(b, "PollEvents", func(int) any {
			return map[string]any{"cursors": cursors, "waitMs": 1}
		}, func(json.RawMessage) error { return nil })
	})
}
