package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"haze/anonymize"
	"haze/store"
)

// Errors returned by Reidentify.
var (
	// ErrReasonRequired: a re-identification must say why it is needed.
	ErrReasonRequired = errors.New("a reason is required to re-identify")
	// ErrIncompleteRequest: the dataset, column or token is missing.
	ErrIncompleteRequest = errors.New("dataset, column and token are required to re-identify")
	// ErrNotReversible: the column's tokens are not encrypt tokens, and
	// nothing can turn them back into values.
	ErrNotReversible = errors.New("only encrypt columns can be re-identified")
	// ErrTokenNotFound: the token is not in that column of that version.
	ErrTokenNotFound = errors.New("token is not in this dataset version's column")
)

// ActionReidentify names re-identifications in the audit log.
const ActionReidentify = "reidentify"

// ReidentifyRequest asks for the value behind one token of a dataset.
type ReidentifyRequest struct {
	// Dataset and Column name where the token was seen. Required.
	Dataset string
	Column  string
	// Version is the dataset version; 0 means the current one.
	Version int
	// Token is the encrypt token. Required.
	Token string
	// Reason says why the value is needed; it goes to the audit log.
	// Required.
	Reason string
	// Principal and Role say who asks, for the audit log. Principal is
	// required; Role defaults to admin.
	Principal string
	Role      string
}

// LogValue implements slog.LogValuer without the token or the reason.
func (r ReidentifyRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("dataset", r.Dataset), slog.Int("version", r.Version),
		slog.String("column", r.Column), slog.String("principal", r.Principal))
}

// Reidentify returns the clear value behind an encrypt token of a dataset
// version's column, decrypting it with the key the version records (not
// necessarily its name's primary key). Every attempt past the request's
// own validation is audited: who asked, why, the dataset, version and
// column, and a short hash of the token, never the token or the value.
// The value is returned only once its audit entry is written.
//
// It returns ErrIncompleteRequest when the dataset, column or token is
// missing, an error wrapping ErrReasonRequired for an empty reason,
// ErrNotReversible for a column whose action is not encrypt,
// ErrTokenNotFound when the version's column does not hold the token,
// anonymize.ErrUnknownKey when the keyring lacks the version's key,
// anonymize.ErrBadToken when the token does not open, and
// store.ErrNotFound for an unknown dataset or version.
func Reidentify(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring,
	req ReidentifyRequest) (string, error) {
	switch {
	case strings.TrimSpace(req.Reason) == "":
		return "", ErrReasonRequired
	case req.Principal == "":
		return "", errors.New("reidentify: the principal asking is required")
	case req.Dataset == "" || req.Column == "" || req.Token == "":
		return "", ErrIncompleteRequest
	}
	if req.Role == "" {
		req.Role = store.RoleAdmin
	}
	tokenHash := sha256.Sum256([]byte(req.Token))
	audit := func(version int, outcome, what string) error {
		detail := fmt.Sprintf("version %d, column %s, token sha256:%s, reason: %s; %s", version,
			req.Column, hex.EncodeToString(tokenHash[:6]), req.Reason, what)
		_, err := cat.AppendAudit(ctx, nil, store.AuditEntry{Principal: req.Principal,
			Role: req.Role, Action: ActionReidentify, Dataset: req.Dataset, Outcome: outcome,
			Detail: detail})
		if err != nil {
			return fmt.Errorf("recording the re-identification in the audit log: %w", err)
		}
		return nil
	}
	refuse := func(version int, err error) (string, error) {
		return "", errors.Join(err, audit(version, store.OutcomeRefused, "refused: "+err.Error()))
	}

	v, err := findVersion(ctx, cat, req.Dataset, req.Version)
	if err != nil {
		return refuse(req.Version, err)
	}
	if err := checkReversible(v, req.Column); err != nil {
		return refuse(v.Version, err)
	}
	key, err := ring.KeyByID(v.KeyID)
	if err != nil {
		return refuse(v.Version, fmt.Errorf("the keyring does not hold the key the dataset "+
			"used: %w", err))
	}
	enc, err := anonymize.NewEncrypter(key)
	if err != nil {
		return refuse(v.Version, err)
	}
	value, err := enc.Decrypt(req.Token)
	if err != nil {
		return refuse(v.Version, err)
	}
	n, err := countVersionToken(ctx, cat, ring, v, req.Column, req.Token)
	if err != nil {
		return "", errors.Join(err, audit(v.Version, store.OutcomeError, "error reading the dataset"))
	}
	if n == 0 {
		return refuse(v.Version, ErrTokenNotFound)
	}

	if err := audit(v.Version, store.OutcomeAllowed, "value returned"); err != nil {
		return "", err
	}
	return value, nil
}

// findVersion returns version n of a dataset, or its current version for 0.
func findVersion(ctx context.Context, cat *store.Catalog, dataset string, n int) (
	store.Version, error) {
	if n == 0 {
		return cat.Current(ctx, dataset)
	}
	versions, err := cat.Versions(ctx, dataset)
	if err != nil {
		return store.Version{}, err
	}
	for _, v := range versions {
		if v.Version == n {
			return v, nil
		}
	}
	return store.Version{}, fmt.Errorf("dataset %s version %d: %w", dataset, n, store.ErrNotFound)
}

// checkReversible refuses a column that is missing or not encrypted.
func checkReversible(v store.Version, column string) error {
	for _, c := range v.Columns {
		if c.Name != column {
			continue
		}
		if c.Action != anonymize.ActionEncrypt {
			return fmt.Errorf("column %s has action %s: %w", column, c.Action, ErrNotReversible)
		}
		return nil
	}
	return fmt.Errorf("dataset %s version %d has no column %s", v.Dataset, v.Version, column)
}
