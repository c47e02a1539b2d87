package dp

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by this package. Test for them with errors.Is.
var (
	// ErrInvalidParam is matched by every *ParamError: a privacy budget,
	// contribution bound, clamping range or option that is out of range.
	// Such errors are caused by the request, not by the data.
	ErrInvalidParam = errors.New("invalid privacy parameter")

	// ErrBudgetExhausted is returned by Budget.Sub when the amount to spend
	// exceeds the budget left, in ε or in δ.
	ErrBudgetExhausted = errors.New("privacy budget exhausted")

	// ErrReleased is returned when a noisy result that may be released only
	// once is asked for a second time, such as Quantiles.Result.
	ErrReleased = errors.New("noisy result released once already")
)

// ParamError reports an invalid privacy parameter. Its message starts with
// the parameter's name and says what is allowed and what was given, such as
// "epsilon must be > 0 and finite, got -1". The message is written for the
// analyst who chose the parameter: it never contains exact aggregates or
// any other value computed from the data.
//
// errors.Is(err, ErrInvalidParam) reports true for every *ParamError.
type ParamError struct {
	// Param names the parameter, such as "epsilon", "delta", "max groups",
	// "max rows", "lo", "hi", "scale", "rank" or "mechanism".
	Param string
	msg   string
}

// Error returns the message, which starts with the parameter's name.
func (e *ParamError) Error() string { return e.msg }

// Is reports whether target is ErrInvalidParam.
func (e *ParamError) Is(target error) bool { return target == ErrInvalidParam }

// paramErrorf returns a *ParamError for param; the format is written
// after the parameter's name.
func paramErrorf(param, format string, args ...any) error {
	return &ParamError{Param: param, msg: param + " " + fmt.Sprintf(format, args...)}
}
