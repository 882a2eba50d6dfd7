package control

import (
	"errors"
	"fmt"
	"io"
)

// Limits of the reader. An expression's size counts every byte from its
// first character to its last, comments inside it included. Depth counts
// open lists, so a top-level list has depth 1.
const (
	MaxExprSize  = 64 << 10
	MaxExprDepth = 64
)

// Errors that a SyntaxError wraps when input exceeds the reader's limits.
var (
	ErrExprTooLarge = fmt.Errorf("expression exceeds the maximum size of %d bytes", MaxExprSize)
	ErrExprTooDeep  = fmt.Errorf("lists are nested deeper than the maximum depth of %d", MaxExprDepth)
)

// SyntaxError reports invalid S-expression input and where it was found.
// Line and Column count from 1 over all input given to the reader.
type SyntaxError struct {
	Line, Column int
	Msg          string
	// Err is ErrExprTooLarge or ErrExprTooDeep for a limit, else nil.
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

type lexState uint8

const (
	stateSpace lexState = iota // between tokens
	stateComment
	stateAtom
	stateString
	stateEscape
	stateHex
	stateOctal
)

type parsedExpr struct {
	expr         Expr
	source       []byte
	line, column int
}

// Reader parses S-expressions incrementally: bytes go in through Write as
// they arrive, and complete top-level expressions come out of Next.
//
// The syntax is that of the original vnet tools. Lists are in parentheses
// and atoms are runs of printable ASCII. Strings are in "..." or '...' with
// the escapes \a \b \f \n \r \t \v \\ \' \", \xHH and \ooo. A '#' starts
// a comment to the end of the line. Whitespace is space, tab, CR, LF and
// FF. The original's binary data token, which starts with '<', is
// rejected.
//
// After the first error the reader stays failed and returns that error.
type Reader struct {
	state lexState
	// stack contains the elements of each open list, innermost last.
	stack [][]Expr
	// token is the text of the atom or string being read.
	token []byte
	quote byte
	// escape is the value and digit count of a \x or octal escape.
	escapeValue  int
	escapeDigits int

	inExpr bool
	source []byte
	// exprLine and exprColumn are where the open top-level expression
	// starts.
	exprLine, exprColumn int
	ready                []parsedExpr

	line, column int
	err          error
}

// NewReader returns a reader with the limits MaxExprSize and MaxExprDepth.
func NewReader() *Reader {
	return &Reader{line: 1}
}

// Write parses p. It returns len(p), or on a syntax error the number of
// bytes consumed before the offending one and a *SyntaxError. Expressions
// completed before the error are still returned by Next.
func (r *Reader) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for i, c := range p {
		if c == '\n' {
			r.line++
			r.column = 0
		} else {
			r.column++
		}
		if err := r.step(c); err != nil {
			r.err = err
			return i, err
		}
	}
	return len(p), nil
}

// Close marks the end of input. It completes a top-level atom that was
// waiting for a delimiter, and returns a *SyntaxError when the input ends
// inside a list or a string.
func (r *Reader) Close() error {
	if r.err != nil {
		return r.err
	}
	switch r.state {
	case stateAtom:
		r.state = stateSpace
		r.emit(Atom(string(r.token)))
	case stateString, stateEscape, stateHex, stateOctal:
		r.err = r.syntaxError("unexpected end of input inside a string (close it with %c)", r.quote)
		return r.err
	}
	if len(r.stack) > 0 {
		r.err = r.syntaxError("unexpected end of input inside the list that starts at line %d, column %d (%d unclosed)", r.exprLine, r.exprColumn, len(r.stack))
		return r.err
	}
	return nil
}

// Next removes and returns the oldest complete top-level expression and
// its source text, which runs from the first byte of the expression to its
// last.
func (r *Reader) Next() (Expr, []byte, bool) {
	s, ok := r.NextStatement()
	return s.Expr, s.Source, ok
}

// Statement is a complete top-level expression with its source text and
// the line and column, counted from 1, of its first byte.
type Statement struct {
	Expr         Expr
	Source       []byte
	Line, Column int
}

