package federated

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// session is one open round at a coordinator with a prepared submission
// from every partner.
type session struct {
	ids   []*Identity
	round Round
	clock *clock
	coord *Coordinator
	subs  []Submission
	exact [][]int64
	contr [][]bool
}

func newSession(t *testing.T, partners int) *session {
	t.Helper()
	ids := identities(t, partners)
	r := newRound(ids, "r1", fareStatistic(5))
	exact, contr := randomInputs(rand.New(rand.NewPCG(11, 12)), r, partners, 1)
	clk := newClock()
	c := NewCoordinator(NewMemoryStore(), clk.Now)
	if err := c.Open(context.Background(), r); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &session{
		ids: ids, round: r, clock: clk, coord: c, exact: exact, contr: contr,
		subs: prepareAll(t, ids, r, exact, contr, WithoutNoise()),
	}
}

func (s *session) submitted(t *testing.T) []string {
	t.Helper()
	rec, err := s.coord.Record(context.Background(), s.round.ID)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return rec.Submitted
}

func TestSubmitRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// submit makes the submissions before the refused one and returns
		// the refused one's error.
		submit func(t *testing.T, s *session) error
		want   error
		// accepted is how many submissions the round holds afterwards.
		accepted int
	}{
		{"second submission", func(t *testing.T, s *session) error {
			mustSubmit(t, s.coord, s.subs[0])
			again, err := Prepare(s.ids[0], s.round, s.exact[0], s.contr[0], WithoutNoise())
			if err != nil {
				t.Fatal(err)
			}
			return s.coord.Submit(ctx, again)
		}, ErrDuplicate, 1},
		{"replay", func(t *testing.T, s *session) error {
			mustSubmit(t, s.coord, s.subs[0])
			return s.coord.Submit(ctx, s.subs[0])
		}, ErrDuplicate, 1},
		{"signed by another partner", func(t *testing.T, s *session) error {
			forged := s.subs[0].clone()
			forged.Signature = ed25519.Sign(s.ids[1].sign, forged.digest())
			return s.coord.Submit(ctx, forged)
		}, ErrBadSignature, 0},
		{"value flipped after signing", func(t *testing.T, s *session) error {
			forged := s.subs[0].clone()
			forged.Values[3] ^= 1
			return s.coord.Submit(ctx, forged)
		}, ErrBadSignature, 0},
		{"indicator flipped after signing", func(t *testing.T, s *session) error {
			forged := s.subs[0].clone()
			forged.Contributors[7]++
			return s.coord.Submit(ctx, forged)
		}, ErrBadSignature, 0},
		{"forged after the partner submitted", func(t *testing.T, s *session) error {
			mustSubmit(t, s.coord, s.subs[0])
			forged := s.subs[0].clone()
			forged.Values[0]++
			return s.coord.Submit(ctx, forged)
		}, ErrBadSignature, 1},
		{"unknown partner", func(t *testing.T, s *session) error {
			outsider, err := NewIdentity("outsider")
			if err != nil {
				t.Fatal(err)
			}
			forged := s.subs[0].clone()
			forged.Partner = outsider.Name
			forged.Signature = ed25519.Sign(outsider.sign, forged.digest())
			return s.coord.Submit(ctx, forged)
		}, ErrUnknownPartner, 0},
		{"wrong round id", func(t *testing.T, s *session) error {
			other := s.subs[0].clone()
			other.RoundID = "r2"
			return s.coord.Submit(ctx, other)
		}, ErrUnknownRound, 0},
		{"round edited", func(t *testing.T, s *session) error {
			edited := s.round.clone()
			edited.Epsilon = 2
			sub, err := Prepare(s.ids[0], edited, s.exact[0], s.contr[0], WithoutNoise())
			if err != nil {
				t.Fatal(err)
			}
			return s.coord.Submit(ctx, sub)
		}, ErrWrongHash, 0},
		{"missing cells", func(t *testing.T, s *session) error {
			short := s.subs[0].clone()
			short.Values = short.Values[1:]
			return s.coord.Submit(ctx, short)
		}, ErrMalformed, 0},
		{"after the deadline", func(t *testing.T, s *session) error {
			mustSubmit(t, s.coord, s.subs[0])
			s.clock.Advance(time.Hour + time.Nanosecond)
			return s.coord.Submit(ctx, s.subs[1])
		}, ErrLate, 1},
		{"after an abort", func(t *testing.T, s *session) error {
			if err := s.coord.Abort(ctx, s.round.ID, "operator"); err != nil {
				t.Fatal(err)
			}
			return s.coord.Submit(ctx, s.subs[1])
		}, ErrClosed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession(t, 5)
			err := tt.submit(t, s)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if got := len(s.submitted(t)); got != tt.accepted {
				t.Errorf("got %d accepted submissions, want %d", got, tt.accepted)
			}
		})
	}
}

