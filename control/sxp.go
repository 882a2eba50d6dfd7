package control

// Expr is an S-expression: either an atom or a list of expressions.
// Quoted strings and bare atoms with the same text are the same value,
// because the command language gives both to commands as text.
type Expr struct {
	atom   string
	elems  []Expr
	isList bool
}

// Atom returns the atom with text s.
func Atom(s string) Expr { return Expr{atom: s} }

// List returns the list of the given elements.
func List(elems ...Expr) Expr { return Expr{elems: elems, isList: true} }

// IsList reports whether e is a list.
func (e Expr) IsList() bool { return e.isList }

// Text returns the text of an atom, and "" for a list.
func (e Expr) Text() string { return e.atom }

// Elems returns the elements of a list, and nil for an atom.
func (e Expr) Elems() []Expr { return e.elems }

// Head returns the text of a list's first element when that element is an
// atom. It returns false for atoms, empty lists and lists that start with
// a list.
func (e Expr) Head() (string, bool) {
	if !e.isList || len(e.elems) == 0 || e.elems[0].isList {
		return "", false
	}
	return e.elems[0].atom, true
}

// Field finds the first element of e that is a list headed by name, such
// as (port 1798), and returns the text of that list's second element. A
// list of the name alone, such as the "(vnetif )" that the physical vnet
// prints, gives "". The result is false when no such element exists or its
// second element is a list.
func (e Expr) Field(name string) (string, bool) {
	for _, child := range e.elems {
		head, ok := child.Head()
		if !ok || head != name {
			continue
		}
		if len(child.elems) < 2 {
			return "", true
		}
		if child.elems[1].isList {
			return "", false
		}
		return child.elems[1].atom, true
	}
	return "", false
}

// Equal reports whether e and o are the same atom or lists of equal
// elements.
func (e Expr) Equal(o Expr) bool {
	if e.isList != o.isList {
		return false
	}
	if !e.isList {
		return e.atom == o.atom
	}
	if len(e.elems) != len(o.elems) {
		return false
	}
	for i := range e.elems {
		if !e.elems[i].Equal(o.elems[i]) {
			return false
		}
	}
	return true
}

// String formats e on one line, as AppendExpr does.
func (e Expr) String() string {
	return string(AppendExpr(nil, e))
}

// AppendExpr appends the text of e to dst: lists in parentheses with
// elements separated by one space, atoms as AppendAtom writes them.
func AppendExpr(dst []byte, e Expr) []byte {
	if !e.isList {
		return AppendAtom(dst, e.atom)
	}
	dst = append(dst, '(')
	for i, elem := range e.elems {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = AppendExpr(dst, elem)
	}
	return append(dst, ')')
}

// AppendAtom appends s to dst, bare when the reader would read it back as
// one atom, otherwise as a double-quoted string. So the empty string and
// text with whitespace, parentheses, quotes, '#', '<' or bytes outside
// printable ASCII are quoted.
func AppendAtom(dst []byte, s string) []byte {
	if !needsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\a':
			dst = append(dst, '\\', 'a')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\v':
			dst = append(dst, '\\', 'v')
		default:
			if c < 0x20 || c > 0x7e {
				// Always two digits, so that a hex digit after the
				// escape is not read as part of it.
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if !isAtomByte(s[i]) {
			return true
		}
	}
	return false
}

// isAtomByte reports whether c may appear in a bare atom: printable ASCII
// other than the list delimiters, the two quotes, the comment mark and the
// '<' that opens a binary data token in the original syntax.
func isAtomByte(c byte) bool {
	if c < 0x21 || c > 0x7e {
		return false
	}
	switch c {
	case '(', ')', '"', '\'', '#', '<':
		return false
	}
	return true
}

// isSpace reports whether c is whitespace: space, tab, CR, LF or FF.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\f':
		return true
	}
	return false
}

// ParseAll reads every top-level expression in text. It is meant for
// complete input such as a command line, not for streams.
func ParseAll(text string) ([]Expr, error) {
	r := NewReader()
	if _, err := r.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := r.Close(); err != nil {
		return nil, err
	}
	var exprs []Expr
	for {
		e, _, ok := r.Next()
		if !ok {
			return exprs, nil
		}
		exprs = append(exprs, e)
	}
}

// ParseStatements reads every top-level expression of a complete text,
// such as a file, with its position. On a syntax error it returns the
// expressions completed before the error together with the *SyntaxError.
func ParseStatements(text []byte) ([]Statement, error) {
	r := NewReader()
	_, err := r.Write(text)
	if err == nil {
		err = r.Close()
	}
	var stmts []Statement
	for {
		s, ok := r.NextStatement()
		if !ok {
			return stmts, err
		}
		stmts = append(stmts, s)
	}
}
