// Package client is the Go client for game servers: one API over two
// transports, the gateway (NewGateway: HTTP, any network) and the cluster
// (cluster.DialCluster: joins through Consul without hosting profiles and
// sends actor messages straight to the owning node). It gives every call a
// deadline, retries what is safe to retry with capped exponential backoff
// and jitter, generates idempotency keys for updates (and the updates of a
// Batch) so their retries apply once, and returns the typed errors of
// package messages (errors.Is(err, messages.ErrStaleSession)). Batch and
// PollEvents keep a busy game server's request rate low: many players in
// one request, and one long poll for all their events. Neither this
// package nor package cluster links a store or a database driver (a test
// checks it); see the examples.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// Transport delivers requests: *cluster.ClientConn, or Gateway.
type Transport interface {
	Request(ctx context.Context, msg proto.Message) (proto.Message, error)
	Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error
}

// Options tunes a Client. Zero values take the defaults.
type Options struct {
	// Timeout bounds a whole call, retries included, when the caller's
	// context has no deadline (default 30 s).
	Timeout time.Duration
	// BaseBackoff and MaxBackoff bound the delay between retries
	// (defaults 50 ms and 2 s); each delay is drawn with full jitter.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// NewKey draws idempotency keys for updates sent without one
	// (default: 16 random bytes, hex).
	NewKey func() string
}

// Client calls a Hearth cluster. It is safe for concurrent use.
type Client struct {
	t Transport
	o Options
}

// New returns a client over t.
func New(t Transport, o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.NewKey == nil {
		o.NewKey = func() string {
			var b [16]byte
			_, _ = rand.Read(b[:])
			return hex.EncodeToString(b[:])
		}
	}
	return &Client{t: t, o: o}
}

// retryable reports whether a failed attempt may succeed when repeated:
// the node or store was unavailable, or the activation lost ownership (the
// next attempt reaches the new owner).
func retryable(err error) bool {
	var ce *messages.CodeError
	return errors.As(err, &ce) && messages.StatusOf(ce.Code).Retryable
}

// call sends req until it succeeds, fails with a non-retryable error, or
// the deadline passes. A response's Error is returned as a typed error.
func call[Res interface {
	proto.Message
	GetError() *hearthv1.Error
}](ctx context.Context, c *Client, req proto.Message) (Res, error) {
	var zero Res
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.o.Timeout)
		defer cancel()
	}
	backoff := c.o.BaseBackoff
	for attempt := 1; ; attempt++ {
		res, err := c.t.Request(ctx, req)
		if err == nil {
			out, ok := res.(Res)
			if !ok {
				return zero, fmt.Errorf("hearth: %T answered %T", req, res)
			}
			if err = messages.Err(out.GetError()); err == nil {
				return out, nil
			}
		}
		if !retryable(err) {
			return zero, err
		}
		wait := time.Duration(mrand.Int64N(int64(backoff))) + time.Millisecond
		var ce *messages.CodeError
		if errors.As(err, &ce) && ce.RetryAfter > wait {
			wait = ce.RetryAfter
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return zero, fmt.Errorf("hearth: gave up after %d attempts: %w", attempt, err)
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("hearth: gave up after %d attempts: %w", attempt, err)
		case <-time.After(wait):
		}
		backoff = min(2*backoff, c.o.MaxBackoff)
	}
}

// Acquire begins (or, for the same session id, reuses) a session.
func (c *Client) Acquire(ctx context.Context, req *hearthv1.AcquireRequest) (*hearthv1.AcquireResponse, error) {
	return call[*hearthv1.AcquireResponse](ctx, c, req)
}

// Heartbeat renews a session.
func (c *Client) Heartbeat(ctx context.Context, req *hearthv1.HeartbeatRequest) (*hearthv1.HeartbeatResponse, error) {
	return call[*hearthv1.HeartbeatResponse](ctx, c, req)
}

// Release ends a session after saving.
func (c *Client) Release(ctx context.Context, req *hearthv1.ReleaseRequest) (*hearthv1.ReleaseResponse, error) {
	return call[*hearthv1.ReleaseResponse](ctx, c, req)
}

