package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hearth-profiles/hearth/messages"
)

// stats collects per-request latency (HDR histograms, microseconds, from
// send to acknowledgement) and outcomes, overall and per operation.
type stats struct {
	mu     sync.Mutex
	start  time.Time
	all    *hdrhistogram.Histogram
	byOp   map[string]*hdrhistogram.Histogram
	errors map[string]int64
	ops    int64
	window *hdrhistogram.Histogram // since the last progress line
	winOps int64
}

func newStats(now time.Time) *stats {
	return &stats{start: now, all: newHist(), byOp: map[string]*hdrhistogram.Histogram{}, errors: map[string]int64{}, window: newHist()}
}

// maxTrackedMicros is the longest latency the histograms hold (60 s).
const maxTrackedMicros = 60_000_000

// newHist tracks 1 µs to 60 s with 3 significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxTrackedMicros, 3) }

// record notes one acknowledged (or finally failed) request.
func (s *stats) record(op string, took time.Duration, err error) {
	us := min(max(took.Microseconds(), 1), maxTrackedMicros) // out-of-range samples count at the edge
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors[errorCode(err)]++
		return
	}
	s.ops++
	s.winOps++
	_ = s.all.RecordValue(us)
	_ = s.window.RecordValue(us)
	h, ok := s.byOp[op]
	if !ok {
		h = newHist()
		s.byOp[op] = h
	}
	_ = h.RecordValue(us)
}

func errorCode(err error) string {
	var ce *messages.CodeError
	if errors.As(err, &ce) {
		return ce.Code.String()
	}
	return "TRANSPORT"
}

// progress writes one progress line for the last window.
func (s *stats) progress(w io.Writer, since time.Duration, extra string, inPlace bool) {
	s.mu.Lock()
	ops, p50, p99 := s.winOps, s.window.ValueAtQuantile(50), s.window.ValueAtQuantile(99)
	var errs int64
	for _, v := range s.errors {
		errs += v
	}
	s.winOps = 0
	s.window.Reset()
	total := s.ops
	s.mu.Unlock()
	line := fmt.Sprintf("%6.0fs  %8.0f ops/s  p50 %6.2f ms  p99 %7.2f ms  ops %d  errors %d%s",
		time.Since(s.start).Seconds(), float64(ops)/since.Seconds(), float64(p50)/1000, float64(p99)/1000, total, errs, extra)
	if inPlace {
		fmt.Fprintf(w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(w, line)
	}
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	N    int64   `json:"count"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return Latency{P50: ms(h.ValueAtQuantile(50)), P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), N: h.TotalCount()}
}

func (s *stats) snapshot(elapsed time.Duration) (ops int64, perSec float64, overall Latency, byOp map[string]Latency, errs map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byOp = map[string]Latency{}
	names := make([]string, 0, len(s.byOp))
	for k := range s.byOp {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		byOp[k] = summarize(s.byOp[k])
	}
	errs = map[string]int64{}
	for k, v := range s.errors {
		errs[k] = v
	}
	return s.ops, float64(s.ops) / elapsed.Seconds(), summarize(s.all), byOp, errs
}
