package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

func embeddedConfig(t testing.TB, dir string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Gateway.Listen = "127.0.0.1:0"
	return cfg
}

func startNode(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	n, err := Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func stopNode(t testing.TB, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func postJSON(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	// protojson varies its whitespace on purpose; compare compacted.
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return res.StatusCode, string(bytes.TrimSpace(b))
	}
	return res.StatusCode, out.String()
}

// TestEmbeddedNodeServesJSONAndGRPC: the embedded default answers plain
// JSON over HTTP (the README's curl) and gRPC on the same port, keeps data
// across a restart, and reports health, readiness and metrics.
func TestEmbeddedNodeServesJSONAndGRPC(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, embeddedConfig(t, dir))
	base := "http://" + n.Addr()

	code, body := postJSON(t, base+"/hearth.v1.ProfileService/Update", "",
		`{"profile":{"namespace":"game","id":"p1"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/coins","value":"5"}],"durability":"DURABILITY_DURABLE"}`)
	if code != 200 || body != `{"version":"1","duplicate":false,"durable":true}` {
		t.Fatalf("JSON update: %d %s", code, body)
	}
	code, body = postJSON(t, base+"/hearth.v1.ProfileService/Update", "",
		`{"profile":{"namespace":"game","id":"p1"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/coins","value":"\"ten\""}]}`)
	if code != 400 || !strings.Contains(body, `"code":"ERROR_CODE_INVALID_ARGUMENT"`) {
		t.Fatalf("typed error over JSON: %d %s", code, body)
	}

	// gRPC needs HTTP/2: the node serves it unencrypted (h2c).
	h2c := &http.Client{Transport: &http.Transport{Protocols: h2cProtocols()}}
	client := hearthv1connect.NewProfileServiceClient(h2c, base, connect.WithGRPC())
	res, err := client.Get(context.Background(), connect.NewRequest(&hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p1"}, Path: "/coins"}))
	if err != nil || res.Msg.GetValue() != "5" {
		t.Fatalf("gRPC get: %v %v", res, err)
	}

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		r, err := http.Get(base + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, r, err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if strings.TrimSpace(string(b)) != want {
			t.Fatalf("%s: %s", path, b)
		}
	}
	r, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{`hearth_gateway_requests_total{operation="Update",outcome="OK"} 1`, `hearth_profile_updates_total{durability="durable"} 1`, "hearth_save_batch_rows_count"} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	stopNode(t, n)

	// The data survives a restart (a new node incarnation on the same store).
	n2 := startNode(t, embeddedConfig(t, dir))
	defer stopNode(t, n2)
	code, body = postJSON(t, "http://"+n2.Addr()+"/hearth.v1.ProfileService/Get", "", `{"profile":{"namespace":"game","id":"p1"}}`)
	if code != 200 || body != `{"value":"{\"coins\":5}","version":"1","eventCursor":"2.0"}` {
		t.Fatalf("after restart: %d %s", code, body)
	}
}

func TestGatewayToken(t *testing.T) {
	cfg := embeddedConfig(t, t.TempDir())
	cfg.Gateway.Token = "s3cret"
	n := startNode(t, cfg)
	defer stopNode(t, n)
	url := "http://" + n.Addr() + "/hearth.v1.ProfileService/Get"
	if code, _ := postJSON(t, url, "", `{"profile":{"namespace":"game","id":"p"}}`); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := postJSON(t, url, "wrong", `{"profile":{"namespace":"game","id":"p"}}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := postJSON(t, url, "s3cret", `{"profile":{"namespace":"game","id":"p"}}`); code == http.StatusUnauthorized {
		t.Fatalf("right token: %d %s", code, body)
	}
	if r, err := http.Get("http://" + n.Addr() + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("health stays open: %v %v", r, err)
	}
}

// TestWatchStream: a Watch over the gateway streams the changes another
// caller makes.
func TestWatchStream(t *testing.T) {
	n := startNode(t, embeddedConfig(t, t.TempDir()))
	defer stopNode(t, n)
	client := hearthv1connect.NewProfileServiceClient(http.DefaultClient, "http://"+n.Addr())
	ref := &hearthv1.ProfileRef{Namespace: "game", Id: "watched"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Watching a profile that was never written is NOT_FOUND (a watch
	// creates nothing); once written it streams.
	stream, err := client.Watch(ctx, connect.NewRequest(&hearthv1.WatchRequest{Profile: ref}))
	if err != nil {
		t.Fatal(err)
	}
	if stream.Receive() || connect.CodeOf(stream.Err()) != connect.CodeNotFound {
		t.Fatalf("watch of a never-written profile: %v %v", stream.Msg(), stream.Err())
	}
	_ = stream.Close()
	if _, err := client.Update(ctx, connect.NewRequest(&hearthv1.UpdateRequest{Profile: ref, Operations: []*hearthv1.Operation{
		{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/joined", Value: `true`}}})); err != nil {
		t.Fatal(err)
	}
	stream, err = client.Watch(ctx, connect.NewRequest(&hearthv1.WatchRequest{Profile: ref}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() || stream.Msg().GetKind() != hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED {
		t.Fatalf("first event: %v %v", stream.Msg(), stream.Err())
	}
	_, err = client.Update(ctx, connect.NewRequest(&hearthv1.UpdateRequest{Profile: ref, Operations: []*hearthv1.Operation{
		{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/gift", Value: `"sword"`}}}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() || stream.Msg().GetKind() != hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED || stream.Msg().GetOperations()[0].GetValue() != `"sword"` {
		t.Fatalf("update event: %v %v", stream.Msg(), stream.Err())
	}
	cancel()
	_ = stream.Close()
}

func TestStartRefusesOpenGatewayWithoutToken(t *testing.T) {
	cfg := embeddedConfig(t, t.TempDir())
	cfg.Gateway.Listen = "0.0.0.0:0"
	if _, err := Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler)); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

func h2cProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}
