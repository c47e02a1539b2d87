package pipeline_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
)

func TestFindSubjectCountsMatchADirectCount(t *testing.T) {
	f := newFixture(t)
	path := f.gen(3000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	f.mustRun(f.spec(testSpec, synth.CSV))

	// The consenting passenger with the most bookings, counted in clear.
	recs := readCSV(t, path)
	id, consent := colIndex(t, recs[0], "passenger_id"), colIndex(t, recs[0], "marketing_consent")
	rows := map[string]int64{}
	for _, r := range recs[1:] {
		if r[consent] == "true" {
			rows[r[id]]++
		}
	}
	var who string
	for k, n := range rows {
		if n > rows[who] {
			who = k
		}
	}

	for _, tt := range []struct {
		name string
		id   string
		want int64
	}{
		{"frequent flyer", who, rows[who]},
		{"padded id", "  " + who + " ", rows[who]},
		{"unknown", "PAX000000000", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := pipeline.FindSubject(context.Background(), f.cat, f.ring, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 2 {
				t.Fatalf("got %d dataset versions, want 2", len(hits))
			}
			for _, h := range hits {
				if h.Rows != tt.want || h.Dataset != "bookings" {
					t.Errorf("version %d: got %d rows, want %d", h.Version, h.Rows, tt.want)
				}
			}
			if !hits[1].Current || hits[0].Current {
				t.Errorf("current flags = %v, %v; want false, true", hits[0].Current, hits[1].Current)
			}
		})
	}

	// A keyring whose key of the same name is another secret is refused.
	other, err := anonymize.InitKeyring(filepath.Join(t.TempDir(), "k.json"), []string{"crm-test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.FindSubject(context.Background(), f.cat, other, who); err == nil ||
		!errors.Is(err, anonymize.ErrUnknownKey) ||
		!strings.Contains(err.Error(), "does not hold the key the dataset used") {
		t.Errorf("err = %v, want a key mismatch", err)
	}
}
