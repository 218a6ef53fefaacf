package profileio

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sync"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/internal/docupgrade"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// Gateway is what an import needs of the API (cluster/client.Client).
type Gateway interface {
	Status(ctx context.Context, req *hearthv1.StatusRequest) (*hearthv1.StatusResponse, error)
	Get(ctx context.Context, req *hearthv1.GetRequest) (*hearthv1.GetResponse, error)
	Update(ctx context.Context, req *hearthv1.UpdateRequest) (*hearthv1.UpdateResponse, error)
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Namespace is used for lines that name none (Roblox lines).
	Namespace string
	// Force writes profiles a live session holds (the holder learns of the
	// change through its events, as of any update without its token).
	Force bool
	// Policy, if set, gives each namespace's migrations and template: a
	// document is migrated from its line's schema version to the current
	// one and reconciled before it is written, as a node does on load. If
	// nil, documents are written as they are, taken to be at the node's
	// current schema.
	Policy func(namespace string) docupgrade.Policy
	// Workers is how many lines are written at once (default 4). Lines of
	// one profile go to one worker, in file order.
	Workers int
	// MaxLineBytes caps a line (default 16 MiB).
	MaxLineBytes int
	// Progress, if set, is called with the bytes read so far.
	Progress func(read int64)
}

// Outcome is what happened to one line.
type Outcome string

const (
	Imported  Outcome = "imported"  // written
	Duplicate Outcome = "duplicate" // written by an earlier run: nothing changed
	Refused   Outcome = "refused"   // held by a live session (and not forced)
	Failed    Outcome = "failed"    // the line or its write failed
)

