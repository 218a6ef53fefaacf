package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// ack is one probe write as its caller saw it.
type ack struct {
	n       int // the write sets /p<n>
	profile int
	sent    time.Time
	done    time.Time
	outcome string // see outcome
	err     error
}

// prober sends a memory-lane write to one gateway every interval, each on
// its own goroutine, so requests keep being sent (and pile up) while the
// node does not answer. Each write sets a key of its own, so whether it
// survived can be checked afterwards.
type prober struct {
	client   hearthv1connect.ProfileServiceClient
	profiles []int
	stop     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex
	acks     []ack
}

func startProber(client hearthv1connect.ProfileServiceClient, profiles []int, every time.Duration) *prober {
	p := &prober{client: client, profiles: profiles, stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.done.Add(1)
			go func() {
				defer p.done.Done()
				p.one(n)
			}()
		}
	}()
	return p
}

func (p *prober) one(n int) {
	prof := p.profiles[n%len(p.profiles)]
	a := ack{n: n, profile: prof, sent: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.client.Update(ctx, connect.NewRequest(&hearthv1.UpdateRequest{
		Profile: profileRef(prof), IdempotencyKey: fmt.Sprint("probe-", n),
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: fmt.Sprint("/p", n), Value: "1"}},
	}))
	a.done = time.Now()
	if err == nil && res.Msg.GetError() != nil {
		err = messages.Err(res.Msg.GetError())
	}
	a.err = err
	a.outcome = outcome(err)
	p.mu.Lock()
	p.acks = append(p.acks, a)
	p.mu.Unlock()
}

// outcome classifies an answer: "ok"; "refused" when the node answered
// UNAVAILABLE or FENCED (in the body or as the transport status: a stale
// node's refusal, or a draining one's); "transport" when no answer came
// (connection refused or cut); otherwise the code.
func outcome(err error) string {
	var ce *messages.CodeError
	var cerr *connect.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, messages.ErrUnavailable), errors.Is(err, messages.ErrFenced):
		return "refused"
	case errors.As(err, &ce):
		return ce.Code.String()
	case errors.As(err, &cerr) && cerr.Code() == connect.CodeUnavailable &&
		(strings.Contains(cerr.Message(), "lease may have lapsed") || strings.Contains(cerr.Message(), "draining")):
		return "refused"
	case errors.As(err, &cerr):
		switch cerr.Code() {
		case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeInternal, connect.CodeCanceled, connect.CodeDeadlineExceeded:
			return "transport" // no answer: refused, reset or cut connection
		}
		return cerr.Code().String()
	default:
		return "transport"
	}
}

// finish stops sending and waits for every probe's answer.
func (p *prober) finish() []ack {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acks
}

// documentKeys reads a profile's document through c and returns its keys.
func documentKeys(t *testing.T, c hearthv1connect.ProfileServiceClient, prof int) map[string]json.RawMessage {
	t.Helper()
	res, err := c.Get(context.Background(), connect.NewRequest(&hearthv1.GetRequest{Profile: profileRef(prof)}))
	if err != nil || res.Msg.GetError() != nil {
		t.Fatalf("profile %d: %v %v", prof, err, res)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(res.Msg.GetValue()), &doc); err != nil {
		t.Fatalf("profile %d: %v", prof, err)
	}
	return doc
}
