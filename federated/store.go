package federated

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Status is the state of a round at the coordinator.
type Status string

const (
	// StatusOpen rounds accept submissions until their deadline.
	StatusOpen Status = "open"
	// StatusReleased rounds had every roster partner's submission and
	// have a Result. A released round never changes again.
	StatusReleased Status = "released"
	// StatusAborted rounds released nothing and never will.
	StatusAborted Status = "aborted"
)

// Record is what a Store holds about one round besides its submissions.
type Record struct {
	// Round is the round as opened.
	Round Round `json:"round"`
	// Hash is Round.Hash(), computed once at Open.
	Hash string `json:"hash"`
	// Status is the round's state.
	Status Status `json:"status"`
	// Submitted names the partners whose submission the store holds, in
	// the order they were added. The store maintains it.
	Submitted []string `json:"submitted"`
	// Reason says why an aborted round was aborted; empty otherwise.
	Reason string `json:"reason,omitempty"`
	// Result is the released result, without its transcript, for a
	// released round; nil otherwise.
	Result *Result `json:"result,omitempty"`
}

// Store keeps a coordinator's rounds and submissions, so that another
// package can persist them, such as in the catalog database. The
// coordinator relies on it for exactly-once submission and for status
// changes that happen once: both must be atomic, including across
// coordinator replicas that share the store. Implementations must be safe
// for concurrent use, and must neither keep nor return slices that their
// callers hold.
type Store interface {
	// CreateRound stores a new round record, whose status is open. It
	// returns an error matching ErrRoundExists if the id is taken.
	CreateRound(ctx context.Context, rec Record) error
	// GetRound returns the record of a round, or an error matching
	// ErrUnknownRound.
	GetRound(ctx context.Context, id string) (Record, error)
	// ListRounds returns the records of the rounds of a period, or of all
	// rounds if period is "", in any order.
	ListRounds(ctx context.Context, period string) ([]Record, error)
	// AddSubmission stores s for the round s.RoundID and adds s.Partner to
	// the round's Submitted, in one atomic step. It returns an error
	// matching ErrUnknownRound if there is no such round, ErrDuplicate if
	// it holds a submission from that partner already, and ErrClosed if
	// the round is not open.
	AddSubmission(ctx context.Context, s Submission) error
	// Submissions returns a round's submissions in the order they were
	// added, or an error matching ErrUnknownRound.
	Submissions(ctx context.Context, id string) ([]Submission, error)
	// Close moves a round from open to status, StatusReleased or
	// StatusAborted, recording the reason and the result (nil for an
	// abort), in one atomic step. It returns an error matching ErrClosed
	// if the round is no longer open, and ErrUnknownRound if there is no
	// such round.
	Close(ctx context.Context, id string, status Status, reason string, res *Result) error
}

// MemoryStore is a Store in memory, for tests, demos and a coordinator
// whose rounds need not survive a restart. It copies everything it is
// given and returns copies. The zero value is not usable; call
// NewMemoryStore. A MemoryStore is safe for concurrent use.
type MemoryStore struct {
	mu     sync.Mutex
	rounds map[string]*memoryRound
}

type memoryRound struct {
	rec  Record
	subs []Submission
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{rounds: make(map[string]*memoryRound)}
}

// CreateRound implements Store.
func (m *MemoryStore) CreateRound(_ context.Context, rec Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rounds[rec.Round.ID]; ok {
		return fmt.Errorf("round %q: %w", rec.Round.ID, ErrRoundExists)
	}
	rec = rec.clone()
	rec.Status = StatusOpen
	rec.Submitted = nil
	m.rounds[rec.Round.ID] = &memoryRound{rec: rec}
	return nil
}

// GetRound implements Store.
func (m *MemoryStore) GetRound(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, err := m.round(id)
	if err != nil {
		return Record{}, err
	}
	return mr.rec.clone(), nil
}

// ListRounds implements Store.
func (m *MemoryStore) ListRounds(_ context.Context, period string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, mr := range m.rounds {
		if period == "" || mr.rec.Round.Period == period {
			out = append(out, mr.rec.clone())
		}
	}
	return out, nil
}

// AddSubmission implements Store.
func (m *MemoryStore) AddSubmission(_ context.Context, s Submission) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, err := m.round(s.RoundID)
	if err != nil {
		return err
	}
	if slices.Contains(mr.rec.Submitted, s.Partner) {
		return fmt.Errorf("round %q partner %q: %w", s.RoundID, s.Partner, ErrDuplicate)
	}
	if mr.rec.Status != StatusOpen {
		return fmt.Errorf("round %q is %s: %w", s.RoundID, mr.rec.Status, ErrClosed)
	}
	mr.subs = append(mr.subs, s.clone())
	mr.rec.Submitted = append(mr.rec.Submitted, s.Partner)
	return nil
}

// Submissions implements Store.
func (m *MemoryStore) Submissions(_ context.Context, id string) ([]Submission, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, err := m.round(id)
	if err != nil {
		return nil, err
	}
	out := make([]Submission, len(mr.subs))
	for i, s := range mr.subs {
		out[i] = s.clone()
	}
	return out, nil
}

// Close implements Store.
func (m *MemoryStore) Close(_ context.Context, id string, status Status, reason string,
	res *Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, err := m.round(id)
	if err != nil {
		return err
	}
	if mr.rec.Status != StatusOpen {
		return fmt.Errorf("round %q is %s: %w", id, mr.rec.Status, ErrClosed)
	}
	mr.rec.Status = status
	mr.rec.Reason = reason
	mr.rec.Result = res.clone()
	return nil
}

// round returns the round id; m.mu must be held.
func (m *MemoryStore) round(id string) (*memoryRound, error) {
	mr, ok := m.rounds[id]
	if !ok {
		return nil, fmt.Errorf("round %q: %w", id, ErrUnknownRound)
	}
	return mr, nil
}

// clone returns a deep copy of rec.
func (rec Record) clone() Record {
	rec.Round = rec.Round.clone()
	rec.Submitted = slices.Clone(rec.Submitted)
	rec.Result = rec.Result.clone()
	return rec
}

// clone returns a deep copy of r.
func (r Round) clone() Round {
	r.Roster = slices.Clone(r.Roster)
	for i, p := range r.Roster {
		r.Roster[i].SignKey = slices.Clone(p.SignKey)
		r.Roster[i].DHKey = slices.Clone(p.DHKey)
	}
	r.Statistic.Aggregates = slices.Clone(r.Statistic.Aggregates)
	r.Statistic.Groups = slices.Clone(r.Statistic.Groups)
	for i, g := range r.Statistic.Groups {
		r.Statistic.Groups[i].Keys = slices.Clone(g.Keys)
	}
	return r
}
