package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveTCP runs handle on every connection to a fresh loopback listener
// and closes the connection after it.
func serveTCP(t testing.TB, handle func(*net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

// echoServer echoes every connection until EOF, then half-closes it.
func echoServer(t testing.TB) string {
	return serveTCP(t, func(c *net.TCPConn) {
		_, _ = io.Copy(c, c)
		_ = c.CloseWrite()
	})
}

func proxyTo(t testing.TB, upstream string, delay time.Duration) *latencyProxy {
	t.Helper()
	p, err := startLatencyProxy("tcp", upstream, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestLatencyProxyKeepsBytesInOrder sends a megabyte through each of many
// connections at once, in writes of random sizes, and reads it back
// through an echo server.
func TestLatencyProxyKeepsBytesInOrder(t *testing.T) {
	p := proxyTo(t, echoServer(t), 200*time.Microsecond)
	const conns, size = 24, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- roundTripStream(p.Addr(), uint64(i), size)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if st := p.Stats(); st.Connections != conns || st.Bytes != 2*conns*size {
		t.Errorf("stats %+v: want %d connections and %d bytes", st, conns, 2*conns*size)
	}
}

// roundTripStream writes size random bytes in random pieces, half-closes,
// and checks the echo is the same bytes followed by EOF.
func roundTripStream(addr string, seed uint64, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(c); got <- b }()
	for off := 0; off < size; {
		n := min(1+rng.IntN(70_000), size-off)
		if _, err := c.Write(want[off : off+n]); err != nil {
			return err
		}
		off += n
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	b := <-got
	if !bytes.Equal(b, want) {
		return fmt.Errorf("connection %d: echoed %d bytes, not the %d sent in order", seed, len(b), len(want))
	}
	return nil
}

// TestLatencyProxyStalledReaderHoldsUpNoOne: a client that does not read
// fills its socket; the proxy keeps its bytes in order for later, and the
// other connections keep moving meanwhile.
func TestLatencyProxyStalledReaderHoldsUpNoOne(t *testing.T) {
	const size = 32 << 20 // more than loopback socket buffers hold
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7 / 3)
	}
	// The upstream streams the payload to a connection that starts with
	// 'S', and echoes one that starts with 'E'.
	upstream := serveTCP(t, func(c *net.TCPConn) {
		kind := make([]byte, 1)
		if _, err := io.ReadFull(c, kind); err != nil {
			return
		}
		if kind[0] == 'S' {
			_, _ = c.Write(payload)
		} else {
			_, _ = io.Copy(c, c)
		}
		_ = c.CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	p := proxyTo(t, upstream, 100*time.Microsecond)
	stalled, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("S")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); p.Stats().Stalls == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never found the stalled client's socket full")
		}
	}
	// While the stalled client reads nothing, another connection through
	// the same proxy still round-trips.
	other, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Write([]byte("Eping")); err != nil {
		t.Fatal(err)
	}
	pong := make([]byte, 4)
	_ = other.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(other, pong); err != nil || string(pong) != "ping" {
		t.Fatalf("the other connection read %q, %v while one client stalled", pong, err)
	}
	got, err := io.ReadAll(stalled)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("stalled client read %d bytes (%v), not the %d sent in order", len(got), err, size)
	}
}

// TestLatencyProxyPassesHalfCloseBothWays: a FIN travels after the bytes
// before it, and the side that did not close can still send.
func TestLatencyProxyPassesHalfCloseBothWays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	server := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			server <- err
			return
		}
		defer c.Close()
		// The server closes its side first, then keeps reading.
		if _, err := c.Write([]byte("hello")); err != nil {
			server <- err
			return
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			server <- err
			return
		}
		b, err := io.ReadAll(c)
		if err == nil && string(b) != "still here" {
			err = fmt.Errorf("server read %q after its half-close", b)
		}
		server <- err
	}()
	p := proxyTo(t, ln.Addr().String(), time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c) // ends at the server's FIN
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-server; err != nil {
		t.Fatal(err)
	}
}

