package anonymize_test

import (
	"math"
	"regexp"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"haze/anonymize"
)

func TestPolicyValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		p    anonymize.Policy
	}{
		{"drop", anonymize.Policy{Action: "drop"}},
		{"pseudonymize", anonymize.Policy{Action: "pseudonymize"}},
		{"pseudonymize trim", anonymize.Policy{Action: "pseudonymize", Normalize: "trim"}},
		{"pseudonymize lower renamed", anonymize.Policy{Action: "pseudonymize", Normalize: "lower",
			As: "email_token"}},
		{"encrypt", anonymize.Policy{Action: "encrypt"}},
		{"encrypt lower renamed", anonymize.Policy{Action: "encrypt", Normalize: "lower",
			As: "email_enc"}},
		{"generalize year", anonymize.Policy{Action: "generalize", To: "year", As: "birth_year"}},
		{"generalize month", anonymize.Policy{Action: "generalize", To: "month"}},
		{"generalize age_band", anonymize.Policy{Action: "generalize", To: "age_band"}},
		{"generalize age_band width reference", anonymize.Policy{Action: "generalize",
			To: "age_band", Width: 5, Reference: "2026-02-28"}},
		{"generalize day", anonymize.Policy{Action: "generalize", To: "day"}},
		{"generalize week", anonymize.Policy{Action: "generalize", To: "week"}},
		{"generalize bucket", anonymize.Policy{Action: "generalize", To: "bucket", Width: 0.5}},
		{"truncate", anonymize.Policy{Action: "truncate", Length: 1}},
		{"mask default card", anonymize.Policy{Action: "mask"}},
		{"mask card pci maximum", anonymize.Policy{Action: "mask", Format: "card", KeepFirst: 6,
			KeepLast: 4}},
		{"mask email", anonymize.Policy{Action: "mask", Format: "email"}},
		{"keep string", anonymize.Policy{Action: "keep", Type: "string"}},
		{"keep decimal scale bounds", anonymize.Policy{Action: "keep", Type: "decimal", Scale: 4,
			Bounds: []float64{0, 10000}}},
		{"keep int equal bounds", anonymize.Policy{Action: "keep", Type: "int",
			Bounds: []float64{-3, -3}}},
		{"keep float", anonymize.Policy{Action: "keep", Type: "float", Bounds: []float64{-1, 1}}},
		{"keep bool", anonymize.Policy{Action: "keep", Type: "bool"}},
		{"keep date", anonymize.Policy{Action: "keep", Type: "date"}},
		{"keep timestamp", anonymize.Policy{Action: "keep", Type: "timestamp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tt.p, err)
			}
		})
	}
}

