package synth

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// Patterns of the identifier columns.
var fieldPatterns = map[int]*regexp.Regexp{
	colPassengerID: regexp.MustCompile(`^PAX[1-9][0-9]{8}$`),
	colEmail:       regexp.MustCompile(`^[a-z._]+[0-9]+@([a-z]+\.)?example\.(com|org|net)$`),
	colPhone:       regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`),
	colPassport:    regexp.MustCompile(`^[A-Z]{2}[0-9]{7}$`),
	colGender:      regexp.MustCompile(`^[FMX]$`),
	colNationality: regexp.MustCompile(`^[A-Z]{2}$`),
	colFFNumber:    regexp.MustCompile(`^(FF[0-9]{10})?$`),
	colFFTier:      regexp.MustCompile(`^(none|blue|silver|gold|platinum)$`),
	colHomeAirport: regexp.MustCompile(`^[A-Z]{3}$`),
	colPostcode:    regexp.MustCompile(`^[0-9A-Z -]*$`),
	colBookingRef:  regexp.MustCompile(`^[0-9A-Z]{6}$`),
	colCabin:       regexp.MustCompile(`^(economy|premium_economy|business|first)$`),
	colFare:        regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
	colAncillary:   regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
	colCurrency:    regexp.MustCompile(`^(EUR|USD|GBP|SGD)$`),
	colChannel:     regexp.MustCompile(`^(web|app|agent|call_center)$`),
	colConsent:     regexp.MustCompile(`^(true|false)$`),
	colCampaign:    regexp.MustCompile(`^(|summer-2026|winter-sun|black-friday|ff-double-miles)$`),
}

func TestFieldsLookReal(t *testing.T) {
	_, records, _ := generateCSV(t, Options{Rows: 20_000, Seed: 11})
	refs := map[string]bool{}
	for i, rec := range records {
		for col, re := range fieldPatterns {
			if !re.MatchString(rec[col]) {
				t.Fatalf("record %d: %s = %q does not match %s", i, Columns[col], rec[col], re)
			}
		}
		if refs[rec[colBookingRef]] {
			t.Fatalf("record %d: booking_ref %s repeats", i, rec[colBookingRef])
		}
		refs[rec[colBookingRef]] = true

		dob := mustDate(t, rec[colDateOfBirth])
		booked := mustDate(t, rec[colBookingDate])
		flies := mustDate(t, rec[colFlightDate])
		if dob.Year() < 1940 || dob.Year() > 2008 {
			t.Errorf("record %d: date_of_birth %s outside 1940–2008", i, rec[colDateOfBirth])
		}
		if booked.Before(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) ||
			booked.After(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("record %d: booking_date %s outside 2025-01-01..2026-11-30", i, rec[colBookingDate])
		}
		if lead := flies.Sub(booked).Hours() / 24; lead < 1 || lead > 300 {
			t.Errorf("record %d: flight %v days after booking, want 1 to 300", i, lead)
		}
		if rec[colOrigin] == rec[colDestination] {
			t.Errorf("record %d: origin and destination both %s", i, rec[colOrigin])
		}
		if (rec[colFFNumber] == "") != (rec[colFFTier] == "none") {
			t.Errorf("record %d: ff_number %q with tier %q", i, rec[colFFNumber], rec[colFFTier])
		}
		checkConsent(t, i, rec)
		checkFare(t, i, rec)
	}
}

// checkConsent checks that the timestamp is set exactly when consent is.
func checkConsent(t *testing.T, i int, rec []string) {
	t.Helper()
	ts := rec[colConsentTime]
	if rec[colConsent] == "false" {
		if ts != "" {
			t.Errorf("record %d: consent_timestamp %q without consent", i, ts)
		}
		return
	}
	if _, err := time.Parse("2006-01-02T15:04:05Z", ts); err != nil {
		t.Errorf("record %d: consent_timestamp %q: %v", i, ts, err)
	}
}

// checkFare checks that the fare is within its cabin's range and the
// ancillary amount within 0–400.
func checkFare(t *testing.T, i int, rec []string) {
	t.Helper()
	limits := map[string][2]float64{
		"economy": {60, 1500}, "premium_economy": {120, 3200},
		"business": {350, 8000}, "first": {900, 9000},
	}
	fare, _ := strconv.ParseFloat(rec[colFare], 64)
	lim := limits[rec[colCabin]]
	if fare < lim[0] || fare > lim[1] {
		t.Errorf("record %d: %s fare %s outside %v", i, rec[colCabin], rec[colFare], lim)
	}
	if anc, _ := strconv.ParseFloat(rec[colAncillary], 64); anc < 0 || anc > 400 {
		t.Errorf("record %d: ancillary_amount %s outside 0–400", i, rec[colAncillary])
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatalf("date %q: %v", s, err)
	}
	return d
}

func TestCardNumbersPassLuhn(t *testing.T) {
	_, records, _ := generateCSV(t, Options{Rows: 20_000, Seed: 12})
	lengths := map[int]int{}
	for i, rec := range records {
		card := rec[colCardNumber]
		lengths[len(card)]++
		if !luhnValid(card) {
			t.Fatalf("record %d: card %s fails the Luhn test", i, card)
		}
		ok := len(card) == 16 && (card[0] == '4' || card[0] == '5' && card[1] >= '1' && card[1] <= '5') ||
			len(card) == 15 && (card[:2] == "34" || card[:2] == "37") ||
			len(card) == 19 && card[0] == '4'
		if !ok {
			t.Fatalf("record %d: card %s has an unexpected length or prefix", i, card)
		}
	}
	if lengths[15] == 0 || lengths[19] == 0 || lengths[16] < lengths[15]+lengths[19] {
		t.Errorf("card lengths: got %v, want mostly 16 with some 15 and 19", lengths)
	}
}

// luhnValid reports whether a digit string passes the Luhn test.
func luhnValid(s string) bool {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func TestNamesAndBirthDays(t *testing.T) {
	_, records, _ := generateCSV(t, Options{Rows: 20_000, Seed: 13})
	var leapDays, nonASCII, han int
	for _, rec := range records {
		if strings.HasSuffix(rec[colDateOfBirth], "-02-29") {
			leapDays++
		}
		name := rec[colFirstName] + rec[colLastName]
		if strings.IndexFunc(name, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
			nonASCII++
		}
		if strings.IndexFunc(name, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
			han++
		}
	}
	if leapDays == 0 {
		t.Error("no date_of_birth on 29 February in 20,000 rows")
	}
	if nonASCII < len(records)/20 || han == 0 {
		t.Errorf("rows with non-ASCII names: got %d (%d in Han script), want at least %d and some Han",
			nonASCII, han, len(records)/20)
	}
}

func TestBookingsPerPassengerAreHeavyTailed(t *testing.T) {
	_, records, stats := generateCSV(t, Options{Rows: 200_000, Seed: 14})
	counts := map[string]int{}
	for _, rec := range records {
		counts[rec[colPassengerID]]++
	}
	if len(counts) != stats.Passengers {
		t.Errorf("distinct passenger_id: got %d, Stats.Passengers %d", len(counts), stats.Passengers)
	}
	if lo, hi := 200_000/4, 200_000/2; len(counts) < lo || len(counts) > hi {
		t.Errorf("passengers: got %d, want about a third of the rows (%d to %d)", len(counts), lo, hi)
	}

	n := make([]int, 0, len(counts))
	for _, c := range counts {
		n = append(n, c)
	}
	slices.Sort(n)
	if most := n[len(n)-1]; most < 100 {
		t.Errorf("largest passenger: got %d bookings, want >= 100", most)
	}
	if median := n[len(n)/2]; median > 3 {
		t.Errorf("median passenger: got %d bookings, want <= 3", median)
	}
}

func TestPassengerAttributesAreConstant(t *testing.T) {
	_, records, _ := generateCSV(t, Options{Rows: 50_000, Seed: 15, Dirty: true})
	first := map[string][]string{}
	emails := map[string]string{}
	repeated := 0
	for i, rec := range records {
		if defectOf(rec) != defectNone {
			continue
		}
		id := rec[colPassengerID]
		seen, ok := first[id]
		if !ok {
			first[id] = rec
			if other, dup := emails[rec[colEmail]]; dup {
				t.Errorf("email %s of both %s and %s", rec[colEmail], other, id)
			}
			emails[rec[colEmail]] = id
			continue
		}
		repeated++
		for _, col := range passengerColumns {
			if rec[col] != seen[col] {
				t.Fatalf("record %d: passenger %s has %s %q, earlier %q",
					i, id, Columns[col], rec[col], seen[col])
			}
		}
	}
	if repeated < len(records)/2 {
		t.Errorf("rows of returning passengers: got %d, want at least half of %d", repeated, len(records))
	}
}
