package anonymize

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// RiskSpec asks for a re-identification risk report on published columns.
type RiskSpec struct {
	// QuasiIdentifiers are output columns that, combined, could single a
	// person out (birth year, nationality, home airport, gender...).
	// Required.
	QuasiIdentifiers []string `yaml:"quasi_identifiers" json:"quasi_identifiers"`
	// K is the smallest number of people an equivalence class should hold.
	// Defaults to 5.
	K int64 `yaml:"k" json:"k"`
	// Sensitive is an output column whose diversity within each class is
	// reported (l-diversity). Optional.
	Sensitive string `yaml:"sensitive" json:"sensitive,omitempty"`
	// Suppress moves the rows of classes with fewer than K people to
	// quarantine, so the published dataset is k-anonymous on the
	// quasi-identifiers.
	Suppress bool `yaml:"suppress" json:"suppress"`
}

// Validate checks the spec and fills in K's default.
func (r *RiskSpec) Validate() error {
	if len(r.QuasiIdentifiers) == 0 {
		return errors.New("risk.quasi_identifiers is required")
	}
	seen := map[string]bool{}
	for _, q := range r.QuasiIdentifiers {
		if q == "" || seen[q] {
			return fmt.Errorf("risk.quasi_identifiers: %q is empty or repeated", q)
		}
		seen[q] = true
	}
	if r.K == 0 {
		r.K = 5
	}
	if r.K < 2 {
		return fmt.Errorf("risk.k must be >= 2, got %d", r.K)
	}
	if seen[r.Sensitive] {
		return fmt.Errorf("risk.sensitive %q is also a quasi-identifier", r.Sensitive)
	}
	return nil
}

// RiskReport measures how well the quasi-identifiers hide people. An
// equivalence class is the set of rows sharing one combination of
// quasi-identifier values; its size is the number of distinct people
// (privacy units) in it, since k-anonymity is about people, not rows.
type RiskReport struct {
	QuasiIdentifiers []string `json:"quasi_identifiers"`
	K                int64    `json:"k"`
	// Classes is the number of equivalence classes.
	Classes int64 `json:"classes"`
	// SmallestClass is the fewest people in a class.
	SmallestClass int64 `json:"smallest_class"`
	// Unique is the number of classes holding exactly one person.
	Unique int64 `json:"unique_combinations"`
	// ClassesBelowK is the number of classes with fewer than K people.
	ClassesBelowK int64 `json:"classes_below_k"`
	// RowsBelowK and PeopleBelowK count what those classes hold, of Rows
	// and People in all.
	RowsBelowK   int64 `json:"rows_below_k"`
	PeopleBelowK int64 `json:"people_below_k"`
	Rows         int64 `json:"rows"`
	People       int64 `json:"people"`
	// Sensitive and MinDiversity report l-diversity: the fewest distinct
	// values of the sensitive column in a class.
	Sensitive    string `json:"sensitive,omitempty"`
	MinDiversity int64  `json:"min_diversity,omitempty"`
	// Suppressed is set when the rows below K were moved to quarantine:
	// the report then describes the data before suppression, and
	// After the published data.
	Suppressed bool        `json:"suppressed"`
	After      *RiskReport `json:"after,omitempty"`
}

// ShareRowsBelowK is the share of rows in classes below K.
func (r RiskReport) ShareRowsBelowK() float64 { return share(r.RowsBelowK, r.Rows) }

// SharePeopleBelowK is the share of people in classes below K.
func (r RiskReport) SharePeopleBelowK() float64 { return share(r.PeopleBelowK, r.People) }

func share(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// KAnonymous reports whether every class holds at least K people.
func (r RiskReport) KAnonymous() bool { return r.Classes == 0 || r.SmallestClass >= r.K }

// WriteTable prints the report for people.
func (r RiskReport) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "quasi-identifiers\t%s\n", strings.Join(r.QuasiIdentifiers, ", "))
	r.rows(tw, "")
	if r.After != nil {
		fmt.Fprintf(tw, "after suppression\t\n")
		r.After.rows(tw, "  ")
	}
	tw.Flush()
}

func (r RiskReport) rows(tw io.Writer, indent string) {
	verdict := "yes"
	if !r.KAnonymous() {
		verdict = "no"
	}
	fmt.Fprintf(tw, "%sequivalence classes\t%d\n", indent, r.Classes)
	fmt.Fprintf(tw, "%ssmallest class\t%d people\n", indent, r.SmallestClass)
	fmt.Fprintf(tw, "%sunique combinations\t%d\n", indent, r.Unique)
	fmt.Fprintf(tw, "%sclasses below k=%d\t%d\n", indent, r.K, r.ClassesBelowK)
	fmt.Fprintf(tw, "%srows in them\t%d of %d (%.2f%%)\n", indent, r.RowsBelowK, r.Rows,
		100*r.ShareRowsBelowK())
	fmt.Fprintf(tw, "%speople in them\t%d of %d (%.2f%%)\n", indent, r.PeopleBelowK, r.People,
		100*r.SharePeopleBelowK())
	if r.Sensitive != "" {
		fmt.Fprintf(tw, "%sl-diversity of %s\t%d (fewest distinct values in a class)\n", indent,
			r.Sensitive, r.MinDiversity)
	}
	fmt.Fprintf(tw, "%s%d-anonymous\t%s\n", indent, r.K, verdict)
}
