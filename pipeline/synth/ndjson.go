package synth

import (
	"bufio"
	"strconv"
)

// ndjsonEncoder writes one JSON object per line with the keys of Columns
// in order. Amounts are JSON numbers, marketing_consent a JSON boolean and
// every other field a string; a defective fare is written as a string.
type ndjsonEncoder struct {
	w    *bufio.Writer
	line []byte
}

// ndjsonKeys holds, for each column, the text before its value:
// `{"passenger_id":` for the first and `,"first_name":` for the others.
var ndjsonKeys = func() [numCols]string {
	var keys [numCols]string
	for i, c := range Columns {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		keys[i] = sep + strconv.Quote(c) + ":"
	}
	return keys
}()

// ndjsonEscape marks the columns whose text can hold characters that JSON
// strings must escape; the others are plain ASCII without quotes or
// backslashes.
var ndjsonEscape = [numCols]bool{colFirstName: true, colLastName: true}

func newNDJSONEncoder(w *bufio.Writer) *ndjsonEncoder {
	return &ndjsonEncoder{w: w}
}

func (e *ndjsonEncoder) writeRow(g *generator) error {
	rec := &g.rec
	line := e.line[:0]
	for i := range rec.n {
		line = append(line, ndjsonKeys[i]...)
		f := rec.field(i)
		switch {
		case i == colConsent,
			i == colAncillary,
			i == colFare && !g.bk.fareIsText():
			line = append(line, f...)
		case ndjsonEscape[i]:
			line = appendJSONString(line, f)
		default:
			line = append(line, '"')
			line = append(line, f...)
			line = append(line, '"')
		}
	}
	line = append(line, '}', '\n')
	e.line = line
	_, err := e.w.Write(line)
	return err
}

func (e *ndjsonEncoder) finish() error { return e.w.Flush() }

func (e *ndjsonEncoder) release() {}

// appendJSONString appends s as a JSON string. Quotes, backslashes and
// control characters are escaped; other UTF-8 is copied as is. s must be
// valid UTF-8.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
