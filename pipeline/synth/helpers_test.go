package synth

import (
	"bytes"
	"context"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// generate returns the export of opts as bytes.
func generate(t testing.TB, opts Options) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	stats, err := Write(context.Background(), &buf, opts)
	if err != nil {
		t.Fatalf("Write(%+v): %v", opts, err)
	}
	return buf.Bytes(), stats
}

// generateCSV returns the header and the records of a CSV export of
// opts, parsed with encoding/csv. Records may be short in dirty exports.
func generateCSV(t testing.TB, opts Options) (header []string, records [][]string, stats Stats) {
	t.Helper()
	opts.Format = CSV
	data, stats := generate(t, opts)
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	all, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parsing CSV of %+v: %v", opts, err)
	}
	if len(all) == 0 {
		t.Fatalf("CSV of %+v has no header", opts)
	}
	return all[0], all[1:], stats
}

// passengerColumns are the columns that hold a passenger's own
// attributes, the same in every row of that passenger.
var passengerColumns = []int{
	colFirstName, colLastName, colEmail, colPhone, colPassport, colDateOfBirth,
	colGender, colNationality, colFFNumber, colFFTier, colHomeAirport, colPostcode,
	colCardNumber, colCurrency, colConsent, colConsentTime,
}

// validDate reports whether s is a real calendar date "YYYY-MM-DD".
func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// defectOf classifies a CSV record of a dirty export by the defect it
// shows, from its text alone.
func defectOf(rec []string) defect {
	switch {
	case len(rec) < numCols:
		return defectShortLine
	case rec[colPassengerID] == "":
		return defectNoPassengerID
	case !validDate(rec[colDateOfBirth]):
		return defectBirthDate
	case !validDate(rec[colBookingDate]):
		return defectBookingDate
	case rec[colFare] == "N/A":
		return defectFareNA
	case strings.Contains(rec[colFare], ","):
		return defectFareThousands
	}
	return defectNone
}

// newTestRand returns a seeded generator for unit tests.
func newTestRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0))
}

// stoppingWriter accepts after bytes, then fails with err if it is set,
// and calls cancel if it is set.
type stoppingWriter struct {
	after  int
	err    error
	cancel context.CancelFunc
}

func (w *stoppingWriter) Write(p []byte) (int, error) {
	if w.after > len(p) {
		w.after -= len(p)
		return len(p), nil
	}
	if w.cancel != nil {
		w.cancel()
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}
