package synth

import (
	"testing"
)

var defectNames = map[defect]string{
	defectBirthDate:     "impossible date_of_birth",
	defectBookingDate:   "impossible booking_date",
	defectFareNA:        "fare N/A",
	defectFareThousands: "fare with a thousands separator",
	defectNoPassengerID: "empty passenger_id",
	defectShortLine:     "short line",
}

func TestDirtyCSVHasEveryDefect(t *testing.T) {
	const rows = 50_000
	_, records, stats := generateCSV(t, Options{Rows: rows, Seed: 21, Dirty: true})
	if len(records) != rows {
		t.Fatalf("records: got %d, want %d", len(records), rows)
	}

	kinds := map[defect]int{}
	for i, rec := range records {
		d := defectOf(rec)
		kinds[d]++
		if d == defectShortLine && (len(rec) < numCols-6 || len(rec) > numCols-2) {
			t.Errorf("record %d: short line of %d fields, want %d to %d",
				i, len(rec), numCols-6, numCols-2)
		}
	}
	dirty := rows - kinds[defectNone]
	if dirty != stats.DirtyRows {
		t.Errorf("rows showing a defect: got %d, Stats.DirtyRows %d", dirty, stats.DirtyRows)
	}
	if lo, hi := rows*2/1000, rows*6/1000; dirty < lo || dirty > hi {
		t.Errorf("dirty rows: got %d, want about 0.4%% (%d to %d)", dirty, lo, hi)
	}
	for d, name := range defectNames {
		if kinds[d] == 0 {
			t.Errorf("no row with defect %q in %d rows", name, rows)
		}
	}
}

func TestDirtyOnlySpoilsItsRows(t *testing.T) {
	opts := Options{Rows: 20_000, Seed: 22}
	_, clean, _ := generateCSV(t, opts)
	opts.Dirty = true
	_, dirty, _ := generateCSV(t, opts)

	for i, rec := range dirty {
		d := defectOf(rec)
		for col := range rec {
			switch {
			case col == colFirstName || col == colLastName:
				continue // messy but valid names are not defects
			case d == defectBirthDate && col == colDateOfBirth,
				d == defectBookingDate && col == colBookingDate,
				(d == defectFareNA || d == defectFareThousands) && col == colFare,
				d == defectNoPassengerID && col == colPassengerID:
				continue
			}
			if rec[col] != clean[i][col] {
				t.Fatalf("record %d (%s): %s is %q, %q in the clean export",
					i, defectNames[d], Columns[col], rec[col], clean[i][col])
			}
		}
	}
}

func TestImpossibleDates(t *testing.T) {
	r := newTestRand(1)
	for range 1000 {
		for _, y := range []int{1999, 2000, 2024, 2026} {
			got := impossibleDate(r, y)
			if validDate(string(got[:])) {
				t.Fatalf("impossibleDate(%d) = %s, a real date", y, got)
			}
		}
	}
}
