package queries

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"haze/pipeline"
	"math"
	"math/big"
	"strconv"
	"strings"

	"haze/dp"
)

// aggInput is one numeric column that aggregates read, clamped and in
// fixed point.
type aggInput struct {
	column string
	lo, hi float64
	scale  int
	// quantiles is set when a quantile or median reads the column, which
	// then needs its bounded values, not only their sums.
	quantiles bool
}

// planned is a query turned into bounded SQL.
type planned struct {
	sql    string
	inputs []aggInput
	// inputOf maps each select item to its input, -1 for count(*), people
	// and group items.
	inputOf []int
	// countOf maps count(column) items to the column's index in counted.
	counted []string
}

// plan rewrites a checked query into bounded DuckDB SQL over src, a table
// function reading the version's files. The
// SQL gives one row per group with, in order: the group keys as text, the
// distinct privacy units, the rows, then per counted column its non-NULL
// count, then per input its count, fixed-point sum, sum of squares (as
// text) and, for quantile inputs, the list of bounded values.
//
// Contribution bounds are enforced before anything is aggregated: each
// unit keeps at most MaxRows rows per group and at most MaxGroups groups,
// both chosen in a random order DuckDB draws afresh for every query.
func plan(q *Query, t Table, src string, s *settings) (*planned, error) {
	p := &planned{inputOf: make([]int, len(q.Select))}
	index := map[string]int{}
	for i, it := range q.Select {
		p.inputOf[i] = -1
		a := it.Agg
		if a == nil {
			continue
		}
		if a.Kind == AggCount && a.Column != "" {
			if _, ok := index["count:"+a.Column]; !ok {
				index["count:"+a.Column] = len(p.counted)
				p.counted = append(p.counted, a.Column)
			}
			continue
		}
		if !a.Kind.NeedsBounds() {
			continue
		}
		col := t.Columns[strings.ToLower(a.Column)]
		key := a.Column
		j, ok := index[key]
		if !ok {
			j = len(p.inputs)
			index[key] = j
			p.inputs = append(p.inputs, aggInput{column: a.Column, lo: a.Bounds[0], hi: a.Bounds[1],
				scale: scaleOf(col.Type)})
		}
		if a.Kind == AggQuantile || a.Kind == AggMedian {
			p.inputs[j].quantiles = true
		}
		p.inputOf[i] = j
	}

	var cols, perUnit, final []string
	var keys []string
	cols = append(cols, QuoteIdent(t.PrivacyUnit)+" AS __u")
	for i, g := range q.Groups {
		k := "__g" + strconv.Itoa(i)
		keys = append(keys, k)
		cols = append(cols, QuoteIdent(g.Column)+" AS "+k)
		final = append(final, "CAST("+k+" AS VARCHAR)")
	}
	for i, c := range p.counted {
		cols = append(cols, QuoteIdent(c)+" AS __c"+strconv.Itoa(i))
	}
	for i, in := range p.inputs {
		factor := math.Pow10(in.scale)
		// NULL stays NULL: greatest and least would turn it into a bound.
		col := QuoteIdent(in.column)
		cols = append(cols, fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE CAST(round(least(greatest("+
			"CAST(%s AS DOUBLE), %s), %s) * %s) AS BIGINT) END AS __x%d", col, col, num(in.lo),
			num(in.hi), num(factor), i))
	}
	cols = append(cols, "random() AS __r")

	perUnit = append(perUnit, "__u")
	perUnit = append(perUnit, keys...)
	perUnit = append(perUnit, "count(*) AS __n")
	final = append(final, "count(*) AS __people", "CAST(sum(__n) AS BIGINT) AS __rows")
	for i := range p.counted {
		c := "__c" + strconv.Itoa(i)
		perUnit = append(perUnit, "count("+c+") AS "+c)
		final = append(final, "CAST(sum("+c+") AS BIGINT)")
	}
	for i, in := range p.inputs {
		x := "__x" + strconv.Itoa(i)
		perUnit = append(perUnit, "count("+x+") AS "+x+"_n", "sum("+x+") AS "+x+"_s",
			"sum(CAST("+x+" AS HUGEINT) * "+x+") AS "+x+"_q")
		final = append(final, "CAST(sum("+x+"_n) AS BIGINT)", "CAST(coalesce(sum("+x+"_s), 0) AS BIGINT)",
			"CAST(coalesce(sum("+x+"_q), 0) AS VARCHAR)")
		if in.quantiles {
			perUnit = append(perUnit, "list("+x+") FILTER (WHERE "+x+" IS NOT NULL) AS "+x+"_v")
			final = append(final, "flatten(list("+x+"_v))")
		}
	}

	where := []string{"__u IS NOT NULL"}
	filters := []string{}
	if q.Where != nil {
		filters = append(filters, "("+q.Where.SQL()+")")
	}
	for i, keysOf := range s.public {
		col := t.Columns[strings.ToLower(q.Groups[i].Column)]
		lits := make([]string, len(keysOf))
		for j, k := range keysOf {
			lits[j] = "CAST(" + QuoteString(k) + " AS " + col.Type + ")"
		}
		filters = append(filters, QuoteIdent(q.Groups[i].Column)+" IN ("+strings.Join(lits, ", ")+")")
	}

	partition := strings.Join(append([]string{"__u"}, keys...), ", ")
	groupBy := ""
	if len(keys) > 0 {
		groupBy = "\nGROUP BY " + strings.Join(keys, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "WITH src AS (\n  SELECT %s\n  FROM %s", strings.Join(cols, ", "), src)
	if len(filters) > 0 {
		fmt.Fprintf(&b, "\n  WHERE %s", strings.Join(filters, " AND "))
	}
	fmt.Fprintf(&b, "\n), bounded_rows AS (\n  SELECT * FROM src WHERE %s\n"+
		"  QUALIFY row_number() OVER (PARTITION BY %s ORDER BY __r) <= %d\n",
		strings.Join(where, " AND "), partition, s.bounds.MaxRows)
	fmt.Fprintf(&b, "), unit_groups AS (\n  SELECT %s\n  FROM bounded_rows GROUP BY %s\n"+
		"  QUALIFY row_number() OVER (PARTITION BY __u ORDER BY hash(%s, %d)) <= %d\n)\n",
		strings.Join(perUnit, ", "), partition, partition, secretSeed(), s.bounds.MaxGroups)
	fmt.Fprintf(&b, "SELECT %s\nFROM unit_groups%s", strings.Join(final, ", "), groupBy)
	p.sql = b.String()
	return p, nil
}

// secretSeed draws the seed of a query's group order: a unit's groups are
// kept in an order no one can predict, so none can be favoured.
func secretSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// groupRow is one row of the bounded SQL: exact, bounded aggregates.
type groupRow struct {
	keys    []*string
	people  int64
	rows    int64
	counted []int64
	inputs  []inputStats
}

type inputStats struct {
	count   int64
	sum     int64
	squares *big.Int
	values  []float64 // bounded values, in units, for quantiles
}

// execute runs the bounded SQL and reads its rows.
func (p *planned) execute(ctx context.Context, db *sql.DB, groups int) ([]groupRow, error) {
	rows, err := db.QueryContext(ctx, p.sql)
	if err != nil {
		return nil, duckError("running bounded query", ctx, err)
	}
	defer rows.Close()

	var out []groupRow
	for rows.Next() {
		r := groupRow{keys: make([]*string, groups), counted: make([]int64, len(p.counted)),
			inputs: make([]inputStats, len(p.inputs))}
		dest := make([]any, 0, groups+2+len(p.counted)+4*len(p.inputs))
		for i := range r.keys {
			dest = append(dest, &r.keys[i])
		}
		dest = append(dest, &r.people, &r.rows)
		for i := range r.counted {
			dest = append(dest, &r.counted[i])
		}
		squares := make([]string, len(p.inputs))
		lists := make([]any, len(p.inputs))
		for i, in := range p.inputs {
			dest = append(dest, &r.inputs[i].count, &r.inputs[i].sum, &squares[i])
			if in.quantiles {
				dest = append(dest, &lists[i])
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, duckError("reading bounded query", ctx, err)
		}
		for i, in := range p.inputs {
			sq, ok := new(big.Int).SetString(squares[i], 10)
			if !ok {
				return nil, fmt.Errorf("reading bounded query: sum of squares %q", squares[i])
			}
			r.inputs[i].squares = sq
			if in.quantiles {
				r.inputs[i].values = scaledValues(lists[i], in.scale)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, duckError("reading bounded query", ctx, err)
	}
	return out, nil
}

// duckError keeps only the class of a DuckDB error ("Conversion Error"):
// the rest can quote SQL, file paths and values, which must not reach
// logs. When ctx has ended, its error is joined so callers see a timeout
// or a cancellation rather than DuckDB's interruption.
func duckError(doing string, ctx context.Context, err error) error {
	msg := err.Error()
	if i := strings.IndexAny(msg, ":\n"); i > 0 {
		msg = msg[:i]
	}
	out := fmt.Errorf("%s: %s", doing, msg)
	if errors.Is(pipeline.DecryptError(err), pipeline.ErrDataKey) {
		out = fmt.Errorf("%s: %w", doing, pipeline.ErrDataKey)
	}
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), out)
	}
	return out
}

// scaledValues turns a DuckDB list of fixed-point integers into values.
func scaledValues(list any, scale int) []float64 {
	items, _ := list.([]any)
	out := make([]float64, 0, len(items))
	factor := math.Pow10(scale)
	for _, it := range items {
		if v, ok := it.(int64); ok {
			out = append(out, float64(v)/factor)
		}
	}
	return out
}

// dpRange is the fixed-point range of an input.
func (in aggInput) dpRange() dp.Range { return dp.Range{Lo: in.lo, Hi: in.hi, Scale: in.scale} }
