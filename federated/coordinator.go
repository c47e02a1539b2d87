package federated

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Coordinator runs rounds: it opens them, accepts exactly one signed
// submission per roster partner, and releases the sum once every partner
// has submitted, or aborts the round when its deadline passes first. It
// never sees an unmasked partner vector and adds no noise of its own.
//
// A Coordinator is safe for concurrent use. Several coordinators may share
// a Store, which then provides the atomicity (see Store), except for the
// period checks of Open, which one coordinator serialises among its own
// calls only.
type Coordinator struct {
	store Store
	now   func() time.Time
	open  sync.Mutex // serialises Open's period checks
}

// NewCoordinator returns a Coordinator over st. now is its clock, for
// deadlines; nil means time.Now. Tests inject a clock instead of sleeping.
func NewCoordinator(st Store, now func() time.Time) *Coordinator {
	if now == nil {
		now = time.Now
	}
	return &Coordinator{store: st, now: now}
}

// Open starts round r: from now until r.Deadline it accepts submissions.
//
// Open refuses, besides an invalid round (a *ParamError; the deadline
// must also be in the future):
//   - an id already used, even by an aborted round (ErrRoundExists);
//   - a round over the same dataset and period as an earlier round with
//     another set of partners (ErrRosterChanged), so that a period is never
//     released over a subset of the partners;
//   - a round with the same statistic and period as an open or released
//     round (ErrPeriodTaken): a period is re-run only after an abort.
//
// Open rounds of the same period past their deadline without all
// submissions are aborted first, as Expire would.
func (c *Coordinator) Open(ctx context.Context, r Round) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := c.now()
	if !r.Deadline.After(now) {
		return paramErrorf("deadline", "must be in the future")
	}

	c.open.Lock()
	defer c.open.Unlock()

	if _, err := c.store.GetRound(ctx, r.ID); err == nil {
		return fmt.Errorf("round %q: %w", r.ID, ErrRoundExists)
	} else if !errors.Is(err, ErrUnknownRound) {
		return fmt.Errorf("opening round %q: %w", r.ID, err)
	}

	// Check earlier rounds of the period over the same dataset.
	earlier, err := c.store.ListRounds(ctx, r.Period)
	if err != nil {
		return fmt.Errorf("opening round %q: listing rounds: %w", r.ID, err)
	}
	roster, stat := rosterKey(r.Roster), statisticKey(r.Statistic)
	for _, e := range earlier {
		if e.Round.Statistic.Dataset != r.Statistic.Dataset {
			continue
		}
		if rosterKey(e.Round.Roster) != roster {
			return fmt.Errorf("round %q: earlier round %q of period %q: %w", r.ID, e.Round.ID,
				r.Period, ErrRosterChanged)
		}
		if statisticKey(e.Round.Statistic) != stat {
			continue
		}
		status, err := c.expire(ctx, e, now)
		if err != nil {
			return fmt.Errorf("opening round %q: %w", r.ID, err)
		}
		if status != StatusAborted {
			return fmt.Errorf("round %q: round %q of period %q is %s: %w", r.ID, e.Round.ID,
				r.Period, status, ErrPeriodTaken)
		}
	}

	rec := Record{Round: r, Hash: r.Hash(), Status: StatusOpen}
	if err := c.store.CreateRound(ctx, rec); err != nil {
		return fmt.Errorf("opening round %q: %w", r.ID, err)
	}
	return nil
}

// Submit accepts s, once, for the round it names. Checks run in this
// order, each with its error:
//   - the round is known (ErrUnknownRound);
//   - the deadline has not passed (ErrLate);
//   - s is for this round's hash (ErrWrongHash), from a roster partner
//     (ErrUnknownPartner), with one entry per cell (ErrMalformed), and
//     signed by that partner (ErrBadSignature);
//   - the partner has not submitted already, be it this submission
//     replayed or another one (ErrDuplicate);
//   - the round is still open (ErrClosed).
//
// Other errors come from the Store.
func (c *Coordinator) Submit(ctx context.Context, s Submission) error {
	rec, err := c.store.GetRound(ctx, s.RoundID)
	if err != nil {
		return fmt.Errorf("submitting to round %q: %w", s.RoundID, err)
	}
	if c.now().After(rec.Round.Deadline) {
		return fmt.Errorf("round %q partner %q: %w", s.RoundID, s.Partner, ErrLate)
	}
	if err := s.verify(rec.Round, rec.Hash); err != nil {
		return err
	}
	if slices.Contains(rec.Submitted, s.Partner) {
		return fmt.Errorf("round %q partner %q: %w", s.RoundID, s.Partner, ErrDuplicate)
	}
	if rec.Status != StatusOpen {
		return fmt.Errorf("round %q is %s: %w", s.RoundID, rec.Status, ErrClosed)
	}

	// The store checks duplicates and status again, atomically, against
	// concurrent submissions and closes.
	if err := c.store.AddSubmission(ctx, s); err != nil {
		return fmt.Errorf("submitting to round %q: %w", s.RoundID, err)
	}
	return nil
}

