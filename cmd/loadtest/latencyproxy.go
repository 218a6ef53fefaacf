package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// latencyProxy puts a network between the database's clients and the
// database: it forwards every TCP connection it accepts to the upstream
// address and holds each chunk of bytes, in each direction, for a fixed
// one-way delay before passing it on. With -db-latency every database
// client of a run (the SQL baselines, spawned nodes) connects through one,
// so a benchmark on one machine pays the round trips a remote database
// costs.
//
// The CPU it costs matters: it shares the machine with the node and the
// database it measures. So the proxy has one reader goroutine per direction
// and a single scheduler for all connections. A reader stamps each chunk
// it reads with its due time (read time + delay) and appends it to one
// queue; since every chunk waits the same delay, arrival order is due
// order and the queue is a FIFO. The scheduler sleeps until the head is
// due, then writes every chunk due by then, each direction's chunks in one
// writev, without blocking: a write the socket cannot take whole hands its
// rest to a goroutine for that direction (slowWriter), which keeps the
// direction's order until it drained. Bytes stay in order, a half-close
// (FIN) travels after the bytes before it, and an error on either side
// ends the whole connection.
//
// Waiting is the hard part: a Go timer or time.Sleep below a millisecond
// sleeps about a millisecond (the runtime's netpoller waits in whole
// milliseconds), and spinning would cost a core. The scheduler waits on a
// timerfd (delayTimer: a kernel high-resolution timer read through the
// netpoller), which wakes it within tens of microseconds, and one wake
// serves every chunk due by then. Those tens of microseconds would add to
// every trip, so the timer is armed early by the running median of its
// measured wake-up latency (at most a quarter of the delay, and 200 µs):
// the median delay is right, and a chunk is never early by more than that
// plus dueSlop.
// BenchmarkLatencyProxy measures accuracy and CPU per round trip.
type latencyProxy struct {
	ln       net.Listener
	network  string // of the upstream: "tcp" or "unix"
	upstream string
	delay    time.Duration

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	closed bool
	quit   chan struct{}

	qmu   sync.Mutex
	queue []chunk       // due order
	wake  chan struct{} // the scheduler waits on it while the queue is empty

	chunks, bytes, accepted, stalls atomic.Int64
	latemu                          sync.Mutex
	late                            *hdrhistogram.Histogram // µs the head of a batch went out after its due time (0 if early)
	lateSum                         time.Duration           // signed
	wakes, early                    int64
}

// ProxyStats is what a latency proxy did, for the report.
type ProxyStats struct {
	OneWayDelayUS float64 `json:"one_way_delay_us"`
	Connections   int64   `json:"connections"`
	Chunks        int64   `json:"chunks"`
	Bytes         int64   `json:"bytes"`
	// Stalls counts writes a socket could not take at once (its reader
	// was slow), handed to a goroutine so no other connection waits.
	Stalls int64 `json:"stalls"`
	// Late is how long after its due time the first chunk of each write
	// went out, in µs (0 when early): the error of the one-way delay. The
	// mean is signed; EarlyShare is the share of writes that went out
	// early (by at most the timer's median wake-up latency).
	LateP50US  float64 `json:"late_p50_us"`
	LateP99US  float64 `json:"late_p99_us"`
	LateMeanUS float64 `json:"late_mean_us"`
	EarlyShare float64 `json:"early_share"`
}

// leadStep is how far one wake moves the timer's early start (lead).
const leadStep = time.Microsecond

// dueSlop: chunks due within this of now go out with the chunks due now,
// rather than costing another wake of the timer.
const dueSlop = 20 * time.Microsecond

// proxyChunkSize is the read buffer per chunk; the PostgreSQL messages of
// this workload are far smaller.
const proxyChunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, proxyChunkSize); return &b }}