// NextStatement removes and returns the oldest complete top-level
// expression with its position.
func (r *Reader) NextStatement() (Statement, bool) {
	if len(r.ready) == 0 {
		return Statement{}, false
	}
	p := r.ready[0]
	r.ready[0] = parsedExpr{}
	r.ready = r.ready[1:]
	return Statement{Expr: p.expr, Source: p.source, Line: p.line, Column: p.column}, true
}

// Pending reports whether the reader holds the start of an expression
// that is not complete yet.
func (r *Reader) Pending() bool {
	return r.inExpr
}

func (r *Reader) step(c byte) error {
	switch r.state {
	case stateComment:
		if err := r.count(c); err != nil {
			return err
		}
		if c == '\n' {
			r.state = stateSpace
		}
		return nil

	case stateAtom:
		if isAtomByte(c) {
			r.token = append(r.token, c)
			return r.count(c)
		}
		r.state = stateSpace
		r.emit(Atom(string(r.token)))
		return r.stepSpace(c)

	case stateString:
		return r.stepString(c)

	case stateEscape:
		return r.stepEscape(c)

	case stateHex:
		if d, ok := hexDigit(c); ok {
			if err := r.count(c); err != nil {
				return err
			}
			r.escapeValue = r.escapeValue*16 + d
			r.escapeDigits++
			if r.escapeDigits == 2 {
				r.token = append(r.token, byte(r.escapeValue))
				r.state = stateString
			}
			return nil
		}
		if r.escapeDigits == 0 {
			return r.syntaxError("invalid escape \\x%s in string (use \\x and one or two hex digits)", printable(c))
		}
		r.token = append(r.token, byte(r.escapeValue))
		r.state = stateString
		return r.stepString(c)

	case stateOctal:
		if '0' <= c && c <= '7' {
			if err := r.count(c); err != nil {
				return err
			}
			r.escapeValue = r.escapeValue*8 + int(c-'0')
			r.escapeDigits++
			if r.escapeValue > 0xff {
				return r.syntaxError("invalid octal escape in string: value %#o exceeds 0377", r.escapeValue)
			}
			if r.escapeDigits == 3 {
				r.token = append(r.token, byte(r.escapeValue))
				r.state = stateString
			}
			return nil
		}
		r.token = append(r.token, byte(r.escapeValue))
		r.state = stateString
		return r.stepString(c)
	}
	return r.stepSpace(c)
}

func (r *Reader) stepSpace(c byte) error {
	switch {
	case isSpace(c):
		return r.count(c)

	case c == '#':
		r.state = stateComment
		return r.count(c)

	case c == '(':
		if len(r.stack) >= MaxExprDepth {
			return &SyntaxError{Line: r.line, Column: r.column, Msg: ErrExprTooDeep.Error(), Err: ErrExprTooDeep}
		}
		if err := r.begin(c); err != nil {
			return err
		}
		r.stack = append(r.stack, nil)
		return nil

	case c == ')':
		if len(r.stack) == 0 {
			return r.syntaxError("unexpected ')' outside a list")
		}
		if err := r.count(c); err != nil {
			return err
		}
		top := len(r.stack) - 1
		elems := r.stack[top]
		r.stack[top] = nil
		r.stack = r.stack[:top]
		r.emit(List(elems...))
		return nil

	case c == '"' || c == '\'':
		if err := r.begin(c); err != nil {
			return err
		}
		r.state = stateString
		r.quote = c
		r.token = r.token[:0]
		return nil

	case c == '<':
		return r.syntaxError("binary data tokens ('<') are not supported (quote text that contains '<')")

	case isAtomByte(c):
		if err := r.begin(c); err != nil {
			return err
		}
		r.state = stateAtom
		r.token = append(r.token[:0], c)
		return nil
	}
	return r.syntaxError("invalid character %s (atoms contain printable ASCII; quote other text)", printable(c))
}

