package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gin-gonic/gin"

	"haze/queries"
	"haze/store"
)

// Media types the query route can answer in, chosen by Accept.
const (
	mediaCSV   = "text/csv"
	mediaArrow = "application/vnd.apache.arrow.stream"
)

// queryRequest is the body of POST /v1/query: the SQL and its DP options.
type queryRequest struct {
	SQL string `json:"sql"`
	queries.Options
}

func (s *Server) query(c *gin.Context) {
	var req queryRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if strings.TrimSpace(req.SQL) == "" {
		s.fail(c, badRequest("sql is required"))
		return
	}
	k := caller(c)
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.QueryTimeout)
	defer cancel()

	a, err := s.engine.Query(ctx, queries.Request{Principal: k.Name, SQL: req.SQL, Options: req.Options,
		Audit: func(tx *sql.Tx, a *queries.Answer) error {
			detail := "answered"
			if a.Cached {
				detail = "released before: no charge"
			}
			_, err := s.cat.AppendAudit(ctx, tx, store.AuditEntry{Principal: k.Name, Role: k.Role,
				Action: "query", Dataset: a.Dataset, Query: a.Query, Epsilon: a.Spent.Epsilon,
				Delta: a.Spent.Delta, Outcome: "allowed", Detail: detail})
			return err
		}})
	if err != nil {
		st, code, _ := status(err)
		outcome := "refused"
		if st >= 500 {
			outcome = "error"
		}
		s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: "query",
			Query: clip(req.SQL, 2000), Outcome: outcome, Detail: code})
		s.metrics.refusals.WithLabelValues(code).Inc()
		s.fail(c, err)
		return
	}
	s.metrics.epsilon.WithLabelValues(a.Dataset).Add(a.Spent.Epsilon)

	switch accept := c.GetHeader("Accept"); {
	case strings.Contains(accept, mediaCSV):
		c.Header("Content-Type", mediaCSV+"; charset=utf-8")
		c.Status(http.StatusOK)
		if err := a.WriteCSV(c.Writer); err != nil {
			s.log.Error("writing csv answer", "request_id", requestID(c), "err", err)
		}
	case strings.Contains(accept, mediaArrow):
		c.Header("Content-Type", mediaArrow)
		c.Status(http.StatusOK)
		if err := writeArrow(c.Writer, a); err != nil {
			s.log.Error("writing arrow answer", "request_id", requestID(c), "err", err)
		}
	default:
		c.JSON(http.StatusOK, a)
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// decodeJSON reads a JSON body strictly: unknown fields are errors.
func decodeJSON(c *gin.Context, v any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("the body is not the JSON this route expects: " + jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error"
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "unreadable"
}

// writeArrow writes the answer as an Arrow IPC stream: group columns as
// text or numbers, each aggregate as three float64 columns (value, low,
// high).
func writeArrow(w http.ResponseWriter, a *queries.Answer) error {
	mem := memory.DefaultAllocator
	var fields []arrow.Field
	for i, col := range a.Columns {
		if col.Kind == "aggregate" {
			for _, suffix := range []string{"", "_low", "_high"} {
				fields = append(fields, arrow.Field{Name: col.Name + suffix, Type: arrow.PrimitiveTypes.Float64})
			}
			continue
		}
		t := arrow.DataType(arrow.BinaryTypes.String)
		if numericColumn(a, i) {
			t = arrow.PrimitiveTypes.Float64
		}
		fields = append(fields, arrow.Field{Name: col.Name, Type: t, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, row := range a.Rows {
		f := 0
		for _, cell := range row {
			switch v := cell.(type) {
			case queries.Estimate:
				b.Field(f).(*array.Float64Builder).Append(v.Value)
				b.Field(f + 1).(*array.Float64Builder).Append(v.Low)
				b.Field(f + 2).(*array.Float64Builder).Append(v.High)
				f += 3
				continue
			case nil:
				b.Field(f).AppendNull()
			case float64:
				if fb, ok := b.Field(f).(*array.Float64Builder); ok {
					fb.Append(v)
				} else {
					b.Field(f).(*array.StringBuilder).Append(formatKey(v))
				}
			default:
				if sb, ok := b.Field(f).(*array.StringBuilder); ok {
					sb.Append(formatKey(v))
				} else {
					b.Field(f).AppendNull()
				}
			}
			f++
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	wr := ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err := wr.Write(rec); err != nil {
		wr.Close()
		return err
	}
	return wr.Close()
}

// numericColumn reports whether every key of a group column is a number.
func numericColumn(a *queries.Answer, i int) bool {
	seen := false
	for _, row := range a.Rows {
		switch row[i].(type) {
		case float64:
			seen = true
		case nil:
		default:
			return false
		}
	}
	return seen
}

func formatKey(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