// startLatencyProxy listens on a free loopback port and forwards to upstream
// (network "tcp" or "unix") with delay added in each direction.
func startLatencyProxy(network, upstream string, delay time.Duration) (*latencyProxy, error) {
	if delay < 0 {
		return nil, fmt.Errorf("latency proxy: negative delay %s", delay)
	}
	timer, err := newDelayTimer()
	if err != nil {
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		timer.Close()
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	p := &latencyProxy{ln: ln, network: network, upstream: upstream, delay: delay,
		conns: map[*proxyConn]struct{}{}, quit: make(chan struct{}), wake: make(chan struct{}, 1),
		late: hdrhistogram.New(0, 10_000_000, 3)}
	p.wg.Add(2)
	go p.accept()
	go p.schedule(timer)
	return p, nil
}

// Addr is the address clients dial instead of the upstream.
func (p *latencyProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, ends every connection and waits for its goroutines.
func (p *latencyProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.abort()
	}
	close(p.quit)
	p.wg.Wait()
	return err
}

// Stats reports what the proxy did so far.
func (p *latencyProxy) Stats() ProxyStats {
	p.latemu.Lock()
	defer p.latemu.Unlock()
	st := ProxyStats{
		OneWayDelayUS: float64(p.delay) / float64(time.Microsecond),
		Connections:   p.accepted.Load(), Chunks: p.chunks.Load(), Bytes: p.bytes.Load(), Stalls: p.stalls.Load(),
		LateP50US: float64(p.late.ValueAtQuantile(50)), LateP99US: float64(p.late.ValueAtQuantile(99)),
	}
	if p.wakes > 0 {
		st.LateMeanUS = float64(p.lateSum.Microseconds()) / float64(p.wakes)
		st.EarlyShare = float64(p.early) / float64(p.wakes)
	}
	return st
}

func (p *latencyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// serve connects one client to the upstream and starts both directions.
func (p *latencyProxy) serve(client net.Conn) {
	up, err := net.DialTimeout(p.network, p.upstream, 5*time.Second)
	if err != nil {
		client.Close() // the client sees the refusal as a closed connection
		return
	}
	c := &proxyConn{p: p, a: client, b: up, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.abort()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	for _, d := range []*direction{{c: c, src: client, dst: up}, {c: c, src: up, dst: client}} {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.read(d)
		}()
	}
}

// proxyConn is one proxied connection: both sockets, ended together.
type proxyConn struct {
	p         *latencyProxy
	a, b      net.Conn
	once      sync.Once
	done      chan struct{} // closed when the connection is torn down
	halfClose atomic.Int32  // directions whose FIN was delivered
}

func (c *proxyConn) abort() {
	c.once.Do(func() {
		close(c.done)
		c.a.Close()
		c.b.Close()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
}

func (c *proxyConn) aborted() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// direction is one way of a connection.
type direction struct {
	c        *proxyConn
	src, dst net.Conn
	// slow, when set, is the goroutine writing what dst could not take at
	// once; until it drained, everything for dst goes through it, in order.
	// Only the scheduler touches it.
	slow chan []chunk
}

// chunk is bytes read from one side, due on the other side at due. A chunk
// with eof set carries the end of the stream instead of bytes.
type chunk struct {
	d   *direction
	buf *[]byte
	n   int
	due time.Time
	eof bool
}

func (ch chunk) release() {
	if ch.buf != nil {
		chunkPool.Put(ch.buf)
	}
}

// read stamps and queues what src sends until EOF or an error. An error
// other than EOF tears the connection down at once.
func (p *latencyProxy) read(d *direction) {
	for {
		b := chunkPool.Get().(*[]byte)
		n, err := d.src.Read(*b)
		due := time.Now().Add(p.delay)
		if n > 0 {
			p.enqueue(chunk{d: d, buf: b, n: n, due: due})
		} else {
			chunkPool.Put(b)
		}
		if errors.Is(err, io.EOF) && !d.c.aborted() {
			p.enqueue(chunk{d: d, eof: true, due: due})
			return
		}
		if err != nil {
			d.c.abort()
			return
		}
	}
}

func (p *latencyProxy) enqueue(ch chunk) {
	p.qmu.Lock()
	p.queue = append(p.queue, ch)
	first := len(p.queue) == 1
	p.qmu.Unlock()
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// schedule is the single goroutine that delivers chunks when they are due.
func (p *latencyProxy) schedule(timer *delayTimer) {
	defer p.wg.Done()
	defer timer.Close()
	var (
		due     []chunk
		order   []*direction // directions in due, in first-chunk order
		byDir   = map[*direction][]chunk{}
		lead    time.Duration
		maxLead = min(p.delay/4, 200*time.Microsecond)
	)
	for {
		p.qmu.Lock()
		if len(p.queue) == 0 {
			p.qmu.Unlock()
			select {
			case <-p.wake:
				continue
			case <-p.quit:
				return
			}
		}
		head := p.queue[0].due
		p.qmu.Unlock()
		// The timer is armed lead early: lead is the running median of how
		// late it woke, so chunks go out on time at the median instead of
		// one wake-up late every time.
		target := head.Add(-lead)
		slept, err := timer.SleepUntil(target)
		if err != nil {
			// Cannot happen short of running out of file descriptors;
			// deliver late rather than never.
			time.Sleep(time.Until(head))
		}
		now := time.Now()
		if slept { // track the median wake-up latency: outliers (a descheduled process) move it one step only
			if now.Sub(target) > lead {
				lead = min(lead+leadStep, maxLead)
			} else {
				lead = max(lead-leadStep, 0)
			}
		}
		limit := now.Add(dueSlop)
		if head.After(limit) {
			limit = head // the head goes out now, even if the wake came early
		}
		p.qmu.Lock()
		k := 0
		for k < len(p.queue) && !p.queue[k].due.After(limit) {
			k++
		}
		due = append(due[:0], p.queue[:k]...)
		rest := copy(p.queue, p.queue[k:])
		clear(p.queue[rest:])
		p.queue = p.queue[:rest]
		p.qmu.Unlock()
		p.record(now.Sub(head))

		order = order[:0]
		for _, ch := range due {
			if _, ok := byDir[ch.d]; !ok {
				order = append(order, ch.d)
			}
			byDir[ch.d] = append(byDir[ch.d], ch)
		}
		for _, d := range order {
			p.deliver(d, byDir[d])
			delete(byDir, d)
		}
		clear(due)
	}
}

// record notes how late (negative: early) the head of a batch went out.
func (p *latencyProxy) record(late time.Duration) {
	p.latemu.Lock()
	defer p.latemu.Unlock()
	_ = p.late.RecordValue(max(late.Microseconds(), 0))
	p.wakes++
	p.lateSum += late
	if late < 0 {
		p.early++
	}
}

// deliver writes one direction's due chunks (and its FIN, if among them)
// without blocking the scheduler.
func (p *latencyProxy) deliver(d *direction, chs []chunk) {
	var n int64
	for _, ch := range chs {
		n += int64(ch.n)
	}
	p.chunks.Add(int64(len(chs)))
	p.bytes.Add(n)
	if d.c.aborted() {
		releaseAll(chs)
		return
	}
	if d.slow != nil {
		select {
		case d.slow <- append([]chunk(nil), chs...):
		case <-d.c.done:
			releaseAll(chs)
		}
		return
	}
	bufs := make([][]byte, 0, len(chs))
	eof := false
	for _, ch := range chs {
		if ch.eof {
			eof = true
		} else {
			bufs = append(bufs, (*ch.buf)[:ch.n])
		}
	}
	written, err := writeNow(d.dst, bufs)
	if err != nil {
		releaseAll(chs)
		d.c.abort()
		return
	}
	if written == n {
		releaseAll(chs)
		if eof {
			p.finish(d, d.dst)
		}
		return
	}
	// The socket is full: the rest goes through a goroutine that may block.
	p.stalls.Add(1)
	rest := skip(chs, written)
	d.slow = make(chan []chunk, 64)
	d.slow <- rest
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.slowWriter(d, d.slow)
	}()
}

// slowWriter writes a direction whose socket could not take a write at
// once, in order, until the direction ends.
func (p *latencyProxy) slowWriter(d *direction, in <-chan []chunk) {
	for {
		var chs []chunk
		select {
		case chs = <-in:
		case <-d.c.done:
			for {
				select {
				case chs := <-in:
					releaseAll(chs)
				default:
					return
				}
			}
		}
		for _, ch := range chs {
			if ch.eof {
				p.finish(d, d.dst)
				continue
			}
			_, err := d.dst.Write((*ch.buf)[:ch.n])
			ch.release()
			if err != nil {
				d.c.abort()
			}
		}
	}
}

// finish passes a half-close on; the connection ends when both directions
// did.
func (p *latencyProxy) finish(d *direction, dst net.Conn) {
	if cw, ok := dst.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		d.c.abort()
		return
	}
	if d.c.halfClose.Add(1) == 2 {
		d.c.abort()
	}
}

// writeNow writes bufs to c with one writev that never waits: it returns
// how much the socket took (all of it, unless its send buffer is full).
func writeNow(c net.Conn, bufs [][]byte) (int64, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		n, err := (*net.Buffers)(&bufs).WriteTo(c)
		return n, err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		n, werr = unix.Writev(int(fd), bufs)
		return true // never wait for the socket here
	})
	if errors.Is(werr, unix.EAGAIN) {
		return 0, nil
	}
	if werr != nil {
		return int64(max(n, 0)), werr
	}
	return int64(n), err
}

// skip drops the first n bytes of chs (written already), releasing the
// chunks that went out whole.
func skip(chs []chunk, n int64) []chunk {
	var out []chunk
	for _, ch := range chs {
		switch {
		case ch.eof:
			out = append(out, ch)
		case n >= int64(ch.n):
			n -= int64(ch.n)
			ch.release()
		default:
			if n > 0 {
				copy(*ch.buf, (*ch.buf)[n:ch.n])
				ch.n -= int(n)
				n = 0
			}
			out = append(out, ch)
		}
	}
	return out
}

func releaseAll(chs []chunk) {
	for _, ch := range chs {
		ch.release()
	}
}
