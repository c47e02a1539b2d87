package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"haze/anonymize"
	"haze/store"
)

// Source formats a job may read.
const (
	FormatCSV     = "csv"
	FormatParquet = "parquet"
	FormatNDJSON  = "ndjson"
)

// DefaultMaxRejectedShare is the share of rejected rows above which a job
// fails without publishing, when the spec does not say.
const DefaultMaxRejectedShare = 0.01

// Spec is a job spec: what to read, how to treat each column, and where
// to publish. Specs are read from YAML with Load; unknown keys are errors.
type Spec struct {
	// Name identifies the job in manifests and logs. Required.
	Name string `yaml:"name"`
	// Source is the export to read. Required.
	Source Source `yaml:"source"`
	// PrivacyUnit is the export column that identifies a person; it must
	// have the pseudonymize or encrypt action. Required.
	PrivacyUnit string `yaml:"privacy_unit"`
	// Keyring is the keyring file. Defaults to $HAZE_KEYRING.
	Keyring string `yaml:"keyring"`
	// Key is the name of the keyring key used for pseudonyms. Required.
	Key string `yaml:"key"`
	// Output names the dataset to publish. Required.
	Output Output `yaml:"output"`
	// Consent keeps only rows whose column equals a value. Optional.
	Consent *Consent `yaml:"consent"`
	// Erasure removes every row of the subjects listed in a file. Optional.
	Erasure *Erasure `yaml:"erasure"`
	// MaxRejectedShare is the share of rows (0 to 1) that may be rejected
	// before the job fails without publishing. Defaults to 0.01.
	MaxRejectedShare *float64 `yaml:"max_rejected_share"`
	// Columns gives one policy per export column, in output order. Export
	// columns not named here are dropped and reported.
	Columns Columns `yaml:"columns"`
	// DP holds the dataset's default contribution bounds for DP queries.
	DP *DPBounds `yaml:"dp"`
	// Risk asks for a re-identification risk report (k-anonymity and
	// l-diversity) on quasi-identifier output columns, and optionally
	// suppresses the rows of classes below k. Optional.
	Risk *anonymize.RiskSpec `yaml:"risk"`

	dir string // folder relative paths are resolved against
}

// Source is the export a job reads.
type Source struct {
	// Path of the export file, relative to the spec file. Required.
	Path string `yaml:"path"`
	// Format is csv, parquet or ndjson. Defaults to the path's extension.
	Format string `yaml:"format"`
}

// Output says where a job publishes.
type Output struct {
	// Dataset is the name analysts query. Required.
	Dataset string `yaml:"dataset"`
	// Plain writes the dataset's files unencrypted. Defaults to false:
	// every file is encrypted under a fresh data key per version, wrapped
	// under the keyring's master key. The manifest and the catalog record
	// a plain version as such.
	Plain bool `yaml:"plain"`
}

// Consent keeps rows whose Column equals Equals (a boolean, string or
// number); other rows are counted and left out.
type Consent struct {
	Column string `yaml:"column"`
	Equals any    `yaml:"equals"`
}

// Erasure names a file of subject identifiers (CSV with a header, or one
// per line) whose rows must not be published. They are matched in clear
// against the privacy unit, before pseudonymisation.
type Erasure struct {
	Path   string `yaml:"path"`
	Column string `yaml:"column"`
}

// DPBounds are the default contribution bounds of the published dataset.
type DPBounds struct {
	// MaxGroupsContributed defaults to 4.
	MaxGroupsContributed int64 `yaml:"max_groups_contributed"`
	// MaxContributionsPerGroup defaults to 2.
	MaxContributionsPerGroup int64 `yaml:"max_contributions_per_group"`
}

// ColumnSpec is one export column and its policy.
type ColumnSpec struct {
	Name   string
	Policy anonymize.Policy
}

// OutputName is the column's name in the dataset.
func (c ColumnSpec) OutputName() string {
	if c.Policy.As != "" {
		return c.Policy.As
	}
	return c.Name
}

// Columns keeps the policies in the order the spec lists them.
type Columns []ColumnSpec

// UnmarshalYAML reads a mapping of column names to policies, in order.
func (cs *Columns) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: columns must be a mapping of column name to policy", node.Line)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		name, value := node.Content[i], node.Content[i+1]
		var p anonymize.Policy
		if err := decodeStrict(value, &p); err != nil {
			return fmt.Errorf("column %s: %w", name.Value, err)
		}
		*cs = append(*cs, ColumnSpec{Name: name.Value, Policy: p})
	}
	return nil
}

