package federated

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"haze/store"
)

// Validate checks one partner's public record alone, as registering it
// needs; Round.Validate checks a roster as a whole.
func (p Partner) Validate() error {
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	if len(p.SignKey) != ed25519.PublicKeySize {
		return paramErrorf("sign_key", "must be %d bytes, got %d", ed25519.PublicKeySize,
			len(p.SignKey))
	}
	if _, err := ecdh.X25519().NewPublicKey(p.DHKey); err != nil {
		return paramErrorf("dh_key", "must be a 32-byte X25519 public key, got %d bytes",
			len(p.DHKey))
	}
	return nil
}

// RegisterPartner records a partner's public keys in the catalog, so that
// rounds can name it. A name already registered is refused.
func RegisterPartner(ctx context.Context, cat *store.Catalog, p Partner) error {
	if err := p.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return cat.AddPartner(ctx, p.Name, data)
}

// RoundFromRegistry builds a round whose roster is the named partners as
// registered in the catalog, in the order given, and validates it.
func RoundFromRegistry(ctx context.Context, cat *store.Catalog, id, period string, partners []string,
	minPartners int, epsilon, delta float64, st Statistic, deadline time.Time) (Round, error) {
	r := Round{ID: id, Period: period, MinPartners: minPartners, Epsilon: epsilon, Delta: delta,
		Statistic: st, Deadline: deadline}
	for _, name := range partners {
		data, err := cat.Partner(ctx, name)
		if err != nil {
			return Round{}, err
		}
		var p Partner
		if err := json.Unmarshal(data, &p); err != nil {
			return Round{}, fmt.Errorf("decoding partner %s: %w", name, err)
		}
		r.Roster = append(r.Roster, p)
	}
	if err := r.Validate(); err != nil {
		return Round{}, err
	}
	return r, nil
}
