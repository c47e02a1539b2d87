package synth

import (
	"bufio"
	"strings"
)

// csvEncoder writes RFC 4180 CSV: a header line, comma separators, LF line
// ends, and fields quoted only when they contain a comma, a quote or a
// line break.
type csvEncoder struct {
	w    *bufio.Writer
	line []byte
}

// csvMayQuote marks the columns whose text can need quoting; the others
// are built from digits, letters and a few safe symbols.
var csvMayQuote = [numCols]bool{colFirstName: true, colLastName: true, colFare: true}

func newCSVEncoder(w *bufio.Writer) (*csvEncoder, error) {
	if _, err := w.WriteString(strings.Join(Columns, ",") + "\n"); err != nil {
		return nil, err
	}
	return &csvEncoder{w: w}, nil
}

func (e *csvEncoder) writeRow(g *generator) error {
	rec := &g.rec
	line := e.line[:0]
	for i := range rec.n {
		if i > 0 {
			line = append(line, ',')
		}
		f := rec.field(i)
		if csvMayQuote[i] && csvNeedsQuote(f) {
			line = appendCSVQuoted(line, f)
		} else {
			line = append(line, f...)
		}
	}
	line = append(line, '\n')
	e.line = line
	_, err := e.w.Write(line)
	return err
}

func (e *csvEncoder) finish() error { return e.w.Flush() }

func (e *csvEncoder) release() {}

// csvNeedsQuote reports whether f contains a comma, a quote or a line
// break.
func csvNeedsQuote(f []byte) bool {
	for _, c := range f {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// appendCSVQuoted appends f in double quotes, doubling the quotes in it.
func appendCSVQuoted(b, f []byte) []byte {
	b = append(b, '"')
	for _, c := range f {
		if c == '"' {
			b = append(b, '"')
		}
		b = append(b, c)
	}
	return append(b, '"')
}