// TestLatencyProxyNeverDeliversEarly: each direction is held at least the
// delay less the timer's early start (at most 200 µs + dueSlop here), so a
// round trip takes at least that twice (a lower bound only: how close the proxy stays
// to the delay is BenchmarkLatencyProxy's business, not a timed test's).
func TestLatencyProxyNeverDeliversEarly(t *testing.T) {
	const delay, early = 15 * time.Millisecond, 200*time.Microsecond + dueSlop
	p := proxyTo(t, echoServer(t), delay)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	for range 5 {
		start := time.Now()
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 2*(delay-early) {
			t.Fatalf("round trip %s, under twice the one-way delay %s less %s", took, delay, early)
		}
	}
}

// TestLatencyProxyEndsConnectionsItCannotServe: an upstream that refuses,
// an upstream that resets, and Close all end the client's connection.
func TestLatencyProxyEndsConnectionsItCannotServe(t *testing.T) {
	t.Run("upstream refuses", func(t *testing.T) {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p := proxyTo(t, addr, time.Millisecond)
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("read %v, want the connection closed", err)
		}
	})
	t.Run("upstream resets", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 1))
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close() // RST
		}()
		p := proxyTo(t, ln.Addr().String(), time.Millisecond)
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the client's connection stayed open after the upstream reset")
		}
	})
	t.Run("close", func(t *testing.T) {
		p, err := startLatencyProxy("tcp", echoServer(t), time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the client's connection stayed open after Close")
		}
		if _, err := net.Dial("tcp", p.Addr()); err == nil {
			t.Fatal("the proxy still accepts after Close")
		}
	})
}

// BenchmarkLatencyProxy measures ping-pong round trips (1 byte each way)
// through an echo server: direct, and through the proxy with no delay and
// with 300 µs each way, on 1 and on 32 connections at once. It reports the
// round trip's mean, p50 and p99, how far the mean is above the direct
// round trip plus twice the delay (the proxy's error), the proxy's own
// account of its timing (the signed mean lateness of its writes and the
// share that went out early), and the process's CPU per round trip (client
// and echo server included: the proxy's own cost is the difference to the
// direct run). TestMain starts PostgreSQL and Consul for the other tests;
// they idle meanwhile.
//
//	go test -run '^$' -bench LatencyProxy -benchtime 20000x ./cmd/loadtest/
func BenchmarkLatencyProxy(b *testing.B) {
	echo := echoServer(b)
	direct := map[int]float64{} // mean direct round trip per connection count, µs
	for _, conns := range []int{1, 32} {
		for _, tc := range []struct {
			name  string
			proxy bool
			delay time.Duration
		}{{"direct", false, 0}, {"proxy-0us", true, 0}, {"proxy-300us", true, 300 * time.Microsecond}} {
			b.Run(fmt.Sprintf("%s/conns=%d", tc.name, conns), func(b *testing.B) {
				addr := echo
				var p *latencyProxy
				if tc.proxy {
					p = proxyTo(b, echo, tc.delay)
					addr = p.Addr()
				}
				rtts := pingPong(b, addr, conns)
				if p != nil && tc.delay > 0 {
					st := p.Stats()
					b.ReportMetric(st.LateMeanUS, "late-mean-us")
					b.ReportMetric(st.EarlyShare, "early-share")
				}
				mean, p50, p99 := summarizeMicros(rtts)
				if !tc.proxy {
					direct[conns] = mean
				}
				b.ReportMetric(mean, "rtt-mean-us")
				b.ReportMetric(p50, "rtt-p50-us")
				b.ReportMetric(p99, "rtt-p99-us")
				if d, ok := direct[conns]; ok && tc.proxy {
					b.ReportMetric(mean-d-2*float64(tc.delay.Microseconds()), "excess-us")
				}
			})
		}
	}
}

// pingPong runs b.N round trips over conns connections and returns their
// durations; it reports process CPU per round trip.
func pingPong(b *testing.B, addr string, conns int) []time.Duration {
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	rtts := make([]time.Duration, b.N)
	var next sync.Mutex
	n := 0
	cpu0 := selfCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= b.N {
					return
				}
				start := time.Now()
				if _, err := c.Write(buf); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
					return
				}
				rtts[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((selfCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	return rtts
}

func summarizeMicros(ds []time.Duration) (mean, p50, p99 float64) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return us(sum) / float64(len(s)), us(s[len(s)/2]), us(s[len(s)*99/100])
}
