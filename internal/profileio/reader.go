package profileio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errLineTooLong: a line is over the size limit; the rest of it was skipped.
var errLineTooLong = errors.New("line too long")

// lineReader reads newline-terminated lines of at most max bytes. A longer
// line is skipped to its end and reported, so one bad line does not end
// the import.
type lineReader struct {
	r    *bufio.Reader
	max  int
	no   int   // number of the last line returned (1-based)
	read int64 // bytes consumed so far
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its newline (and a trailing CR), its
// number, and errLineTooLong for an oversized line; io.EOF at the end.
func (l *lineReader) next() ([]byte, int, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.read += int64(len(chunk))
		if !tooLong {
			if len(buf)+len(chunk) > l.max+2 { // room for "\r\n"
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil || errors.Is(err, io.EOF) && (len(buf) > 0 || tooLong):
			l.no++
			if tooLong {
				return nil, l.no, fmt.Errorf("%w: over %d bytes", errLineTooLong, l.max)
			}
			return bytes.TrimRight(buf, "\r\n"), l.no, nil
		default:
			return nil, l.no, err
		}
	}
}
