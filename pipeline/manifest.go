package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"haze/anonymize"
	"haze/store"
)

// Run statuses.
const (
	StatusPublished = "published"
	StatusFailed    = "failed"
)

// Manifest records what one run did. It holds counts, hashes and names,
// never a value from the export or a key.
type Manifest struct {
	Job        string    `json:"job"`
	RunID      string    `json:"run_id"`
	Status     string    `json:"status"`
	Dataset    string    `json:"dataset"`
	Version    int       `json:"version,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Seconds    float64   `json:"duration_seconds"`

	Input      Input  `json:"input"`
	Rows       Rows   `json:"rows"`
	PolicyHash string `json:"policy_hash"`
	KeyName    string `json:"key_name"`
	KeyID      string `json:"key_id"`
	// Encryption is how the files are stored: store.EncryptionPME, or
	// store.EncryptionNone when the job asked for plain output.
	Encryption string `json:"encryption"`
	// MasterKeyID is the master key the version's data key was first
	// wrapped under; rotation may rewrap it later.
	MasterKeyID string `json:"master_key_id,omitempty"`
	// Reference is the date age bands were computed at (YYYY-MM-DD).
	Reference string `json:"reference_date"`

	Columns        []store.Column  `json:"columns"`
	DroppedColumns []DroppedColumn `json:"dropped_columns"`
	Files          []FileInfo      `json:"files"`
	Quarantine     []FileInfo      `json:"quarantine"`
	// QuarantineReasons counts quarantined rows by reason.
	QuarantineReasons map[string]int64 `json:"quarantine_reasons,omitempty"`
	// Risk is the re-identification risk report, when the spec asks.
	Risk *anonymize.RiskReport `json:"risk,omitempty"`
	// Error says why a failed run did not publish.
	Error string `json:"error,omitempty"`
}

// Input describes the export a run read.
type Input struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Rows are a run's row counts. Read = Published + Rejected + Quarantined +
// FilteredByConsent + Erased + Suppressed.
type Rows struct {
	Read              int64 `json:"read"`
	Published         int64 `json:"published"`
	Rejected          int64 `json:"rejected_by_reader"`
	Quarantined       int64 `json:"quarantined_by_policy"`
	FilteredByConsent int64 `json:"filtered_by_consent"`
	Erased            int64 `json:"erased"`
	// Suppressed rows were in equivalence classes below the risk spec's k
	// and went to quarantine.
	Suppressed int64 `json:"suppressed_for_risk"`
	// ErasureSubjects is the number of distinct subjects in the list.
	ErasureSubjects int64 `json:"erasure_subjects"`
	// RejectedShare is (Rejected + Quarantined) / Read.
	RejectedShare float64 `json:"rejected_share"`
}

// DroppedColumn is an export column that is not published.
type DroppedColumn struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// writeManifest writes m as manifest.json in dir.
func writeManifest(dir string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	path := filepath.Join(dir, "manifest.json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing manifest: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing manifest: %w", err)
	}
	return f.Close()
}

// Summary writes a readable account of the run.
func (m *Manifest) Summary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s (run %s)\n", m.Job, m.RunID)
	if m.Status == StatusPublished {
		fmt.Fprintf(tw, "published\t%s version %d\n", m.Dataset, m.Version)
	} else {
		fmt.Fprintf(tw, "status\t%s: %s\n", m.Status, m.Error)
	}
	fmt.Fprintf(tw, "rows read\t%d\n", m.Rows.Read)
	fmt.Fprintf(tw, "  published\t%d\n", m.Rows.Published)
	fmt.Fprintf(tw, "  rejected by reader\t%d\n", m.Rows.Rejected)
	fmt.Fprintf(tw, "  quarantined by policy\t%d\n", m.Rows.Quarantined)
	fmt.Fprintf(tw, "  filtered by consent\t%d\n", m.Rows.FilteredByConsent)
	fmt.Fprintf(tw, "  erased\t%d (of %d subjects listed)\n", m.Rows.Erased, m.Rows.ErasureSubjects)
	if m.Rows.Suppressed > 0 {
		fmt.Fprintf(tw, "  suppressed for risk\t%d\n", m.Rows.Suppressed)
	}
	fmt.Fprintf(tw, "rejected share\t%.4f%%\n", 100*m.Rows.RejectedShare)
	names := make([]string, len(m.DroppedColumns))
	for i, d := range m.DroppedColumns {
		names[i] = d.Name
	}
	fmt.Fprintf(tw, "dropped columns\t%s\n", strings.Join(names, ", "))
	fmt.Fprintf(tw, "key\t%s\n", m.KeyID)
	if m.Encryption == store.EncryptionNone {
		fmt.Fprintf(tw, "encryption\tnone: plain files, as the job asked\n")
	} else {
		fmt.Fprintf(tw, "encryption\t%s, data key wrapped under %s\n", m.Encryption,
			m.MasterKeyID)
	}
	fmt.Fprintf(tw, "duration\t%.2fs (%.0f rows/s)\n", m.Seconds, float64(m.Rows.Read)/max(m.Seconds, 1e-9))
	tw.Flush()
	if m.Risk != nil {
		fmt.Fprintln(w, "re-identification risk:")
		m.Risk.WriteTable(w)
	}
}
