package pipeline_test

import (
	"os"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
)

// riskSpec publishes nationality and gender as quasi-identifiers.
const riskSpec = `
name: risk-job
source: {path: exports/crm.FORMAT}
privacy_unit: passenger_id
keyring: keys/keyring.json
key: crm-test
output: {dataset: bookings}
columns:
  passenger_id: {action: pseudonymize}
  nationality:  {action: keep, type: string}
  gender:       {action: keep, type: string}
  cabin:        {action: keep, type: string}
risk: {quasi_identifiers: [nationality, gender], k: 5, sensitive: cabin, suppress: SUPPRESS}
`

// plantRare appends a passenger with a nationality no one else has.
func plantRare(t *testing.T, path string) {
	t.Helper()
	recs := readCSV(t, path)
	row := append([]string(nil), recs[1]...)
	row[colIndex(t, recs[0], "passenger_id")] = "PAX999999999"
	row[colIndex(t, recs[0], "nationality")] = "ZZ"
	row[colIndex(t, recs[0], "marketing_consent")] = "true"
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(csvLine(row)); err != nil {
		t.Fatal(err)
	}
}

func TestRiskReportFindsAndSuppressesRareCombination(t *testing.T) {
	for _, suppress := range []bool{false, true} {
		t.Run(map[bool]string{false: "report", true: "suppress"}[suppress], func(t *testing.T) {
			f := newFixture(t)
			path := f.gen(4000, synth.CSV, false)
			plantRare(t, path)
			text := strings.Replace(riskSpec, "SUPPRESS", map[bool]string{false: "false", true: "true"}[suppress], 1)
			m := f.mustRun(f.spec(text, synth.CSV))
			r := m.Risk
			if r == nil {
				t.Fatal("manifest has no risk report")
			}

			// Independent counts over the published rows (before suppression
			// when it ran, the published rows plus the suppressed ones).
			db := f.db()
			glob := f.versionGlob("bookings", 1)
			classes := `SELECT nationality, gender, count(DISTINCT passenger_id) AS people,
				count(*) AS n FROM ` + f.scan(db, glob) + ` GROUP BY ALL`
			if !suppress {
				for _, c := range []struct {
					name string
					got  int64
					q    string
				}{
					{"classes", r.Classes, "SELECT count(*) FROM (" + classes + ")"},
					{"smallest", r.SmallestClass, "SELECT min(people) FROM (" + classes + ")"},
					{"unique", r.Unique, "SELECT count(*) FILTER (WHERE people = 1) FROM (" + classes + ")"},
					{"rows below k", r.RowsBelowK, "SELECT coalesce(sum(n) FILTER (WHERE people < 5), 0) FROM (" + classes + ")"},
				} {
					if want := queryInt(t, db, c.q); c.got != want {
						t.Errorf("%s = %d, want %d", c.name, c.got, want)
					}
				}
				if r.Unique < 1 || r.KAnonymous() {
					t.Errorf("the planted unique passenger was not found: %+v", r)
				}
				if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, glob)+" WHERE nationality = 'ZZ'"); n != 1 {
					t.Errorf("planted rows published = %d, want 1 without suppression", n)
				}
				return
			}

			// Suppressed: the planted row is gone, k holds, and the cost is counted.
			if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, glob)+" WHERE nationality = 'ZZ'"); n != 0 {
				t.Errorf("planted rows published = %d, want 0", n)
			}
			if min := queryInt(t, db, "SELECT min(people) FROM ("+classes+")"); min < 5 {
				t.Errorf("smallest published class holds %d people, want >= 5", min)
			}
			if r.After == nil || !r.After.KAnonymous() || !r.Suppressed {
				t.Fatalf("report after suppression = %+v", r.After)
			}
			if m.Rows.Suppressed != r.RowsBelowK || m.Rows.Suppressed == 0 {
				t.Errorf("suppressed %d rows, report says %d below k", m.Rows.Suppressed, r.RowsBelowK)
			}
			published := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, glob)+"")
			if published != m.Rows.Published {
				t.Errorf("published %d rows, manifest says %d", published, m.Rows.Published)
			}
			key, _ := f.ring.Key("crm-test")
			q := f.dataDir + "/" + pipeline.VersionDir("bookings", 1) + "/quarantine/*.parquet"
			if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, q)+" WHERE stage = 'risk' AND unit_token = ?", anonymize.NewPseudonymizer(key).Token("PAX999999999")); n != 1 {
				t.Errorf("quarantine holds %d suppressed rows of the planted passenger, want 1", n)
			}
		})
	}
}

func TestRiskSpecErrors(t *testing.T) {
	for _, tt := range []struct{ risk, want string }{
		{"{quasi_identifiers: []}", "risk.quasi_identifiers is required"},
		{"{quasi_identifiers: [nationality], k: 1}", "risk.k must be >= 2"},
		{"{quasi_identifiers: [email]}", `"email" is not a published column`},
		{"{quasi_identifiers: [nationality], sensitive: nationality}", "also a quasi-identifier"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			text := strings.Replace(riskSpec, riskSpec[strings.Index(riskSpec, "risk:"):],
				"risk: "+tt.risk+"\n", 1)
			_, err := pipeline.Parse([]byte(strings.ReplaceAll(text, "FORMAT", "csv")))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