// Result returns the released result of a round with its transcript.
// The first call after every roster partner has submitted computes it:
// it sums the submissions mod 2^64, which removes the masks, and
// suppresses the cells with fewer than MinPartners contributors; later
// calls return the same result.
//
// Result returns an error matching ErrNotReady while submissions are
// missing and the deadline has not passed; ErrAborted for an aborted
// round, and for a round whose deadline passed without every submission,
// which it then aborts; ErrAborted and ErrInconsistent for a round whose
// sum proves that some partner did not follow the protocol, which it
// aborts too; ErrUnknownRound for an unknown round.
func (c *Coordinator) Result(ctx context.Context, id string) (*Result, error) {
	rec, err := c.store.GetRound(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("result of round %q: %w", id, err)
	}

	// Settle an open round, then read back what the store holds: another
	// call may have settled it first.
	if rec.Status == StatusOpen {
		if err := c.settle(ctx, rec); err != nil {
			return nil, err
		}
		if rec, err = c.store.GetRound(ctx, id); err != nil {
			return nil, fmt.Errorf("result of round %q: %w", id, err)
		}
	}

	switch rec.Status {
	case StatusReleased:
		return c.withTranscript(ctx, rec.Result)
	case StatusAborted:
		return nil, fmt.Errorf("round %q: %s: %w", id, rec.Reason, ErrAborted)
	}
	return nil, fmt.Errorf("round %q: store left it %s after settling it", id, rec.Status)
}

// settle releases an open round that has every roster partner's
// submission, and aborts one that is past its deadline without them or
// whose sum is inconsistent. It returns ErrNotReady for a round that can
// be neither yet.
func (c *Coordinator) settle(ctx context.Context, rec Record) error {
	id, n := rec.Round.ID, len(rec.Round.Roster)
	if len(rec.Submitted) < n {
		status, err := c.expire(ctx, rec, c.now())
		if err != nil {
			return fmt.Errorf("result of round %q: %w", id, err)
		}
		if status == StatusOpen {
			return fmt.Errorf("round %q has %d of %d submissions: %w", id, len(rec.Submitted), n,
				ErrNotReady)
		}
		return nil
	}

	// Release only over the whole roster.
	subs, err := c.store.Submissions(ctx, id)
	if err != nil {
		return fmt.Errorf("result of round %q: %w", id, err)
	}
	res, err := aggregate(rec, subs, c.now())
	if errors.Is(err, ErrInconsistent) {
		if err := c.close(ctx, id, StatusAborted, err.Error(), nil); err != nil {
			return err
		}
		return fmt.Errorf("%w: %w", ErrAborted, err)
	}
	if err != nil {
		return err
	}
	return c.close(ctx, id, StatusReleased, "", res)
}

// Abort aborts an open round: it will release nothing, and accepts no
// more submissions. It returns an error matching ErrClosed if the round
// is released or aborted already, ErrUnknownRound if it is unknown.
func (c *Coordinator) Abort(ctx context.Context, id, reason string) error {
	if err := c.store.Close(ctx, id, StatusAborted, reason, nil); err != nil {
		return fmt.Errorf("aborting round %q: %w", id, err)
	}
	return nil
}

// Expire aborts every open round whose deadline has passed without every
// roster partner's submission, and returns their ids. A round that has
// every submission is left to be released by Result, even past its
// deadline. Call Expire periodically, or rely on Result and Open, which
// expire the rounds they look at.
func (c *Coordinator) Expire(ctx context.Context) ([]string, error) {
	recs, err := c.store.ListRounds(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("expiring rounds: %w", err)
	}
	now := c.now()
	var aborted []string
	for _, rec := range recs {
		if rec.Status != StatusOpen {
			continue
		}
		status, err := c.expire(ctx, rec, now)
		if err != nil {
			return aborted, fmt.Errorf("expiring rounds: %w", err)
		}
		if status == StatusAborted {
			aborted = append(aborted, rec.Round.ID)
		}
	}
	slices.Sort(aborted)
	return aborted, nil
}

// Record returns what the coordinator's store holds about a round: its
// description, status, who submitted, and its result without transcript.
func (c *Coordinator) Record(ctx context.Context, id string) (Record, error) {
	rec, err := c.store.GetRound(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("round %q: %w", id, err)
	}
	return rec, nil
}

// expire aborts rec's round if it is open, past its deadline at now and
// missing submissions, and returns the round's status afterwards.
func (c *Coordinator) expire(ctx context.Context, rec Record, now time.Time) (Status, error) {
	n := len(rec.Round.Roster)
	if rec.Status != StatusOpen || len(rec.Submitted) >= n || !now.After(rec.Round.Deadline) {
		return rec.Status, nil
	}
	reason := fmt.Sprintf("deadline passed with %d of %d submissions", len(rec.Submitted), n)
	if err := c.close(ctx, rec.Round.ID, StatusAborted, reason, nil); err != nil {
		return "", err
	}
	latest, err := c.store.GetRound(ctx, rec.Round.ID)
	if err != nil {
		return "", fmt.Errorf("round %q: %w", rec.Round.ID, err)
	}
	return latest.Status, nil
}

// close changes a round's status in the store. A round closed meanwhile
// by another call is not an error: the caller reads the outcome back.
func (c *Coordinator) close(ctx context.Context, id string, status Status, reason string,
	res *Result) error {
	err := c.store.Close(ctx, id, status, reason, res)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("closing round %q: %w", id, err)
	}
	return nil
}

// withTranscript returns a copy of res with the round's submissions.
func (c *Coordinator) withTranscript(ctx context.Context, res *Result) (*Result, error) {
	subs, err := c.store.Submissions(ctx, res.RoundID)
	if err != nil {
		return nil, fmt.Errorf("result of round %q: %w", res.RoundID, err)
	}
	out := res.clone()
	out.Transcript = subs
	return out, nil
}
