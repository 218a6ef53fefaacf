package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
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
// schedule). Any gateway serves any profile.
type gateways struct {
	addrs []string
	gws   []*client.Gateway
	next  atomic.Uint64
}

func newGateways(addrs []string) *gateways {
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 512,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}}
	g := &gateways{addrs: addrs}
	for _, a := range addrs {
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		g.gws = append(g.gws, client.NewGateway(hc, a, ""))
	}
	return g
}

func (g *gateways) pick() (int, *client.Gateway) {
	i := int(g.next.Add(1) % uint64(len(g.gws)))
	return i, g.gws[i]
}

func (g *gateways) Request(ctx context.Context, m proto.Message) (proto.Message, error) {
	i, _ := g.pick()
	var last error
	for n := range len(g.gws) {
		res, err := g.gws[(i+n)%len(g.gws)].Request(ctx, m)
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
	_, gw := g.pick()
	return gw.Watch(ctx, ref, fn)
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