func mustSubmit(t *testing.T, c *Coordinator, s Submission) {
	t.Helper()
	if err := c.Submit(context.Background(), s); err != nil {
		t.Fatalf("Submit(%s): %v", s.Partner, err)
	}
}

func TestDropoutAbortsAndRerun(t *testing.T) {
	ctx := context.Background()
	s := newSession(t, 5)
	for _, sub := range s.subs[:4] {
		mustSubmit(t, s.coord, sub)
	}

	if _, err := s.coord.Result(ctx, "r1"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Result with 4 of 5: got %v, want %v", err, ErrNotReady)
	}
	if got, err := s.coord.Expire(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Expire before the deadline: got %v, %v, want none", got, err)
	}

	// The deadline passes without the fifth submission.
	s.clock.Advance(2 * time.Hour)
	if err := s.coord.Submit(ctx, s.subs[4]); !errors.Is(err, ErrLate) {
		t.Fatalf("late Submit: got %v, want %v", err, ErrLate)
	}
	got, err := s.coord.Expire(ctx)
	if err != nil || !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("Expire: got %v, %v, want [r1]", got, err)
	}
	if _, err := s.coord.Result(ctx, "r1"); !errors.Is(err, ErrAborted) {
		t.Fatalf("Result after the deadline: got %v, want %v", err, ErrAborted)
	}
	if rec, _ := s.coord.Record(ctx, "r1"); rec.Status != StatusAborted || rec.Result != nil {
		t.Fatalf("got status %s and result %v, want aborted and none", rec.Status, rec.Result)
	}

	// A re-run needs a new id, the same roster, and a deadline ahead.
	rerun := s.round.clone()
	rerun.Deadline = s.clock.Now().Add(time.Hour)
	if err := s.coord.Open(ctx, rerun); !errors.Is(err, ErrRoundExists) {
		t.Fatalf("re-run under the same id: got %v, want %v", err, ErrRoundExists)
	}
	subset := rerun.clone()
	subset.ID, subset.Roster = "r2-subset", subset.Roster[:4]
	if err := s.coord.Open(ctx, subset); !errors.Is(err, ErrRosterChanged) {
		t.Fatalf("re-run over 4 partners: got %v, want %v", err, ErrRosterChanged)
	}
	rerun.ID = "r2"
	if err := s.coord.Open(ctx, rerun); err != nil {
		t.Fatalf("re-run: %v", err)
	}

	// The old submissions do not count in the new round.
	if err := s.coord.Submit(ctx, s.subs[0]); !errors.Is(err, ErrClosed) &&
		!errors.Is(err, ErrLate) {
		t.Fatalf("old submission: got %v, want %v or %v", err, ErrClosed, ErrLate)
	}
	for _, sub := range prepareAll(t, s.ids, rerun, s.exact, s.contr, WithoutNoise()) {
		mustSubmit(t, s.coord, sub)
	}
	res, err := s.coord.Result(ctx, "r2")
	if err != nil {
		t.Fatalf("Result of the re-run: %v", err)
	}
	totals, _ := exactTotals(rerun, s.exact, s.contr)
	for i, c := range res.Cells {
		if c.Value != totals[i] {
			t.Errorf("cell %d: got %v, want %v", i, c.Value, totals[i])
		}
	}

	// The period is released now: no third round of the same statistic.
	third := rerun.clone()
	third.ID = "r3"
	if err := s.coord.Open(ctx, third); !errors.Is(err, ErrPeriodTaken) {
		t.Fatalf("third round: got %v, want %v", err, ErrPeriodTaken)
	}
}

func TestResultIsStable(t *testing.T) {
	ctx := context.Background()
	s := newSession(t, 3)
	for _, sub := range s.subs {
		mustSubmit(t, s.coord, sub)
	}
	// Past the deadline, a complete round is still released.
	s.clock.Advance(2 * time.Hour)
	first, err := s.coord.Result(ctx, "r1")
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	first.Cells[0].Value = 1e9 // the caller's copy
	second, err := s.coord.Result(ctx, "r1")
	if err != nil {
		t.Fatalf("second Result: %v", err)
	}
	if released := t0.Add(2 * time.Hour); second.Cells[0].Value == 1e9 ||
		!second.ReleasedAt.Equal(released) {
		t.Errorf("got value %v released at %v, want the stored result of %v",
			second.Cells[0].Value, second.ReleasedAt, released)
	}
	if err := s.coord.Abort(ctx, "r1", "too late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Abort after release: got %v, want %v", err, ErrClosed)
	}
}

