package control

import (
	"errors"
	"fmt"

	"github.com/vnet-xdp/vnet/overlay"
)

// Error codes of (error (code ...)) replies, named after the Linux errno
// values that the original vnet commands returned.
const (
	CodeExists      = "EEXIST"     // the object already exists
	CodeNotFound    = "ENOENT"     // the object does not exist
	CodeInvalid     = "EINVAL"     // invalid syntax or argument
	CodeUnsupported = "EOPNOTSUPP" // the dataplane does not support the request
	CodeNoCommand   = "ENOSYS"     // unknown command
	CodeIO          = "EIO"        // any other dataplane failure
	CodeBusy        = "EBUSY"      // too many connections
	CodeTimedOut    = "ETIMEDOUT"  // the connection was idle, or a command incomplete, too long
	CodeAccess      = "EACCES"     // the client may not use the socket
)

// Error is a failed command as the (error ...) status expression carries
// it.
type Error struct {
	Code    string
	Message string
	// Value is the rejected text, or "" when the error has none.
	Value string
	// Err is the underlying error, if any. It is not sent.
	Err error
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Expr returns the status expression
// (error (code C) (message M) [(value V)]).
func (e *Error) Expr() Expr {
	elems := []Expr{
		Atom("error"),
		List(Atom("code"), Atom(e.Code)),
		List(Atom("message"), Atom(e.Message)),
	}
	if e.Value != "" {
		elems = append(elems, List(Atom("value"), Atom(e.Value)))
	}
	return List(elems...)
}

// okExpr is the status expression of a successful command.
var okExpr = List(Atom("ok"))

// ParseStatus recognises a status expression. For (ok) it returns true and
// a nil error. For (error ...) it returns true and an *Error. For any
// other expression, such as a line of list output, it returns false.
func ParseStatus(e Expr) (bool, error) {
	head, ok := e.Head()
	if !ok {
		return false, nil
	}
	switch head {
	case "ok":
		if len(e.Elems()) == 1 {
			return true, nil
		}
	case "error":
		code, _ := e.Field("code")
		message, _ := e.Field("message")
		value, _ := e.Field("value")
		if code == "" {
			code = CodeIO
		}
		if message == "" {
			message = "command failed with " + code
		}
		return true, &Error{Code: code, Message: message, Value: value}
	}
	return false, nil
}

// invalidf returns an EINVAL error for the rejected text value.
func invalidf(value, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...), Value: value}
}

// dataplaneError classifies an error from a Dataplane call by the overlay
// error it wraps. A classified error keeps the dataplane's message, which
// names its object. Others get the operation op in front, such as
// "add vnet 0000:...:1500: ", and a bare overlay.ErrExists or ErrNotFound
// becomes "OBJECT already exists" or "OBJECT not found".
func dataplaneError(err error, op, object, value string) *Error {
	code := CodeIO
	switch {
	case errors.Is(err, overlay.ErrExists):
		code = CodeExists
	case errors.Is(err, overlay.ErrNotFound):
		code = CodeNotFound
	case errors.Is(err, overlay.ErrInvalid):
		code = CodeInvalid
	case errors.Is(err, overlay.ErrUnsupported):
		code = CodeUnsupported
	}

	message := err.Error()
	switch {
	case err == overlay.ErrExists || err == overlay.ErrNotFound:
		message = object + " " + err.Error()
	case code == CodeIO || err == overlay.ErrInvalid || err == overlay.ErrUnsupported:
		message = op + ": " + err.Error()
	}
	return &Error{Code: code, Message: message, Value: value, Err: err}
}