// LineResult reports one line.
type LineResult struct {
	Line    int     `json:"line"`
	Profile string  `json:"profile,omitempty"` // namespace/id, when the line named one
	Shape   string  `json:"shape,omitempty"`
	Outcome Outcome `json:"outcome"`
	// Version is the document version after the write (imported and
	// duplicate).
	Version int64 `json:"version,omitempty"`
	// Holder is the session holding a refused profile.
	Holder string `json:"holder,omitempty"`
	// Code is the API's error code of a failed write, if it gave one.
	Code     string   `json:"code,omitempty"`
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// ImportSummary counts the lines by outcome.
type ImportSummary struct {
	Lines      int `json:"lines"`
	Imported   int `json:"imported"`
	Duplicates int `json:"duplicates"`
	Refused    int `json:"refused"`
	Failed     int `json:"failed"`
	// Warned counts lines that dropped something (their warnings say what).
	Warned int `json:"warned"`
}

// ErrGatewayFailing: the import stopped because the gateway refuses the
// credentials or keeps failing; the lines after the reported ones were
// not tried.
var ErrGatewayFailing = errors.New("import stopped")

// maxUnavailable is how many writes in a row may fail as unavailable
// (after the client's own retries) before the import stops.
const maxUnavailable = 10

// Import reads NDJSON lines from r (ParseLine) and writes each profile
// through gw as one durable Update: the whole document set at "" and its
// user ids added, with IdempotencyKey. Before writing it asks Status who
// holds the profile and refuses one a live session holds unless
// o.Force. A bad line or a failed write is reported (onLine, called from
// one goroutine at a time) and the import goes on; the error return is for
// reading r, ctx, and ErrGatewayFailing.
func Import(ctx context.Context, gw Gateway, r io.Reader, o ImportOptions, onLine func(LineResult)) (ImportSummary, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 16 << 20
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	im := &importer{gw: gw, o: o, onLine: onLine, cancel: cancel}

	queues := make([]chan job, o.Workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan job, 16)
		wg.Add(1)
		go func(q chan job) {
			defer wg.Done()
			for j := range q {
				if ctx.Err() != nil {
					continue // stopped: drain the queue without writing
				}
				im.report(im.write(ctx, j))
			}
		}(queues[i])
	}
	seed := maphash.MakeSeed()
	lr := newLineReader(r, o.MaxLineBytes)
	var readErr error
	for ctx.Err() == nil {
		line, no, err := lr.next()
		if o.Progress != nil {
			o.Progress(lr.read)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			readErr = fmt.Errorf("read line %d: %w", no+1, err)
			break
		}
		if err == nil && len(trimSpace(line)) == 0 {
			continue
		}
		j := job{no: no}
		if err == nil {
			j.rec, err = ParseLine(line, o.Namespace)
		}
		if err != nil {
			im.report(LineResult{Line: no, Outcome: Failed, Error: err.Error()})
			continue
		}
		q := queues[maphash.String(seed, j.rec.Key.String())%uint64(len(queues))]
		select {
		case q <- j:
		case <-ctx.Done():
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if readErr != nil {
		return im.sum, readErr
	}
	if cause := context.Cause(ctx); cause != nil {
		return im.sum, cause
	}
	return im.sum, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

type job struct {
	no  int
	rec Record
}

type importer struct {
	gw     Gateway
	o      ImportOptions
	onLine func(LineResult)
	cancel context.CancelCauseFunc

	mu          sync.Mutex
	sum         ImportSummary
	unavailable int // writes in a row that failed as unavailable
}

// report counts and hands on one line's result.
func (im *importer) report(res LineResult) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sum.Lines++
	switch res.Outcome {
	case Imported:
		im.sum.Imported++
	case Duplicate:
		im.sum.Duplicates++
	case Refused:
		im.sum.Refused++
	case Failed:
		im.sum.Failed++
	}
	if len(res.Warnings) > 0 {
		im.sum.Warned++
	}
	switch res.Code {
	case hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED.String(), hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED.String():
		im.cancel(fmt.Errorf("%w at line %d: the gateway refuses the token: %s", ErrGatewayFailing, res.Line, res.Error))
	case hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE.String(), "transport":
		im.unavailable++
		if im.unavailable >= maxUnavailable {
			im.cancel(fmt.Errorf("%w at line %d: %d writes in a row failed as unavailable; the last: %s",
				ErrGatewayFailing, res.Line, im.unavailable, res.Error))
		}
	default:
		im.unavailable = 0
	}
	if im.onLine != nil {
		im.onLine(res)
	}
}

// write imports one parsed line.
func (im *importer) write(ctx context.Context, j job) LineResult {
	rec := j.rec
	res := LineResult{Line: j.no, Profile: rec.Key.String(), Shape: rec.Shape, Warnings: rec.Warnings}
	fail := func(err error) LineResult {
		res.Outcome, res.Error = Failed, err.Error()
		var ce *messages.CodeError
		switch {
		case errors.As(err, &ce):
			res.Code = ce.Code.String()
		case ctx.Err() == nil && !errors.Is(err, ErrBadLine):
			res.Code = "transport" // the request did not get an API answer
		}
		return res
	}
	doc, err := im.prepare(rec)
	if err != nil {
		return fail(err)
	}
	ref := &hearthv1.ProfileRef{Namespace: rec.Key.Namespace, Id: rec.Key.ID}
	if !im.o.Force {
		holder, err := im.holder(ctx, ref)
		if err != nil {
			return fail(fmt.Errorf("check the session holder: %w", err))
		}
		if holder != "" {
			res.Outcome, res.Holder = Refused, holder
			res.Error = fmt.Sprintf("held by session %q; import it with --force to write it anyway", holder)
			return res
		}
	}
	up, err := im.gw.Update(ctx, &hearthv1.UpdateRequest{
		Profile:        ref,
		Operations:     []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "", Value: string(doc)}},
		AddUserIds:     rec.UserIDs,
		IdempotencyKey: IdempotencyKey(rec.Key, doc, rec.UserIDs),
		Durability:     hearthv1.Durability_DURABILITY_DURABLE,
	})
	if err != nil {
		return fail(err)
	}
	res.Outcome, res.Version = Imported, up.GetVersion()
	if up.GetDuplicate() {
		res.Outcome = Duplicate
	}
	return res
}

// prepare returns the document to write: upgraded by the namespace's
// policy, or as it is.
func (im *importer) prepare(rec Record) ([]byte, error) {
	if im.o.Policy == nil {
		doc, err := document.Encode(rec.Document)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadLine, err)
		}
		return doc, nil
	}
	up, err := docupgrade.Upgrade(im.o.Policy(rec.Key.Namespace), rec.Document, rec.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: schema %d: %w", ErrBadLine, rec.Schema, err)
	}
	return up.Document, nil
}

// holder returns the session holding ref, "" for none (or a profile that
// does not exist). Status answers it for a loaded profile; a stored
// profile that is not loaded may still carry a session in its snapshot (a
// session outlives a drain), so it is loaded with a read first.
func (im *importer) holder(ctx context.Context, ref *hearthv1.ProfileRef) (string, error) {
	st, err := im.gw.Status(ctx, &hearthv1.StatusRequest{Profile: ref})
	if errors.Is(err, messages.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if st.GetLoaded() {
		return st.GetSessionHolder(), nil
	}
	if _, err := im.gw.Get(ctx, &hearthv1.GetRequest{Profile: ref}); err != nil {
		if errors.Is(err, messages.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	if st, err = im.gw.Status(ctx, &hearthv1.StatusRequest{Profile: ref}); err != nil {
		return "", err
	}
	if !st.GetLoaded() {
		return "", errors.New("the profile did not stay loaded long enough to read its session; retry")
	}
	return st.GetSessionHolder(), nil
}
