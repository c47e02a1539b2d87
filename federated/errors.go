package federated

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by this package. Test for them with errors.Is;
// the returned errors wrap them with a short context such as the round id
// and the partner's name, never with data values or keys.
var (
	// ErrInvalidRound is matched by every *ParamError: a round, roster or
	// statistic parameter that is out of range.
	ErrInvalidRound = errors.New("invalid round parameter")

	// ErrUnknownRound is returned for a round id the coordinator does not
	// hold, and by Submission.Verify for a submission made for another
	// round.
	ErrUnknownRound = errors.New("unknown round")

	// ErrRoundExists is returned by Coordinator.Open and Store.CreateRound
	// when the round id is already taken, even by an aborted round: a
	// re-run needs a new id.
	ErrRoundExists = errors.New("round id already used")

	// ErrUnknownPartner is returned for a partner name that is not in the
	// round's roster, and by Prepare for an identity whose public keys
	// differ from its roster entry.
	ErrUnknownPartner = errors.New("partner not in roster")

	// ErrWrongHash is returned for a submission whose round hash is not the
	// hash of the round the coordinator opened: the partner saw a different
	// round description.
	ErrWrongHash = errors.New("round hash mismatch")

	// ErrMalformed is returned for a submission, or input to Prepare, whose
	// vectors do not have one entry per cell of the round, or whose exact
	// values are out of range.
	ErrMalformed = errors.New("malformed submission")

	// ErrBadSignature is returned for a submission whose signature does not
	// verify under the partner's signing key from the roster.
	ErrBadSignature = errors.New("bad submission signature")

	// ErrDuplicate is returned for a second submission by the same partner
	// to the same round, including a replay of the first.
	ErrDuplicate = errors.New("partner already submitted to this round")

	// ErrLate is returned for a submission that arrives after the round's
	// deadline.
	ErrLate = errors.New("round deadline passed")

	// ErrClosed is returned for a submission to a round that is released or
	// aborted.
	ErrClosed = errors.New("round closed")

	// ErrNotReady is returned by Coordinator.Result while some partners
	// have not submitted and the deadline has not passed.
	ErrNotReady = errors.New("round not complete")

	// ErrAborted is returned by Coordinator.Result for a round that was
	// aborted: a partner missed the deadline, an operator aborted it, or
	// its sum was inconsistent. Nothing was released; the round may be
	// re-run with the same roster under a new id.
	ErrAborted = errors.New("round aborted")

	// ErrInconsistent is wrapped by the abort reason of a round whose
	// unmasked sum cannot come from honest partners, such as a contributor
	// count above the roster size. It means some partner used keys other
	// than those of the roster or submitted garbage; who did cannot be
	// told from the sum.
	ErrInconsistent = errors.New("round sum inconsistent")

	// ErrPeriodTaken is returned by Coordinator.Open for a statistic and
	// period that already have an open or released round: releasing a
	// period twice would spend the partners' privacy budget twice.
	ErrPeriodTaken = errors.New("period already has an open or released round")

	// ErrRosterChanged is returned by Coordinator.Open for a round over a
	// dataset and period that earlier rounds ran with another roster: a
	// period is never released over a different set of partners.
	ErrRosterChanged = errors.New("roster differs from earlier rounds of this period")

	// ErrInsecureFile is returned by LoadIdentity for an identity file that
	// group or other users may read or write.
	ErrInsecureFile = errors.New("identity file readable by others")

	// ErrBadIdentity is returned by LoadIdentity for a file that does not
	// hold a valid identity.
	ErrBadIdentity = errors.New("invalid identity file")
)

// ParamError reports an invalid round parameter. Param is the parameter's
// path in the round's JSON form, such as "epsilon", "min_partners",
// "roster[2].dh_key", "statistic.aggregates[1].hi" or
// "statistic.groups[0].keys"; the message starts with it and says what is
// allowed and what was given. Messages never hold keys or data values.
//
// errors.Is(err, ErrInvalidRound) reports true for every *ParamError.
type ParamError struct {
	// Param is the JSON path of the offending parameter.
	Param string
	msg   string
}

// Error returns the message, which starts with the parameter's path.
func (e *ParamError) Error() string { return e.msg }

// Is reports whether target is ErrInvalidRound.
func (e *ParamError) Is(target error) bool { return target == ErrInvalidRound }

// paramErrorf returns a *ParamError for param; the format is written after
// the parameter's path.
func paramErrorf(param, format string, args ...any) error {
	return &ParamError{Param: param, msg: param + " " + fmt.Sprintf(format, args...)}
}