// DecodeYAML decodes a spec document into out, refusing keys out does not
// have; errors carry the line and no "yaml:" prefix.
func DecodeYAML(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// decodeStrict decodes a node, refusing unknown fields.
func decodeStrict(node *yaml.Node, out any) error {
	data, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("line %d: %s", node.Line, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// Load reads and validates a job spec. Relative paths in it are resolved
// against the spec file's folder.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading job spec: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("job spec %s: %w", path, err)
	}
	s.dir = filepath.Dir(path)
	return s, nil
}

// Parse reads and validates a job spec from YAML. Relative paths are
// resolved against the working directory.
func Parse(data []byte) (*Spec, error) {
	var s Spec
	if err := DecodeYAML(data, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the spec as a whole; errors name the offending key.
func (s *Spec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("name is required")
	case s.Source.Path == "":
		return errors.New("source.path is required")
	case s.PrivacyUnit == "":
		return errors.New("privacy_unit is required")
	case s.Key == "":
		return errors.New("key is required (a key name in the keyring)")
	case len(s.Columns) == 0:
		return errors.New("columns is required: name a policy for each column to publish")
	}
	if err := store.ValidateDatasetName(s.Output.Dataset); err != nil {
		return fmt.Errorf("output.dataset: %w", err)
	}
	if _, err := s.Format(); err != nil {
		return err
	}
	if s.MaxRejectedShare != nil {
		if v := *s.MaxRejectedShare; math.IsNaN(v) || v < 0 || v > 1 {
			return fmt.Errorf("max_rejected_share must be between 0 and 1, got %v", v)
		}
	}
	if err := s.validateColumns(); err != nil {
		return err
	}
	if c := s.Consent; c != nil {
		if c.Column == "" {
			return errors.New("consent.column is required")
		}
		switch c.Equals.(type) {
		case bool, string, int, float64:
		default:
			return errors.New("consent.equals must be a boolean, string or number")
		}
	}
	if e := s.Erasure; e != nil && e.Path == "" {
		return errors.New("erasure.path is required")
	}
	if r := s.Risk; r != nil {
		if err := r.Validate(); err != nil {
			return err
		}
		outputs := map[string]bool{}
		for _, c := range s.Columns {
			if c.Policy.Action != anonymize.ActionDrop {
				outputs[c.OutputName()] = true
			}
		}
		for _, q := range append(slices.Clone(r.QuasiIdentifiers), r.Sensitive) {
			if q != "" && !outputs[q] {
				return fmt.Errorf("risk: %q is not a published column (name output columns)", q)
			}
		}
	}
	if d := s.DP; d != nil {
		if d.MaxGroupsContributed < 0 || d.MaxContributionsPerGroup < 0 {
			return errors.New("dp bounds must be >= 1")
		}
	}
	return nil
}

func (s *Spec) validateColumns() error {
	seen := map[string]bool{}
	outputs := map[string]string{}
	unit := false
	for _, c := range s.Columns {
		if seen[c.Name] {
			return fmt.Errorf("columns.%s appears twice", c.Name)
		}
		seen[c.Name] = true
		if err := c.Policy.Validate(); err != nil {
			return fmt.Errorf("columns.%s: %w", c.Name, err)
		}
		if c.Policy.Action == anonymize.ActionDrop {
			continue
		}
		out := c.OutputName()
		if err := store.ValidateDatasetName(out); err != nil {
			return fmt.Errorf("columns.%s: output column name %q: use lower-case letters, "+
				"digits and '_'", c.Name, out)
		}
		if prev, ok := outputs[out]; ok {
			return fmt.Errorf("columns.%s: output column %q is also produced by %s", c.Name, out, prev)
		}
		outputs[out] = c.Name
		if c.Name == s.PrivacyUnit {
			if !anonymize.Tokenizing(c.Policy.Action) {
				return fmt.Errorf("columns.%s: the privacy unit must be pseudonymized or "+
					"encrypted, not %s", c.Name, c.Policy.Action)
			}
			unit = true
		}
	}
	if !unit {
		return fmt.Errorf("privacy_unit %q must be listed in columns with action pseudonymize "+
			"or encrypt", s.PrivacyUnit)
	}
	return nil
}

// Format returns the source format, from the spec or the file extension.
func (s *Spec) Format() (string, error) {
	f := strings.ToLower(s.Source.Format)
	if f == "" {
		switch strings.ToLower(filepath.Ext(s.Source.Path)) {
		case ".csv", ".txt":
			f = FormatCSV
		case ".parquet":
			f = FormatParquet
		case ".ndjson", ".jsonl", ".json":
			f = FormatNDJSON
		default:
			return "", fmt.Errorf("source.format is required: cannot tell it from %q", s.Source.Path)
		}
	}
	if !slices.Contains([]string{FormatCSV, FormatParquet, FormatNDJSON}, f) {
		return "", fmt.Errorf("source.format %q is not one of csv, parquet, ndjson", s.Source.Format)
	}
	return f, nil
}

// resolve returns path relative to the spec's folder.
func (s *Spec) resolve(path string) string {
	if path == "" || filepath.IsAbs(path) || s.dir == "" {
		return path
	}
	return filepath.Join(s.dir, path)
}

// SourcePath returns the export's path as the job will open it.
func (s *Spec) SourcePath() string { return s.resolve(s.Source.Path) }

// KeyringPath returns the keyring's path, from the spec or $HAZE_KEYRING.
func (s *Spec) KeyringPath() (string, error) {
	return anonymize.ResolvePath(s.resolve(s.Keyring))
}

// maxRejectedShare returns the configured share or the default.
func (s *Spec) maxRejectedShare() float64 {
	if s.MaxRejectedShare == nil {
		return DefaultMaxRejectedShare
	}
	return *s.MaxRejectedShare
}

// dpDefaults returns the dataset's contribution bounds with defaults.
func (s *Spec) dpDefaults() store.DPDefaults {
	d := store.DPDefaults{MaxGroupsContributed: 4, MaxContributionsPerGroup: 2}
	if s.DP != nil {
		if s.DP.MaxGroupsContributed > 0 {
			d.MaxGroupsContributed = s.DP.MaxGroupsContributed
		}
		if s.DP.MaxContributionsPerGroup > 0 {
			d.MaxContributionsPerGroup = s.DP.MaxContributionsPerGroup
		}
	}
	return d
}

// PolicyHash is a SHA-256 over the privacy unit, key name, consent and
// column policies, so a manifest shows whether two runs used the same rules.
func (s *Spec) PolicyHash() string {
	data, _ := json.Marshal(struct {
		Unit    string
		Key     string
		Consent *Consent
		Columns Columns
	}{s.PrivacyUnit, s.Key, s.Consent, s.Columns})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
