package gateway

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// BodyDeadline gives every request with a body timeout to deliver all of
// it: a client that sends half a body and stalls is cut off instead of
// holding its connection (and a goroutine) forever. The deadline is lifted
// once the body has been read to its end, so a long answer (an Acquire
// that waits, a Watch stream) is not cut: http.Server.ReadTimeout cannot
// do that, it would end every stream after the timeout. A zero timeout
// leaves h as it is.
func BodyDeadline(timeout time.Duration, h http.Handler) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			h.ServeHTTP(w, r) // a writer without deadlines (tests' recorders)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}

// isTimeout reports whether a body read failed on the read deadline.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