// Get reads a document or a path.
func (c *Client) Get(ctx context.Context, req *hearthv1.GetRequest) (*hearthv1.GetResponse, error) {
	return call[*hearthv1.GetResponse](ctx, c, req)
}

// Update applies operations. An update without an idempotency key gets one
// (the same for every retry), so a retried update applies at most once.
func (c *Client) Update(ctx context.Context, req *hearthv1.UpdateRequest) (*hearthv1.UpdateResponse, error) {
	if req.GetIdempotencyKey() == "" {
		req = proto.CloneOf(req)
		req.IdempotencyKey = "client:" + c.o.NewKey()
	}
	return call[*hearthv1.UpdateResponse](ctx, c, req)
}

// Batch sends many independent operations, on many profiles, in one
// request: each item gets its own result (its response's Error says if it
// failed). Update items without an idempotency key get one, so a batch
// retried after an UNAVAILABLE applies each update at most once. Only a
// batch refused or lost as a whole is an error.
func (c *Client) Batch(ctx context.Context, req *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error) {
	req = proto.CloneOf(req)
	for _, it := range req.GetItems() {
		if u := it.GetUpdate(); u != nil && u.GetIdempotencyKey() == "" {
			u.IdempotencyKey = "client:" + c.o.NewKey()
		}
	}
	return call[*hearthv1.BatchResponse](ctx, c, req)
}

// PollEvents returns the events of many profiles after their cursors,
// waiting up to req.WaitMs when there are none (a long poll). Give the
// call a deadline longer than the wait.
func (c *Client) PollEvents(ctx context.Context, req *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error) {
	return call[*hearthv1.PollEventsResponse](ctx, c, req)
}

// Purchase grants a purchase once per receipt id.
func (c *Client) Purchase(ctx context.Context, req *hearthv1.PurchaseRequest) (*hearthv1.PurchaseResponse, error) {
	return call[*hearthv1.PurchaseResponse](ctx, c, req)
}

// ListPurchases pages through the purchase history.
func (c *Client) ListPurchases(ctx context.Context, req *hearthv1.ListPurchasesRequest) (*hearthv1.ListPurchasesResponse, error) {
	return call[*hearthv1.ListPurchasesResponse](ctx, c, req)
}

// Save flushes a profile now.
func (c *Client) Save(ctx context.Context, req *hearthv1.SaveRequest) (*hearthv1.SaveResponse, error) {
	return call[*hearthv1.SaveResponse](ctx, c, req)
}

// Delete erases a profile.
func (c *Client) Delete(ctx context.Context, req *hearthv1.DeleteRequest) (*hearthv1.DeleteResponse, error) {
	return call[*hearthv1.DeleteResponse](ctx, c, req)
}

// Status reports an activation's state.
func (c *Client) Status(ctx context.Context, req *hearthv1.StatusRequest) (*hearthv1.StatusResponse, error) {
	return call[*hearthv1.StatusResponse](ctx, c, req)
}

// ListVersions lists retained snapshots.
func (c *Client) ListVersions(ctx context.Context, req *hearthv1.ListVersionsRequest) (*hearthv1.ListVersionsResponse, error) {
	return call[*hearthv1.ListVersionsResponse](ctx, c, req)
}

// GetVersion reads a retained snapshot.
func (c *Client) GetVersion(ctx context.Context, req *hearthv1.GetVersionRequest) (*hearthv1.GetVersionResponse, error) {
	return call[*hearthv1.GetVersionResponse](ctx, c, req)
}

// Restore makes a retained snapshot current.
func (c *Client) Restore(ctx context.Context, req *hearthv1.RestoreRequest) (*hearthv1.RestoreResponse, error) {
	return call[*hearthv1.RestoreResponse](ctx, c, req)
}

// Watch calls fn with the profile's events until ENDED, ctx ends, or fn
// fails. It does not re-watch after ENDED: the caller decides.
func (c *Client) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	return c.t.Watch(ctx, ref, fn)
}
