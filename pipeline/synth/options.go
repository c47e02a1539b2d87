package synth

import (
	"errors"
	"fmt"
)

// Format names the file format of a generated export.
type Format string

// The formats Write can produce.
const (
	CSV     Format = "csv"
	Parquet Format = "parquet"
	NDJSON  Format = "ndjson"
)

// MaxRows is the largest Options.Rows accepted (2^29, about 537 million).
// Passenger ids and booking references are unique up to this many rows.
const MaxRows = 1 << 29

// ErrInvalidOptions is matched (with errors.Is) by every error that Write
// and WriteFile return for unusable Options. The error text names the
// offending option, for example "rows must be > 0".
var ErrInvalidOptions = errors.New("invalid options")

// Options say what to generate. The zero value is not usable: Rows is
// required.
type Options struct {
	// Rows is the number of booking rows to write, header excluded.
	// Required: 1 ≤ Rows ≤ MaxRows.
	Rows int

	// Seed selects the data set. Equal Options (Seed included) give
	// byte-identical output; zero is a valid seed like any other.
	Seed uint64

	// Format is the file format. Defaults to CSV when empty.
	Format Format

	// Dirty mixes in the defects real exports contain: about 0.4% of
	// rows carry exactly one defect each (see the package documentation).
	// False gives a clean export. Rows that carry no defect are the same
	// with and without Dirty, except for some first_name and last_name
	// values (see the package documentation).
	Dirty bool
}

// Stats describe what Write produced.
type Stats struct {
	// Rows is the number of booking rows written, header excluded.
	Rows int
	// Passengers is the number of distinct passengers among those rows.
	Passengers int
	// DirtyRows is the number of rows that carry a defect; zero unless
	// Options.Dirty was set.
	DirtyRows int
}

// optionError is an error about one option. Its text is written for the
// person who set the option; it matches ErrInvalidOptions.
type optionError struct{ msg string }

func (e *optionError) Error() string { return e.msg }
func (e *optionError) Unwrap() error { return ErrInvalidOptions }

// normalize validates opts and returns them with defaults filled in.
func (opts Options) normalize() (Options, error) {
	if opts.Rows <= 0 {
		return opts, &optionError{"rows must be > 0"}
	}
	if opts.Rows > MaxRows {
		return opts, &optionError{fmt.Sprintf("rows must be ≤ %d", MaxRows)}
	}

	switch opts.Format {
	case "":
		opts.Format = CSV
	case CSV, Parquet, NDJSON:
	default:
		return opts, &optionError{
			fmt.Sprintf("format %q is not one of csv, parquet, ndjson", string(opts.Format)),
		}
	}
	return opts, nil
}
