package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
)

func TestNDJSONMatchesCSV(t *testing.T) {
	for _, dirty := range []bool{false, true} {
		t.Run(fmt.Sprintf("dirty=%v", dirty), func(t *testing.T) {
			opts := Options{Rows: 8_000, Seed: 31, Dirty: dirty}
			_, want, _ := generateCSV(t, opts)
			opts.Format = NDJSON
			data, _ := generate(t, opts)

			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			i, fareTexts := 0, 0
			for ; sc.Scan(); i++ {
				var whole map[string]any
				if err := json.Unmarshal(sc.Bytes(), &whole); err != nil {
					t.Fatalf("line %d does not decode: %v: %s", i, err, sc.Bytes())
				}
				keys, vals := decodeOrdered(t, sc.Bytes())
				if !slices.Equal(keys, Columns[:len(keys)]) {
					t.Fatalf("line %d: keys %q, want a prefix of Columns", i, keys)
				}
				d := defectOf(want[i])
				fareText := d == defectFareNA || d == defectFareThousands
				fareTexts += boolInt(fareText)
				got := make([]string, len(vals))
				for col, v := range vals {
					text, err := jsonText(col, v, fareText)
					if err != nil {
						t.Fatalf("line %d: %v", i, err)
					}
					got[col] = text
				}
				if !slices.Equal(got, want[i]) {
					t.Fatalf("line %d: got %q, want the CSV record %q", i, got, want[i])
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if i != opts.Rows {
				t.Errorf("lines: got %d, want %d", i, opts.Rows)
			}
			if dirty && fareTexts == 0 {
				t.Error("dirty export: no fare_amount written as a string")
			}
		})
	}
}

// jsonText checks the JSON type of column col's value and returns the
// value as CSV writes it. fareText says whether the fare is a defect that
// is written as a string.
func jsonText(col int, v any, fareText bool) (string, error) {
	switch v := v.(type) {
	case json.Number:
		if col != colFare && col != colAncillary || col == colFare && fareText {
			return "", fmt.Errorf("%s is the number %s", Columns[col], v)
		}
		return v.String(), nil
	case bool:
		if col != colConsent {
			return "", fmt.Errorf("%s is the boolean %v", Columns[col], v)
		}
		return strconv.FormatBool(v), nil
	case string:
		if col == colConsent || col == colAncillary || col == colFare && !fareText {
			return "", fmt.Errorf("%s is the string %q", Columns[col], v)
		}
		return v, nil
	}
	return "", fmt.Errorf("%s has type %T", Columns[col], v)
}

// decodeOrdered returns the keys and values of a flat JSON object in the
// order they appear, numbers as json.Number.
func decodeOrdered(t *testing.T, line []byte) (keys []string, vals []any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("object start: got %v, %v", tok, err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		v, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		vals = append(vals, v)
	}
	return keys, vals
}
