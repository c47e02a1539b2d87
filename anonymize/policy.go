package anonymize

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Actions a column policy may take.
const (
	ActionDrop         = "drop"
	ActionPseudonymize = "pseudonymize"
	ActionGeneralize   = "generalize"
	ActionTruncate     = "truncate"
	ActionMask         = "mask"
	ActionKeep         = "keep"
	// ActionEncrypt makes reversible tokens that join like pseudonyms.
	ActionEncrypt = "encrypt"
)

// Actions lists every valid action, in the order the docs present them.
var Actions = []string{ActionDrop, ActionPseudonymize, ActionEncrypt, ActionGeneralize,
	ActionTruncate, ActionMask, ActionKeep}

// Tokenizing reports whether action turns values into keyed tokens
// (pseudonymize or encrypt): the actions a privacy unit may take.
func Tokenizing(action string) bool {
	return action == ActionPseudonymize || action == ActionEncrypt
}

// Policy says what happens to one column. It is the value of a column in a
// job spec's columns map. Only the fields of its action may be set.
type Policy struct {
	// Action is one of Actions. Required.
	Action string `yaml:"action" json:"action"`
	// As renames the output column. Defaults to the input column's name.
	As string `yaml:"as,omitempty" json:"as,omitempty"`

	// To is the target of generalize: year, month or age_band for dates;
	// day or week for timestamps; bucket for numbers.
	To string `yaml:"to,omitempty" json:"to,omitempty"`
	// Width is the bucket width of generalize to bucket (required) and the
	// band width in years of age_band (defaults to 10).
	Width float64 `yaml:"width,omitempty" json:"width,omitempty"`
	// Reference is the date ages are computed at for age_band, as
	// YYYY-MM-DD. Defaults to the day the job runs, which the manifest
	// records.
	Reference string `yaml:"reference,omitempty" json:"reference,omitempty"`

	// Length is the number of characters truncate keeps. Required.
	Length int `yaml:"length,omitempty" json:"length,omitempty"`

	// Format is what mask expects: card (the default) or email.
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// KeepFirst and KeepLast are the digits of a card number mask leaves
	// in clear: at most 6 and 4, as PCI DSS allows. Both default to 0.
	KeepFirst int `yaml:"keep_first,omitempty" json:"keep_first,omitempty"`
	KeepLast  int `yaml:"keep_last,omitempty" json:"keep_last,omitempty"`

	// Normalize is how pseudonymize and encrypt prepare a value before
	// keying it: "trim" (the default) strips surrounding white space,
	// "lower" also lower-cases, which suits e-mail addresses. Encrypt
	// tokens decrypt to the normalised value.
	Normalize string `yaml:"normalize,omitempty" json:"normalize,omitempty"`

	// Type is the declared type of a kept column: string, int, decimal,
	// float, bool, date or timestamp. Required for keep.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Scale is the number of decimal places of a decimal column. Defaults
	// to 2.
	Scale int `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Bounds are public bounds [lo, hi] of a numeric column that the DP
	// engine clamps values to. Optional; values outside are kept as they are.
	Bounds []float64 `yaml:"bounds,omitempty" json:"bounds,omitempty"`
}

var (
	generalizeTargets = []string{"year", "month", "age_band", "day", "week", "bucket"}
	keepTypes         = []string{"string", "int", "decimal", "float", "bool", "date", "timestamp"}
)

// Validate checks a policy on its own. Errors name the offending field;
// the caller adds the column.
func (p Policy) Validate() error {
	switch p.Action {
	case ActionDrop, ActionPseudonymize, ActionEncrypt, ActionGeneralize, ActionTruncate,
		ActionMask, ActionKeep:
	case "":
		return fmt.Errorf("action is required (one of %v)", Actions)
	default:
		return fmt.Errorf("action %q is not one of %v", p.Action, Actions)
	}

	if err := p.checkFields(); err != nil {
		return err
	}

	switch p.Action {
	case ActionPseudonymize, ActionEncrypt:
		if !slices.Contains([]string{"", "trim", "lower"}, p.Normalize) {
			return fmt.Errorf("normalize %q is not one of trim, lower", p.Normalize)
		}
	case ActionGeneralize:
		return p.validateGeneralize()
	case ActionTruncate:
		if p.Length < 1 {
			return fmt.Errorf("truncate needs length >= 1, got %d", p.Length)
		}
	case ActionMask:
		return p.validateMask()
	case ActionKeep:
		return p.validateKeep()
	}
	return nil
}

// checkFields refuses fields that belong to another action, so a typo such
// as bounds on a drop does not pass silently.
func (p Policy) checkFields() error {
	set := map[string]bool{
		"to": p.To != "", "width": p.Width != 0, "reference": p.Reference != "",
		"length": p.Length != 0, "format": p.Format != "", "keep_first": p.KeepFirst != 0,
		"keep_last": p.KeepLast != 0, "normalize": p.Normalize != "", "type": p.Type != "",
		"scale": p.Scale != 0, "bounds": p.Bounds != nil, "as": p.As != "",
	}
	allowed := map[string][]string{
		ActionDrop:         {},
		ActionPseudonymize: {"normalize", "as"},
		ActionEncrypt:      {"normalize", "as"},
		ActionGeneralize:   {"to", "width", "reference", "as"},
		ActionTruncate:     {"length", "as"},
		ActionMask:         {"format", "keep_first", "keep_last", "as"},
		ActionKeep:         {"type", "scale", "bounds", "as"},
	}[p.Action]
	for _, field := range []string{"to", "width", "reference", "length", "format", "keep_first",
		"keep_last", "normalize", "type", "scale", "bounds", "as"} {
		if set[field] && !slices.Contains(allowed, field) {
			return fmt.Errorf("%s does not apply to action %s", field, p.Action)
		}
	}
	return nil
}

func (p Policy) validateGeneralize() error {
	if !slices.Contains(generalizeTargets, p.To) {
		return fmt.Errorf("generalize needs to: one of %v, got %q", generalizeTargets, p.To)
	}
	switch p.To {
	case "bucket":
		if !(p.Width > 0) || math.IsInf(p.Width, 0) {
			return fmt.Errorf("generalize to bucket needs width > 0, got %v", p.Width)
		}
	case "age_band":
		if p.Width != 0 && (p.Width < 1 || p.Width != math.Trunc(p.Width)) {
			return fmt.Errorf("age_band width must be a whole number of years >= 1, got %v", p.Width)
		}
		if p.Reference != "" {
			if _, err := time.Parse(time.DateOnly, p.Reference); err != nil {
				return fmt.Errorf("reference %q is not a date YYYY-MM-DD", p.Reference)
			}
		}
	default:
		if p.Width != 0 {
			return fmt.Errorf("width does not apply to generalize to %s", p.To)
		}
	}
	if p.Reference != "" && p.To != "age_band" {
		return fmt.Errorf("reference applies only to generalize to age_band")
	}
	return nil
}

func (p Policy) validateMask() error {
	switch p.Format {
	case "", "card":
		if p.KeepFirst < 0 || p.KeepFirst > 6 {
			return fmt.Errorf("keep_first must be 0 to 6 (PCI DSS), got %d", p.KeepFirst)
		}
		if p.KeepLast < 0 || p.KeepLast > 4 {
			return fmt.Errorf("keep_last must be 0 to 4 (PCI DSS), got %d", p.KeepLast)
		}
	case "email":
		if p.KeepFirst != 0 || p.KeepLast != 0 {
			return fmt.Errorf("keep_first and keep_last apply only to format card")
		}
	default:
		return fmt.Errorf("mask format %q is not one of card, email", p.Format)
	}
	return nil
}

func (p Policy) validateKeep() error {
	if !slices.Contains(keepTypes, p.Type) {
		return fmt.Errorf("keep needs type: one of %v, got %q", keepTypes, p.Type)
	}
	if p.Scale != 0 && p.Type != "decimal" {
		return fmt.Errorf("scale applies only to type decimal")
	}
	if p.Scale < 0 || p.Scale > 6 {
		return fmt.Errorf("scale must be 0 to 6, got %d", p.Scale)
	}
	if p.Bounds == nil {
		return nil
	}
	if !slices.Contains([]string{"int", "decimal", "float"}, p.Type) {
		return fmt.Errorf("bounds apply only to numeric types, not %s", p.Type)
	}
	if len(p.Bounds) != 2 {
		return fmt.Errorf("bounds must be [lo, hi], got %d values", len(p.Bounds))
	}
	lo, hi := p.Bounds[0], p.Bounds[1]
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || lo > hi {
		return fmt.Errorf("bounds must be finite with lo <= hi, got [%v, %v]", lo, hi)
	}
	return nil
}

// Compile validates p and returns the transform it describes. key is used
// by pseudonymize and encrypt and ignored otherwise; now is the job's
// start, the default reference of age_band. Drop has no transform: Compile returns nil.
func (p Policy) Compile(key Key, now time.Time) (Transform, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	switch p.Action {
	case ActionDrop:
		return nil, nil
	case ActionPseudonymize:
		if len(key.secret) == 0 {
			return nil, errors.New("pseudonymize needs a key from a keyring")
		}
		return newPseudonymizer(key, p.Normalize == "lower"), nil
	case ActionEncrypt:
		e, err := newEncrypter(key, p.Normalize == "lower")
		if err != nil {
			return nil, err
		}
		return e, nil
	case ActionGeneralize:
		return newGeneralizer(p, now), nil
	case ActionTruncate:
		return truncator{length: p.Length}, nil
	case ActionMask:
		if p.Format == "email" {
			return emailMasker{}, nil
		}
		return cardMasker{first: p.KeepFirst, last: p.KeepLast}, nil
	default:
		return newKeeper(p), nil
	}
}
