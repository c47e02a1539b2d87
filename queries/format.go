package queries

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes the answer as a readable table: each aggregate as its
// noisy value with the 95% interval beside it, then what was spent.
func (a *Answer) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range a.Columns {
		if c.Kind == "aggregate" {
			fmt.Fprintf(tw, "%s\t%s\t", c.Name, "95% interval")
		} else {
			fmt.Fprintf(tw, "%s\t", c.Name)
		}
	}
	fmt.Fprintln(tw)
	for _, row := range a.Rows {
		for _, cell := range row {
			switch v := cell.(type) {
			case Estimate:
				fmt.Fprintf(tw, "%s\t[%s, %s]\t", formatNumber(v.Value), formatNumber(v.Low),
					formatNumber(v.High))
			case nil:
				fmt.Fprint(tw, "(null)\t")
			default:
				fmt.Fprintf(tw, "%v\t", formatAny(v))
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	note := fmt.Sprintf("%d groups (%s), %s noise, ε=%g δ=%g", len(a.Rows), a.GroupSelection,
		a.Mechanism, a.Cost.Epsilon, a.Cost.Delta)
	if a.Cached {
		note += ", released before: returned again at no cost"
	}
	fmt.Fprintln(w, note)
	if a.Remaining != nil {
		fmt.Fprintf(w, "budget left on %s: ε=%.4g δ=%.3g\n", a.Dataset, a.Remaining.Epsilon,
			a.Remaining.Delta)
	}
}

// WriteCSV writes the answer as CSV: group columns, then for each aggregate
// its value and the interval's bounds (name, name_low, name_high).
func (a *Answer) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	var header []string
	for _, c := range a.Columns {
		header = append(header, c.Name)
		if c.Kind == "aggregate" {
			header = append(header, c.Name+"_low", c.Name+"_high")
		}
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, row := range a.Rows {
		var rec []string
		for _, cell := range row {
			switch v := cell.(type) {
			case Estimate:
				rec = append(rec, floatText(v.Value), floatText(v.Low), floatText(v.High))
			case nil:
				rec = append(rec, "")
			default:
				rec = append(rec, formatAny(v))
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func floatText(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func formatAny(v any) string {
	if f, ok := v.(float64); ok {
		return formatNumber(f)
	}
	return fmt.Sprint(v)
}

// formatNumber prints a number for people: whole numbers plainly, others
// with two decimals.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return strconv.FormatFloat(f, 'g', -1, 64)
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		return strconv.FormatFloat(f, 'f', 0, 64)
	default:
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
}
