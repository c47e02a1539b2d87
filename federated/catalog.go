package federated

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"haze/store"
)

// CatalogStore is a Store in the haze catalog, so rounds, submissions and
// results survive restarts and are shared by every server using the same
// catalog. It is safe for concurrent use.
type CatalogStore struct{ cat *store.Catalog }

// NewCatalogStore returns a Store over cat.
func NewCatalogStore(cat *store.Catalog) *CatalogStore { return &CatalogStore{cat: cat} }

func mapStoreErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("round %q: %w", id, ErrUnknownRound)
	}
	return err
}

// CreateRound implements Store.
func (s *CatalogStore) CreateRound(ctx context.Context, rec Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding round: %w", err)
	}
	err = s.cat.CreateRound(ctx, rec.Round.ID, rec.Round.Period, data)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("round %q: %w", rec.Round.ID, ErrRoundExists)
	}
	return err
}

// GetRound implements Store.
func (s *CatalogStore) GetRound(ctx context.Context, id string) (Record, error) {
	data, err := s.cat.Round(ctx, id)
	if err != nil {
		return Record{}, mapStoreErr(id, err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("decoding round %q: %w", id, err)
	}
	return rec, nil
}

// ListRounds implements Store.
func (s *CatalogStore) ListRounds(ctx context.Context, period string) ([]Record, error) {
	all, err := s.cat.Rounds(ctx, period)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(all))
	for _, data := range all {
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("decoding round: %w", err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// update decodes, changes and re-encodes a round record.
func update(change func(*Record) error) func([]byte) ([]byte, error) {
	return func(data []byte) ([]byte, error) {
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("decoding round: %w", err)
		}
		if err := change(&rec); err != nil {
			return nil, err
		}
		return json.Marshal(rec)
	}
}

// AddSubmission implements Store.
func (s *CatalogStore) AddSubmission(ctx context.Context, sub Submission) error {
	data, err := json.Marshal(sub)
	if err != nil {
		return fmt.Errorf("encoding submission: %w", err)
	}
	err = s.cat.AddRoundSubmission(ctx, sub.RoundID, sub.Partner, data, update(func(rec *Record) error {
		if slices.Contains(rec.Submitted, sub.Partner) {
			return fmt.Errorf("round %q partner %q: %w", sub.RoundID, sub.Partner, ErrDuplicate)
		}
		if rec.Status != StatusOpen {
			return fmt.Errorf("round %q is %s: %w", sub.RoundID, rec.Status, ErrClosed)
		}
		rec.Submitted = append(rec.Submitted, sub.Partner)
		return nil
	}))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("round %q partner %q: %w", sub.RoundID, sub.Partner, ErrDuplicate)
	}
	return mapStoreErr(sub.RoundID, err)
}

// Submissions implements Store.
func (s *CatalogStore) Submissions(ctx context.Context, id string) ([]Submission, error) {
	if _, err := s.cat.Round(ctx, id); err != nil {
		return nil, mapStoreErr(id, err)
	}
	all, err := s.cat.RoundSubmissions(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]Submission, 0, len(all))
	for _, data := range all {
		var sub Submission
		if err := json.Unmarshal(data, &sub); err != nil {
			return nil, fmt.Errorf("decoding submission: %w", err)
		}
		out = append(out, sub)
	}
	return out, nil
}

// Close implements Store.
func (s *CatalogStore) Close(ctx context.Context, id string, status Status, reason string,
	res *Result) error {
	err := s.cat.UpdateRound(ctx, id, update(func(rec *Record) error {
		if rec.Status != StatusOpen {
			return fmt.Errorf("round %q is %s: %w", id, rec.Status, ErrClosed)
		}
		rec.Status, rec.Reason = status, reason
		if res != nil {
			r := *res
			r.Transcript = nil // the submissions table holds it
			rec.Result = &r
		}
		return nil
	}))
	return mapStoreErr(id, err)
}