func TestPolicyValidateRefuses(t *testing.T) {
	tests := []struct {
		name  string
		p     anonymize.Policy
		field string // the error must name it
	}{
		{"no action", anonymize.Policy{}, "action"},
		{"unknown action", anonymize.Policy{Action: "hash"}, "action"},
		{"action in capitals", anonymize.Policy{Action: "Drop"}, "action"},
		{"encrypt normalize upper", anonymize.Policy{Action: "encrypt", Normalize: "upper"},
			"normalize"},
		{"encrypt with length", anonymize.Policy{Action: "encrypt", Length: 2}, "length"},
		{"generalize without to", anonymize.Policy{Action: "generalize"}, "to"},
		{"generalize to decade", anonymize.Policy{Action: "generalize", To: "decade"}, "to"},
		{"width on year", anonymize.Policy{Action: "generalize", To: "year", Width: 5}, "width"},
		{"width on week", anonymize.Policy{Action: "generalize", To: "week", Width: 7}, "width"},
		{"bucket without width", anonymize.Policy{Action: "generalize", To: "bucket"}, "width"},
		{"bucket negative width", anonymize.Policy{Action: "generalize", To: "bucket", Width: -1},
			"width"},
		{"bucket infinite width", anonymize.Policy{Action: "generalize", To: "bucket",
			Width: math.Inf(1)}, "width"},
		{"bucket NaN width", anonymize.Policy{Action: "generalize", To: "bucket",
			Width: math.NaN()}, "width"},
		{"age_band fractional width", anonymize.Policy{Action: "generalize", To: "age_band",
			Width: 2.5}, "width"},
		{"age_band width below 1", anonymize.Policy{Action: "generalize", To: "age_band",
			Width: 0.5}, "width"},
		{"age_band non-date reference", anonymize.Policy{Action: "generalize", To: "age_band",
			Reference: "01/03/2026"}, "reference"},
		{"age_band impossible reference", anonymize.Policy{Action: "generalize", To: "age_band",
			Reference: "2026-02-30"}, "reference"},
		{"reference on year", anonymize.Policy{Action: "generalize", To: "year",
			Reference: "2026-03-01"}, "reference"},
		{"truncate length 0", anonymize.Policy{Action: "truncate"}, "length"},
		{"truncate negative length", anonymize.Policy{Action: "truncate", Length: -2}, "length"},
		{"mask keep_first 7", anonymize.Policy{Action: "mask", KeepFirst: 7}, "keep_first"},
		{"mask keep_first negative", anonymize.Policy{Action: "mask", KeepFirst: -1}, "keep_first"},
		{"mask keep_last 5", anonymize.Policy{Action: "mask", KeepLast: 5}, "keep_last"},
		{"mask keep_last negative", anonymize.Policy{Action: "mask", Format: "card", KeepLast: -1},
			"keep_last"},
		{"mask format xml", anonymize.Policy{Action: "mask", Format: "xml"}, "format"},
		{"mask email keep_last", anonymize.Policy{Action: "mask", Format: "email", KeepLast: 4},
			"keep_last"},
		{"keep without type", anonymize.Policy{Action: "keep"}, "type"},
		{"keep unknown type", anonymize.Policy{Action: "keep", Type: "uuid"}, "type"},
		{"bounds on string", anonymize.Policy{Action: "keep", Type: "string",
			Bounds: []float64{0, 1}}, "bounds"},
		{"bounds on date", anonymize.Policy{Action: "keep", Type: "date",
			Bounds: []float64{0, 1}}, "bounds"},
		{"bounds 5 1", anonymize.Policy{Action: "keep", Type: "int", Bounds: []float64{5, 1}},
			"bounds"},
		{"bounds with 3 values", anonymize.Policy{Action: "keep", Type: "decimal",
			Bounds: []float64{0, 1, 2}}, "bounds"},
		{"bounds with 1 value", anonymize.Policy{Action: "keep", Type: "float",
			Bounds: []float64{1}}, "bounds"},
		{"bounds empty", anonymize.Policy{Action: "keep", Type: "float", Bounds: []float64{}},
			"bounds"},
		{"bounds NaN", anonymize.Policy{Action: "keep", Type: "float",
			Bounds: []float64{math.NaN(), 1}}, "bounds"},
		{"bounds infinite", anonymize.Policy{Action: "keep", Type: "float",
			Bounds: []float64{0, math.Inf(1)}}, "bounds"},
		{"scale on int", anonymize.Policy{Action: "keep", Type: "int", Scale: 2}, "scale"},
		{"scale 7", anonymize.Policy{Action: "keep", Type: "decimal", Scale: 7}, "scale"},
		{"scale negative", anonymize.Policy{Action: "keep", Type: "decimal", Scale: -1}, "scale"},
		{"normalize upper", anonymize.Policy{Action: "pseudonymize", Normalize: "upper"},
			"normalize"},
		// Fields of another action.
		{"length on keep", anonymize.Policy{Action: "keep", Type: "string", Length: 3}, "length"},
		{"bounds on drop", anonymize.Policy{Action: "drop", Bounds: []float64{0, 1}}, "bounds"},
		{"as on drop", anonymize.Policy{Action: "drop", As: "x"}, "as"},
		{"to on truncate", anonymize.Policy{Action: "truncate", Length: 2, To: "year"}, "to"},
		{"keep_last on pseudonymize", anonymize.Policy{Action: "pseudonymize", KeepLast: 4},
			"keep_last"},
		{"normalize on mask", anonymize.Policy{Action: "mask", Normalize: "lower"}, "normalize"},
		{"type on generalize", anonymize.Policy{Action: "generalize", To: "year", Type: "date"},
			"type"},
		{"format on keep", anonymize.Policy{Action: "keep", Type: "string", Format: "email"},
			"format"},
		{"reference on bucket", anonymize.Policy{Action: "generalize", To: "bucket", Width: 1,
			Reference: "2026-01-01"}, "reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error naming %s", tt.p, tt.field)
			}
			word := regexp.MustCompile(`\b` + regexp.QuoteMeta(tt.field) + `\b`)
			if !word.MatchString(err.Error()) {
				t.Errorf("Validate(%+v) = %q, want it to name %s", tt.p, err, tt.field)
			}

			// Compile validates first and gives the same error.
			tr, cerr := tt.p.Compile(anonymize.Key{}, testNow)
			if cerr == nil || cerr.Error() != err.Error() || tr != nil {
				t.Errorf("Compile = %v, %v; want nil, %q", tr, cerr, err)
			}
		})
	}
}