func (r *Reader) stepString(c byte) error {
	if err := r.count(c); err != nil {
		return err
	}
	switch c {
	case r.quote:
		r.state = stateSpace
		r.emit(Atom(string(r.token)))
	case '\\':
		r.state = stateEscape
	default:
		r.token = append(r.token, c)
	}
	return nil
}

func (r *Reader) stepEscape(c byte) error {
	if err := r.count(c); err != nil {
		return err
	}
	r.state = stateString
	switch c {
	case 'a':
		r.token = append(r.token, '\a')
	case 'b':
		r.token = append(r.token, '\b')
	case 'f':
		r.token = append(r.token, '\f')
	case 'n':
		r.token = append(r.token, '\n')
	case 'r':
		r.token = append(r.token, '\r')
	case 't':
		r.token = append(r.token, '\t')
	case 'v':
		r.token = append(r.token, '\v')
	case '\\', '\'', '"':
		r.token = append(r.token, c)
	case 'x':
		r.state = stateHex
		r.escapeValue, r.escapeDigits = 0, 0
	default:
		if c < '0' || c > '7' {
			return r.syntaxError("invalid escape \\%s in string (use \\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\\" \\xHH or \\ooo)", printable(c))
		}
		r.state = stateOctal
		r.escapeValue, r.escapeDigits = int(c-'0'), 1
	}
	return nil
}

// begin starts a top-level expression when none is open, then counts c.
func (r *Reader) begin(c byte) error {
	if !r.inExpr {
		r.inExpr = true
		r.source = nil
		r.exprLine, r.exprColumn = r.line, r.column
	}
	return r.count(c)
}

// count adds c to the source of the current expression and checks the
// size limit. Bytes between top-level expressions are not counted.
func (r *Reader) count(c byte) error {
	if !r.inExpr {
		return nil
	}
	if len(r.source) >= MaxExprSize {
		return &SyntaxError{Line: r.line, Column: r.column, Msg: ErrExprTooLarge.Error(), Err: ErrExprTooLarge}
	}
	r.source = append(r.source, c)
	return nil
}

// emit adds a finished value to the innermost open list, or queues it as a
// complete top-level expression.
func (r *Reader) emit(e Expr) {
	if n := len(r.stack); n > 0 {
		r.stack[n-1] = append(r.stack[n-1], e)
		return
	}
	r.ready = append(r.ready, parsedExpr{expr: e, source: r.source, line: r.exprLine, column: r.exprColumn})
	r.inExpr = false
	r.source = nil
}

func (r *Reader) syntaxError(format string, args ...any) error {
	return &SyntaxError{Line: r.line, Column: r.column, Msg: fmt.Sprintf(format, args...)}
}

func hexDigit(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// printable formats c for an error message: quoted when printable ASCII,
// else as a hex byte.
func printable(c byte) string {
	if c >= 0x20 && c <= 0x7e {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("0x%02x", c)
}

// Decoder reads S-expressions from a stream.
type Decoder struct {
	in     io.Reader
	reader *Reader
	buf    []byte
	err    error
}

// NewDecoder returns a decoder that reads from in.
func NewDecoder(in io.Reader) *Decoder {
	return &Decoder{in: in, reader: NewReader(), buf: make([]byte, 4096)}
}

// Decode returns the next top-level expression and its source text. At the
// end of the stream it returns io.EOF, or an error wrapping
// io.ErrUnexpectedEOF when the stream ends inside an expression. Syntax
// errors are *SyntaxError values, and read errors are returned unchanged.
// Expressions completed before an error are returned first.
func (d *Decoder) Decode() (Expr, []byte, error) {
	for {
		if e, src, ok := d.reader.Next(); ok {
			return e, src, nil
		}
		if d.err != nil {
			return Expr{}, nil, d.err
		}
		n, err := d.in.Read(d.buf)
		if n > 0 {
			if _, werr := d.reader.Write(d.buf[:n]); werr != nil {
				d.err = werr
				continue
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			d.err = io.EOF
			if cerr := d.reader.Close(); cerr != nil {
				d.err = fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, cerr)
			}
		case err != nil:
			d.err = err
		}
	}
}
