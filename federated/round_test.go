package federated

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidateNamesParameter(t *testing.T) {
	ids := identities(t, 5)
	tests := []struct {
		name  string
		edit  func(r *Round)
		param string
	}{
		{"empty id", func(r *Round) { r.ID = "" }, "id"},
		{"id with a slash", func(r *Round) { r.ID = "a/b" }, "id"},
		{"empty period", func(r *Round) { r.Period = "" }, "period"},
		{"period with a newline", func(r *Round) { r.Period = "2026\n11" }, "period"},
		{"two partners", func(r *Round) { r.Roster = r.Roster[:2] }, "roster"},
		{"bad partner name", func(r *Round) { r.Roster[1].Name = "-x" }, "roster[1].name"},
		{"duplicate name", func(r *Round) { r.Roster[2].Name = r.Roster[0].Name },
			"roster[2].name"},
		{"duplicate signing key", func(r *Round) { r.Roster[3].SignKey = r.Roster[1].SignKey },
			"roster[3].sign_key"},
		{"short signing key", func(r *Round) { r.Roster[0].SignKey = r.Roster[0].SignKey[:31] },
			"roster[0].sign_key"},
		{"duplicate key agreement key", func(r *Round) { r.Roster[4].DHKey = r.Roster[0].DHKey },
			"roster[4].dh_key"},
		{"missing key agreement key", func(r *Round) { r.Roster[2].DHKey = nil },
			"roster[2].dh_key"},
		{"min partners 2", func(r *Round) { r.MinPartners = 2 }, "min_partners"},
		{"min partners above roster", func(r *Round) { r.MinPartners = 6 }, "min_partners"},
		{"epsilon 0", func(r *Round) { r.Epsilon = 0 }, "epsilon"},
		{"epsilon NaN", func(r *Round) { r.Epsilon = math.NaN() }, "epsilon"},
		{"epsilon infinite", func(r *Round) { r.Epsilon = math.Inf(1) }, "epsilon"},
		{"epsilon tiny", func(r *Round) { r.Epsilon = 0x1p-50 }, "epsilon"},
		{"epsilon too small for the bounds", func(r *Round) {
			r.Epsilon = 1e-9
		}, "epsilon"},
		{"epsilon too large for whole counts", func(r *Round) {
			r.Epsilon, r.Delta = 1000, 0.5
		}, "epsilon"},
		{"delta 0", func(r *Round) { r.Delta = 0 }, "delta"},
		{"delta 1", func(r *Round) { r.Delta = 1 }, "delta"},
		{"no deadline", func(r *Round) { r.Deadline = time.Time{} }, "deadline"},
		{"no dataset", func(r *Round) { r.Statistic.Dataset = "" }, "statistic.dataset"},
		{"no aggregates", func(r *Round) { r.Statistic.Aggregates = nil },
			"statistic.aggregates"},
		{"unknown kind", func(r *Round) { r.Statistic.Aggregates[0].Kind = "avg" },
			"statistic.aggregates[0].kind"},
		{"count with a column", func(r *Round) { r.Statistic.Aggregates[0].Column = "fare" },
			"statistic.aggregates[0]"},
		{"sum without column", func(r *Round) { r.Statistic.Aggregates[1].Column = "" },
			"statistic.aggregates[1].column"},
		{"sum with lo above hi", func(r *Round) { r.Statistic.Aggregates[1].Lo = 6000 },
			"statistic.aggregates[1].lo"},
		{"sum with infinite hi", func(r *Round) { r.Statistic.Aggregates[1].Hi = math.Inf(1) },
			"statistic.aggregates[1].hi"},
		{"sum with hi finer than the scale", func(r *Round) {
			r.Statistic.Aggregates[1].Hi = 5000.001
		}, "statistic.aggregates[1].hi"},
		{"duplicate aggregate", func(r *Round) {
			r.Statistic.Aggregates = append(r.Statistic.Aggregates, Aggregate{Kind: KindCount})
		}, "statistic.aggregates[2]"},
		{"duplicate group column", func(r *Round) {
			r.Statistic.Groups[1].Column = "destination"
		}, "statistic.groups[1].column"},
		{"no keys", func(r *Round) { r.Statistic.Groups[1].Keys = nil },
			"statistic.groups[1].keys"},
		{"duplicate key", func(r *Round) { r.Statistic.Groups[1].Keys[2] = "economy" },
			"statistic.groups[1].keys[2]"},
		{"invalid UTF-8 key", func(r *Round) { r.Statistic.Groups[0].Keys[0] = "\xff" },
			"statistic.groups[0].keys[0]"},
		{"max groups 0", func(r *Round) { r.Statistic.MaxGroupsContributed = 0 },
			"statistic.max_groups_contributed"},
		{"max contributions 0", func(r *Round) { r.Statistic.MaxContributionsPerGroup = -1 },
			"statistic.max_contributions_per_group"},
		{"scale 10", func(r *Round) { r.Statistic.Scale = 10 }, "statistic.scale"},
		{"too many cells", func(r *Round) {
			r.Statistic.Groups = append(r.Statistic.Groups, GroupKeys{Column: "month",
				Keys: strings.Split("123456789abcdefghijklmnopqrstuvwxyz", "")})
			r.Statistic.Groups[0].Keys = make([]string, 4000)
			for i := range r.Statistic.Groups[0].Keys {
				r.Statistic.Groups[0].Keys[i] = string(rune(0x4e00 + i))
			}
		}, "statistic.groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRound(ids, "r1", fareStatistic(10)).clone()
			tt.edit(&r)
			err := r.Validate()
			var pe *ParamError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidRound) {
				t.Fatalf("got %v, want a *ParamError naming %s", err, tt.param)
			}
			if pe.Param != tt.param || !strings.HasPrefix(pe.Error(), tt.param+" ") {
				t.Errorf("got %q naming %q, want %q", pe.Error(), pe.Param, tt.param)
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		if err := newRound(ids, "r1", fareStatistic(10)).Validate(); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
}

func TestHash(t *testing.T) {
	ids := identities(t, 4)
	base := newRound(ids, "r1", fareStatistic(3))
	want := base.Hash()

	t.Run("survives JSON and time zones", func(t *testing.T) {
		data, err := json.Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		var back Round
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		back.Deadline = back.Deadline.In(time.FixedZone("CET", 3600))
		if got := back.Hash(); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})

	edits := []struct {
		name string
		edit func(r *Round)
	}{
		{"id", func(r *Round) { r.ID = "r2" }},
		{"period", func(r *Round) { r.Period = "2026-12" }},
		{"roster order", func(r *Round) { r.Roster[0], r.Roster[1] = r.Roster[1], r.Roster[0] }},
		{"partner key", func(r *Round) { r.Roster[2].DHKey[0] ^= 1 }},
		{"min partners", func(r *Round) { r.MinPartners = 4 }},
		{"epsilon", func(r *Round) { r.Epsilon = math.Nextafter(1, 2) }},
		{"delta", func(r *Round) { r.Delta = 2e-6 }},
		{"dataset", func(r *Round) { r.Statistic.Dataset = "loyalty" }},
		{"aggregate bound", func(r *Round) { r.Statistic.Aggregates[1].Hi = 4000 }},
		{"group key", func(r *Round) { r.Statistic.Groups[1].Keys[0] = "eco" }},
		{"keys moved between columns", func(r *Round) {
			g := r.Statistic.Groups
			g[0].Keys = append(g[0].Keys, g[1].Keys[0])
			g[1].Keys = g[1].Keys[1:]
		}},
		{"max groups", func(r *Round) { r.Statistic.MaxGroupsContributed = 3 }},
		{"max contributions", func(r *Round) { r.Statistic.MaxContributionsPerGroup = 3 }},
		{"scale", func(r *Round) { r.Statistic.Scale = 3 }},
		{"deadline", func(r *Round) { r.Deadline = r.Deadline.Add(time.Nanosecond) }},
	}
	for _, tt := range edits {
		t.Run(tt.name, func(t *testing.T) {
			r := base.clone()
			tt.edit(&r)
			if got := r.Hash(); got == want {
				t.Errorf("got the same hash %s after the edit, want another", got)
			}
		})
	}
}

func TestCellLayout(t *testing.T) {
	ids := identities(t, 3)
	r := newRound(ids, "r1", fareStatistic(3)) // 3 destinations × 4 cabins × 2

	if got, want := r.Cells(), 24; got != want {
		t.Fatalf("got %d cells, want %d", got, want)
	}
	keys, a := r.Cell(15)
	if want := []string{"D0001", "first"}; !slices.Equal(keys, want) || a != 1 {
		t.Errorf("Cell(15): got %v, %d, want %v, 1", keys, a, want)
	}
	for i := range r.Cells() {
		keys, a := r.Cell(i)
		got, err := r.CellIndex(a, keys...)
		if err != nil || got != i {
			t.Errorf("CellIndex(Cell(%d)): got %d, %v, want %d", i, got, err, i)
		}
	}
	if _, err := r.CellIndex(0, "D0001", "steerage"); !errors.Is(err, ErrMalformed) {
		t.Errorf("CellIndex with an unknown key: got %v, want %v", err, ErrMalformed)
	}
}

func TestToFixed(t *testing.T) {
	ids := identities(t, 3)
	st := fareStatistic(1)
	st.Groups = st.Groups[:1] // one group: a count and a fare sum
	r := newRound(ids, "r1", st)

	tests := []struct {
		name   string
		values []float64
		want   []int64
		err    error
	}{
		{"count and cents", []float64{12, 1234.56}, []int64{12, 123456}, nil},
		{"negative sum", []float64{1, -0.07}, []int64{1, -7}, nil},
		{"float error rounds", []float64{3, 0.1 + 0.2}, []int64{3, 30}, nil},
		{"wrong length", []float64{1}, nil, ErrMalformed},
		{"not finite", []float64{1, math.NaN()}, nil, ErrMalformed},
		{"too large", []float64{1, 1e11}, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.ToFixed(tt.values)
			if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v, want %v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