func TestPolicyCompile(t *testing.T) {
	key := newTestKey(t, "crm")
	tests := []struct {
		name   string
		p      anonymize.Policy
		source string
		output arrow.DataType
	}{
		{"pseudonymize", anonymize.Policy{Action: "pseudonymize"}, "VARCHAR",
			arrow.BinaryTypes.String},
		{"encrypt", anonymize.Policy{Action: "encrypt"}, "VARCHAR", arrow.BinaryTypes.String},
		{"generalize year", anonymize.Policy{Action: "generalize", To: "year"}, "DATE",
			arrow.PrimitiveTypes.Int32},
		{"generalize month", anonymize.Policy{Action: "generalize", To: "month"}, "DATE",
			arrow.BinaryTypes.String},
		{"generalize age_band", anonymize.Policy{Action: "generalize", To: "age_band"}, "DATE",
			arrow.BinaryTypes.String},
		{"generalize day", anonymize.Policy{Action: "generalize", To: "day"}, "TIMESTAMPTZ",
			arrow.FixedWidthTypes.Date32},
		{"generalize week", anonymize.Policy{Action: "generalize", To: "week"}, "TIMESTAMPTZ",
			arrow.FixedWidthTypes.Date32},
		{"generalize bucket", anonymize.Policy{Action: "generalize", To: "bucket", Width: 10},
			"DOUBLE", arrow.PrimitiveTypes.Float64},
		{"truncate", anonymize.Policy{Action: "truncate", Length: 2}, "VARCHAR",
			arrow.BinaryTypes.String},
		{"mask card", anonymize.Policy{Action: "mask", KeepLast: 4}, "VARCHAR",
			arrow.BinaryTypes.String},
		{"mask email", anonymize.Policy{Action: "mask", Format: "email"}, "VARCHAR",
			arrow.BinaryTypes.String},
		{"keep string", anonymize.Policy{Action: "keep", Type: "string"}, "VARCHAR",
			arrow.BinaryTypes.String},
		{"keep int", anonymize.Policy{Action: "keep", Type: "int"}, "BIGINT",
			arrow.PrimitiveTypes.Int64},
		{"keep decimal default scale", anonymize.Policy{Action: "keep", Type: "decimal"},
			"DECIMAL(18,2)", &arrow.Decimal128Type{Precision: 18, Scale: 2}},
		{"keep decimal scale 4", anonymize.Policy{Action: "keep", Type: "decimal", Scale: 4},
			"DECIMAL(18,4)", &arrow.Decimal128Type{Precision: 18, Scale: 4}},
		{"keep float", anonymize.Policy{Action: "keep", Type: "float"}, "DOUBLE",
			arrow.PrimitiveTypes.Float64},
		{"keep bool", anonymize.Policy{Action: "keep", Type: "bool"}, "BOOLEAN",
			arrow.FixedWidthTypes.Boolean},
		{"keep date", anonymize.Policy{Action: "keep", Type: "date"}, "DATE",
			arrow.FixedWidthTypes.Date32},
		{"keep timestamp", anonymize.Policy{Action: "keep", Type: "timestamp"}, "TIMESTAMPTZ",
			arrow.FixedWidthTypes.Timestamp_us},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, tt.p, key)
			if got := tr.Source(); got != tt.source {
				t.Errorf("Source() = %q, want %q", got, tt.source)
			}
			if got := tr.Output(); !arrow.TypeEqual(got, tt.output) {
				t.Errorf("Output() = %s, want %s", got, tt.output)
			}
		})
	}

	t.Run("drop has no transform", func(t *testing.T) {
		tr, err := anonymize.Policy{Action: "drop"}.Compile(key, testNow)
		if tr != nil || err != nil {
			t.Errorf("Compile(drop) = %v, %v; want nil, nil", tr, err)
		}
	})
	t.Run("pseudonymize uses the key", func(t *testing.T) {
		tr := compile(t, anonymize.Policy{Action: "pseudonymize"}, key)
		got, err := tr.Value("alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		want := anonymize.NewPseudonymizer(key).Token("alice@example.com")
		if got != want {
			t.Errorf("compiled pseudonymize gives %q, want NewPseudonymizer's %q", got, want)
		}
	})
}
