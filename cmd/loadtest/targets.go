package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// gateways spreads requests over several node gateways and moves on to the
// next when one cannot be reached (a node being restarted by the chaos
// schedule). Any gateway serves any profile. The list grows when chaos adds
// a node, so the new node's gateway is exercised too.
type gateways struct {
	hc   *http.Client
	mu   sync.Mutex // serializes add; readers load list
	list atomic.Pointer[[]gatewayTarget]
	next atomic.Uint64
}

type gatewayTarget struct {
	addr string
	gw   *client.Gateway
}

func newGateways(addrs []string) *gateways {
	g := &gateways{hc: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 512,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}}}
	g.list.Store(&[]gatewayTarget{})
	for _, a := range addrs {
		g.add(a)
	}
	return g
}

// add makes addr a target (once).
func (g *gateways) add(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := *g.list.Load()
	for _, t := range old {
		if t.addr == addr {
			return
		}
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	next := append(append([]gatewayTarget(nil), old...), gatewayTarget{addr: addr, gw: client.NewGateway(g.hc, base, "")})
	g.list.Store(&next)
}

// addrs lists the targets.
func (g *gateways) addrs() []string {
	var out []string
	for _, t := range *g.list.Load() {
		out = append(out, t.addr)
	}
	return out
}

func (g *gateways) Request(ctx context.Context, m proto.Message) (proto.Message, error) {
	list := *g.list.Load()
	i := int(g.next.Add(1) % uint64(len(list)))
	var last error
	for n := range len(list) {
		res, err := list[(i+n)%len(list)].gw.Request(ctx, m)
		if err == nil || !errors.Is(err, messages.ErrUnavailable) || !unreachable(err) {
			return res, err
		}
		last = err
	}
	return nil, last
}

// unreachable: the gateway itself could not be reached (nothing was sent).
func unreachable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "connect: ")
}

func (g *gateways) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	list := *g.list.Load()
	return list[int(g.next.Add(1)%uint64(len(list)))].gw.Watch(ctx, ref, fn)
}

// scrape sums a counter family over the gateways' /metrics.
func scrape(addrs []string, family string) float64 {
	var total float64
	for _, a := range addrs {
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		res, err := http.Get(a + "/metrics")
		if err != nil {
			continue
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(res.Body)
		res.Body.Close()
		if err != nil {
			continue
		}
		if f, ok := fams[family]; ok {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func describe(addrs []string) string {
	return fmt.Sprintf("%d gateway(s) %s", len(addrs), strings.Join(addrs, ","))
}
