package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

func subjectCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "subject", Short: "Data-subject rights over published datasets"}
	var dataDir, id, keyring string
	find := &cobra.Command{
		Use:   "find",
		Short: "Count a subject's rows per dataset and version (GDPR Art. 15), printing no data",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--id is required")
			}
			ring, err := loadKeyring(keyring)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				hits, err := pipeline.FindSubject(cmd.Context(), cat, ring, id)
				if err != nil {
					return err
				}
				if _, err := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
					Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "subject.find",
					Outcome: store.OutcomeAllowed, Detail: fmt.Sprintf("%d dataset versions searched", len(hits))}); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "DATASET\tVERSION\tCURRENT\tROWS")
				for _, h := range hits {
					fmt.Fprintf(tw, "%s\t%d\t%v\t%d\n", h.Dataset, h.Version, h.Current, h.Rows)
				}
				return tw.Flush()
			})
		},
	}
	find.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	addCatalogFlag(find.Flags())
	find.Flags().StringVar(&id, "id", "", "the subject's identifier in clear, as in the exports (required)")
	find.Flags().StringVar(&keyring, "keyring", "", "keyring file (default $"+anonymize.EnvKeyring+")")
	var idFile, dataset string
	erase := &cobra.Command{
		Use:   "erase",
		Short: "Erase subjects from every dataset (GDPR Art. 17): new versions without them, old files deleted",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids, err := readIDs(idFile)
			if err != nil {
				return err
			}
			ring, err := loadKeyring(keyring)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				done, err := pipeline.EraseSubjects(cmd.Context(), cat, ring, ids, dataset)
				for _, e := range done {
					detail := fmt.Sprintf("%d subjects, %d rows removed, new version %d, purged versions %v, tokens %s",
						len(ids), e.Rows, e.Version, e.Purged, strings.Join(auditTokens(e.Tokens), ","))
					if _, aerr := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
						Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "subject.erase",
						Dataset: e.Dataset, Outcome: store.OutcomeAllowed, Detail: detail}); aerr != nil {
						return aerr
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: removed %d rows (new version %d), deleted files of versions %v\n",
						e.Dataset, e.Rows, e.Version, e.Purged)
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "keep these ids in the jobs' erasure lists so they do not come back")
				return nil
			})
		},
	}
	erase.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	addCatalogFlag(erase.Flags())
	erase.Flags().StringVar(&idFile, "id-file", "", "CSV with a header, ids in the first column (required)")
	erase.Flags().StringVar(&dataset, "dataset", "", "only this dataset (default: all)")
	erase.Flags().StringVar(&keyring, "keyring", "", "keyring file (default $"+anonymize.EnvKeyring+")")
	cmd.AddCommand(find, erase)
	return cmd
}

// auditTokens returns tokens as the audit log records them: pseudonyms
// as they are, encrypt tokens, which the keyring turns back into ids, as a
// short hash.
func auditTokens(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = t
		if strings.HasPrefix(t, anonymize.EncryptPrefix) {
			sum := sha256.Sum256([]byte(t))
			out[i] = "sha256:" + hex.EncodeToString(sum[:6])
		}
	}
	return out
}

// readIDs reads subject ids from the first column of a CSV file with a
// header, skipping empty ones.
func readIDs(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("--id-file is required")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("--id-file %s: %w", path, err)
	}
	var ids []string
	for _, rec := range recs[min(1, len(recs)):] {
		if len(rec) > 0 && strings.TrimSpace(rec[0]) != "" {
			ids = append(ids, strings.TrimSpace(rec[0]))
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--id-file %s lists no ids", path)
	}
	return ids, nil
}

// loadKeyring loads the keyring at path, or at $HAZE_KEYRING.
func loadKeyring(path string) (*anonymize.Keyring, error) {
	path, err := anonymize.ResolvePath(path)
	if err != nil {
		return nil, err
	}
	return anonymize.LoadKeyring(path)
}

// optionalKeyring loads the keyring at path, or $HAZE_KEYRING, or returns
// nil when neither is set: enough for plain datasets, and reads of
// encrypted ones then fail saying a keyring is needed.
func optionalKeyring(path string) (*anonymize.Keyring, error) {
	path, err := anonymize.ResolvePath(path)
	if err != nil {
		return nil, nil
	}
	return anonymize.LoadKeyring(path)
}