func TestSuppression(t *testing.T) {
	// Three destinations, one count; partner p contributes to cell c when
	// p < contributors[c].
	contributors := []int{2, 3, 5}
	tests := []struct {
		minPartners    int
		wantSuppressed []bool
	}{
		{3, []bool{true, false, false}},
		{4, []bool{true, true, false}},
		{5, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("min partners %d", tt.minPartners), func(t *testing.T) {
			ids := identities(t, 5)
			r := newRound(ids, "r1", Statistic{
				Dataset:                  "bookings",
				Aggregates:               []Aggregate{{Kind: KindPeople}},
				Groups:                   []GroupKeys{{Column: "destination", Keys: []string{"A", "B", "C"}}},
				MaxGroupsContributed:     1,
				MaxContributionsPerGroup: 1,
			})
			r.MinPartners = tt.minPartners
			exact := make([][]int64, 5)
			contr := make([][]bool, 5)
			for p := range exact {
				exact[p], contr[p] = make([]int64, 3), make([]bool, 3)
				for c, k := range contributors {
					if p < k {
						exact[p][c], contr[p][c] = 100, true
					}
				}
			}
			res := release(t, r, prepareAll(t, ids, r, exact, contr, WithoutNoise()))

			for c, cell := range res.Cells {
				if cell.Contributors != contributors[c] {
					t.Errorf("cell %d: got %d contributors, want %d", c, cell.Contributors,
						contributors[c])
				}
				if cell.Suppressed != tt.wantSuppressed[c] {
					t.Errorf("cell %d: got suppressed %v, want %v", c, cell.Suppressed,
						tt.wantSuppressed[c])
				}
				want := 100 * float64(contributors[c])
				if cell.Suppressed {
					want = 0
				}
				if cell.Value != want || cell.Low > want || cell.High < want {
					t.Errorf("cell %d: got %v in [%v, %v], want %v", c, cell.Value, cell.Low,
						cell.High, want)
				}
			}
		})
	}
}

func TestInconsistentSumAborts(t *testing.T) {
	ctx := context.Background()
	s := newSession(t, 4)
	// Partner p3 follows the protocol except that it sends indicators
	// without masks, so the others' masks do not cancel.
	bad := s.subs[3].clone()
	for i := range bad.Contributors {
		bad.Contributors[i] = 1
	}
	bad.Signature = ed25519.Sign(s.ids[3].sign, bad.digest())
	s.subs[3] = bad
	for _, sub := range s.subs {
		mustSubmit(t, s.coord, sub)
	}

	_, err := s.coord.Result(ctx, "r1")
	if !errors.Is(err, ErrAborted) || !errors.Is(err, ErrInconsistent) {
		t.Fatalf("got %v, want %v and %v", err, ErrAborted, ErrInconsistent)
	}
	if rec, _ := s.coord.Record(ctx, "r1"); rec.Status != StatusAborted {
		t.Errorf("got status %s, want aborted", rec.Status)
	}
}

func TestOpenRefusals(t *testing.T) {
	ctx := context.Background()
	ids := identities(t, 4)
	base := newRound(ids, "r1", fareStatistic(2))
	tests := []struct {
		name   string
		before []Round // opened first
		open   func(r Round) Round
		want   error
	}{
		{"deadline passed", nil, func(r Round) Round {
			r.Deadline = t0
			return r
		}, ErrInvalidRound},
		{"invalid round", nil, func(r Round) Round {
			r.MinPartners = 1
			return r
		}, ErrInvalidRound},
		{"same id", []Round{base}, func(r Round) Round {
			r.Period = "2026-12"
			return r
		}, ErrRoundExists},
		{"same statistic and period open", []Round{base}, func(r Round) Round {
			r.ID = "r2"
			return r
		}, ErrPeriodTaken},
		{"other roster, same dataset and period", []Round{base}, func(r Round) Round {
			r.ID, r.Roster = "r2", r.Roster[:3]
			return r
		}, ErrRosterChanged},
		{"other statistic, same period", []Round{base}, func(r Round) Round {
			r.ID = "r2"
			r.Statistic.Aggregates = r.Statistic.Aggregates[:1]
			return r
		}, nil},
		{"same statistic, other period", []Round{base}, func(r Round) Round {
			r.ID, r.Period = "r2", "2026-12"
			return r
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCoordinator(NewMemoryStore(), newClock().Now)
			for _, r := range tt.before {
				if err := c.Open(ctx, r); err != nil {
					t.Fatalf("Open(%s): %v", r.ID, err)
				}
			}
			err := c.Open(ctx, tt.open(base.clone()))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
