package control

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll feeds input to a new reader in one Write, closes it and returns
// the expressions and the first error.
func readAll(input []byte) ([]Expr, error) {
	r := NewReader()
	_, err := r.Write(input)
	if err == nil {
		err = r.Close()
	}
	var exprs []Expr
	for {
		e, _, ok := r.Next()
		if !ok {
			return exprs, err
		}
		exprs = append(exprs, e)
	}
}

func equalExprs(a, b []Expr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func TestReaderParse(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Expr
	}{
		{"empty", "", nil},
		{"only space and comments", " \t\r\n\f# comment\n  # another", nil},
		{"atom", "vnet.list", []Expr{Atom("vnet.list")}},
		{"empty list", "()", []Expr{List()}},
		{"command", "(vnet.add (id 1500) (security none))", []Expr{
			List(Atom("vnet.add"), List(Atom("id"), Atom("1500")), List(Atom("security"), Atom("none"))),
		}},
		{"colons and dots in atoms", "(x 0000:0000:0000:0000:0000:0000:0000:1500 02:a8:b7:7b:5f:d3 198.18.0.1)", []Expr{
			List(Atom("x"), Atom("0000:0000:0000:0000:0000:0000:0000:1500"), Atom("02:a8:b7:7b:5f:d3"), Atom("198.18.0.1")),
		}},
		{"original separators inside atoms", "a!b;c[d]{e}>f\\g", []Expr{Atom("a!b;c[d]{e}>f\\g")}},
		{"two top-level lists", "(a)(b)", []Expr{List(Atom("a")), List(Atom("b"))}},
		{"atoms end at parentheses", "(a(b)c)", []Expr{List(Atom("a"), List(Atom("b")), Atom("c"))}},
		{"atom ends at comment", "(a# comment )\n)", []Expr{List(Atom("a"))}},
		{"atom ends at quote", `(a"b")`, []Expr{List(Atom("a"), Atom("b"))}},
		{"comment inside list", "(a # c ) (\n b)", []Expr{List(Atom("a"), Atom("b"))}},
		{"whitespace kinds", "(a\tb\rc\nd\fe)", []Expr{List(Atom("a"), Atom("b"), Atom("c"), Atom("d"), Atom("e"))}},
		{"double-quoted string", `"port u0 queue 0"`, []Expr{Atom("port u0 queue 0")}},
		{"single-quoted string", `'it''s'`, []Expr{Atom("it"), Atom("s")}},
		{"empty string", `(vnetif "")`, []Expr{List(Atom("vnetif"), Atom(""))}},
		{"quote of other kind inside string", `"a'b" 'c"d'`, []Expr{Atom("a'b"), Atom(`c"d`)}},
		{"string with parentheses and hash", `"(a) # b"`, []Expr{Atom("(a) # b")}},
		{"string with raw newline", "\"a\nb\"", []Expr{Atom("a\nb")}},
		{"letter escapes", `"\a\b\f\n\r\t\v\\\'\""`, []Expr{Atom("\a\b\f\n\r\t\v\\'\"")}},
		{"hex escape two digits", `"\x41\x7e"`, []Expr{Atom("A~")}},
		{"hex escape one digit", `"\x4g"`, []Expr{Atom("\x04g")}},
		{"hex escape stops after two digits", `"\x414"`, []Expr{Atom("A4")}},
		{"hex escape at string end", `"\x4"`, []Expr{Atom("\x04")}},
		{"octal escape three digits", `"\101\0"`, []Expr{Atom("A\x00")}},
		{"octal escape stops after three digits", `"\1011"`, []Expr{Atom("A1")}},
		{"octal escape 377", `"\377"`, []Expr{Atom("\xff")}},
		{"non-ASCII inside string", "\"caf\xc3\xa9\"", []Expr{Atom("caf\xc3\xa9")}},
		{"nested", "((((x))))", []Expr{List(List(List(List(Atom("x")))))}},
		{"field with empty value", "(vnet (id 1) (vnetif ) (header 0))", []Expr{
			List(Atom("vnet"), List(Atom("id"), Atom("1")), List(Atom("vnetif")), List(Atom("header"), Atom("0"))),
		}},
		{"top-level atom at end of input", "(a) b", []Expr{List(Atom("a")), Atom("b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll([]byte(tt.input))
			if err != nil {
				t.Fatalf("read %q: %v", tt.input, err)
			}
			if !equalExprs(got, tt.want) {
				t.Errorf("read %q = %v, want %v", tt.input, got, tt.want)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		message string // a part of the error message
		line    int
		column  int
	}{
		{"close outside list", "(a))", "unexpected ')'", 1, 4},
		{"binary data token", "(a <*3*abc)", "binary data tokens", 1, 4},
		{"binary data inside atom", "(a<b)", "binary data tokens", 1, 3},
		{"control character", "(a \x01)", "invalid character 0x01", 1, 4},
		{"vertical tab is no whitespace", "(a\vb)", "invalid character 0x0b", 1, 3},
		{"non-ASCII outside string", "(caf\xc3\xa9)", "invalid character 0xc3", 1, 5},
		{"DEL character", "\x7f", "invalid character 0x7f", 1, 1},
		{"unknown escape", `"a\qb"`, `invalid escape \'q'`, 1, 4},
		{"hex escape without digits", `"\xg"`, `invalid escape \x'g'`, 1, 4},
		{"octal escape above 0377", `"\400"`, "exceeds 0377", 1, 5},
		{"unclosed list", "(a (b)", "inside the list that starts at line 1, column 1 (1 unclosed)", 1, 6},
		{"unclosed list on a later line", "(a)\n  (b\n (c", "inside the list that starts at line 2, column 3 (2 unclosed)", 3, 3},
		{"unclosed string", `(a "b`, "inside a string", 1, 5},
		{"unclosed escape", `"a\`, "inside a string", 1, 3},
		{"error on second line", "(a)\n (b))", "unexpected ')'", 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll([]byte(tt.input))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("read %q: error %v, want a *SyntaxError", tt.input, err)
			}
			if !strings.Contains(se.Msg, tt.message) {
				t.Errorf("read %q: message %q, want it to contain %q", tt.input, se.Msg, tt.message)
			}
			if se.Line != tt.line || se.Column != tt.column {
				t.Errorf("read %q: error at %d:%d, want %d:%d", tt.input, se.Line, se.Column, tt.line, tt.column)
			}
		})
	}
}

func TestReaderKeepsExpressionsBeforeError(t *testing.T) {
	got, err := readAll([]byte("(a) (b) )"))
	if err == nil {
		t.Fatal("read: no error, want one for the stray ')'")
	}
	want := []Expr{List(Atom("a")), List(Atom("b"))}
	if !equalExprs(got, want) {
		t.Errorf("read = %v, want %v", got, want)
	}
}

func TestReaderStaysFailed(t *testing.T) {
	r := NewReader()
	_, first := r.Write([]byte(")"))
	if first == nil {
		t.Fatal("Write(\")\") = nil error, want a syntax error")
	}
	if _, err := r.Write([]byte("(a)")); err != first {
		t.Errorf("Write after error = %v, want the first error %v", err, first)
	}
	if err := r.Close(); err != first {
		t.Errorf("Close after error = %v, want the first error %v", err, first)
	}
	if e, _, ok := r.Next(); ok {
		t.Errorf("Next after error = %v, want nothing", e)
	}
}

func TestReaderIncremental(t *testing.T) {
	input := "# comment\n(vnet.add (id 1500) (vnetif \"vn\\x69f\")) atom (peer.list)\n'x y' (a (b (c)))"
	whole, err := readAll([]byte(input))
	if err != nil {
		t.Fatalf("read whole: %v", err)
	}
	r := NewReader()
	var parts []Expr
	for i := 0; i < len(input); i++ {
		if _, err := r.Write([]byte{input[i]}); err != nil {
			t.Fatalf("Write byte %d: %v", i, err)
		}
		for {
			e, _, ok := r.Next()
			if !ok {
				break
			}
			parts = append(parts, e)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if e, _, ok := r.Next(); ok {
		parts = append(parts, e)
	}
	if !equalExprs(parts, whole) {
		t.Errorf("read byte by byte = %v, want %v", parts, whole)
	}
}

func TestReaderAtomWaitsForDelimiter(t *testing.T) {
	r := NewReader()
	r.Write([]byte("vnet.li"))
	if e, _, ok := r.Next(); ok {
		t.Fatalf("Next after a partial atom = %v, want nothing", e)
	}
	r.Write([]byte("st "))
	e, _, ok := r.Next()
	if !ok || !e.Equal(Atom("vnet.list")) {
		t.Errorf("Next = %v, %v, want vnet.list, true", e, ok)
	}
}

func TestReaderSource(t *testing.T) {
	r := NewReader()
	input := "  # lead\n(varp \n (device xen-br0) # c\n)\n'a b' x"
	if _, err := r.Write([]byte(input)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"(varp \n (device xen-br0) # c\n)", "'a b'", "x"}
	for _, w := range want {
		_, src, ok := r.Next()
		if !ok {
			t.Fatalf("Next: no expression, want source %q", w)
		}
		if string(src) != w {
			t.Errorf("source = %q, want %q", src, w)
		}
	}
}

func TestReaderSizeLimit(t *testing.T) {
	// "(" + atom + ")" of exactly MaxExprSize bytes is accepted.
	exact := "(" + strings.Repeat("a", MaxExprSize-2) + ")"
	if got, err := readAll([]byte(exact)); err != nil || len(got) != 1 {
		t.Fatalf("read of %d bytes = %d expressions, %v, want 1, nil", len(exact), len(got), err)
	}
	over := "(" + strings.Repeat("a", MaxExprSize-1) + ")"
	_, err := readAll([]byte(over))
	if !errors.Is(err, ErrExprTooLarge) {
		t.Errorf("read of %d bytes: error %v, want ErrExprTooLarge", len(over), err)
	}
	if err != nil && !strings.Contains(err.Error(), "65536") {
		t.Errorf("error %q does not name the limit 65536", err)
	}

	// Whitespace and comments between expressions do not count.
	spaced := strings.Repeat(" ", MaxExprSize) + "# " + strings.Repeat("c", MaxExprSize) + "\n(a)"
	if _, err := readAll([]byte(spaced)); err != nil {
		t.Errorf("read of long whitespace then (a): %v", err)
	}

	// A string counts with its quotes and escapes.
	str := `"` + strings.Repeat(`\n`, MaxExprSize/2) + `"`
	if _, err := readAll([]byte(str)); !errors.Is(err, ErrExprTooLarge) {
		t.Errorf("read of a %d-byte string: error %v, want ErrExprTooLarge", len(str), err)
	}
}

func TestReaderDepthLimit(t *testing.T) {
	ok := strings.Repeat("(", MaxExprDepth) + strings.Repeat(")", MaxExprDepth)
	if _, err := readAll([]byte(ok)); err != nil {
		t.Errorf("read of depth %d: %v", MaxExprDepth, err)
	}
	deep := strings.Repeat("(", MaxExprDepth+1) + strings.Repeat(")", MaxExprDepth+1)
	_, err := readAll([]byte(deep))
	if !errors.Is(err, ErrExprTooDeep) {
		t.Errorf("read of depth %d: error %v, want ErrExprTooDeep", MaxExprDepth+1, err)
	}
	if err != nil && !strings.Contains(err.Error(), "64") {
		t.Errorf("error %q does not name the limit 64", err)
	}
}

func TestAppendAtom(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"vnif1500", "vnif1500"},
		{"0000:0000:0000:0000:0000:0000:0000:1500", "0000:0000:0000:0000:0000:0000:0000:1500"},
		{"198.18.0.1", "198.18.0.1"},
		{"a!b;c", "a!b;c"},
		{"", `""`},
		{"port u0 queue 0", `"port u0 queue 0"`},
		{"a(b", `"a(b"`},
		{"a)b", `"a)b"`},
		{`a"b`, `"a\"b"`},
		{"a'b", `"a'b"`},
		{"a#b", `"a#b"`},
		{"a<b", `"a<b"`},
		{`a\b c`, `"a\\b c"`},
		{"tab\there", `"tab\there"`},
		{"\a\b\f\n\r\v", `"\a\b\f\n\r\v"`},
		{"\x00\x1f\x7f\xff", `"\x00\x1f\x7f\xff"`},
		{"\x01" + "1", `"\x011"`},
	}
	for _, tt := range tests {
		if got := string(AppendAtom(nil, tt.in)); got != tt.want {
			t.Errorf("AppendAtom(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestExprString(t *testing.T) {
	e := List(Atom("error"), List(Atom("code"), Atom("EEXIST")), List(Atom("message"), Atom("vnet 1 already exists")), List())
	want := `(error (code EEXIST) (message "vnet 1 already exists") ())`
	if got := e.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestExprAccessors(t *testing.T) {
	e := List(Atom("vnet"), List(Atom("id"), Atom("1500")), List(Atom("vnetif")), List(Atom("x"), List()), Atom("loose"))
	if head, ok := e.Head(); head != "vnet" || !ok {
		t.Errorf("Head() = %q, %v, want vnet, true", head, ok)
	}
	tests := []struct {
		field string
		want  string
		ok    bool
	}{
		{"id", "1500", true},
		{"vnetif", "", true},
		{"x", "", false},
		{"loose", "", false},
		{"missing", "", false},
	}
	for _, tt := range tests {
		got, ok := e.Field(tt.field)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Field(%q) = %q, %v, want %q, %v", tt.field, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := Atom("a").Head(); ok {
		t.Error("Atom.Head() ok = true, want false")
	}
	if _, ok := List().Head(); ok {
		t.Error("List().Head() ok = true, want false")
	}
	if _, ok := List(List(), Atom("a")).Head(); ok {
		t.Error("Head() of a list starting with a list: ok = true, want false")
	}
	if Atom("").Equal(List()) {
		t.Error(`Atom("").Equal(List()) = true, want false`)
	}
	if !List().Equal(List([]Expr{}...)) {
		t.Error("List().Equal(empty list) = false, want true")
	}
}

func TestDecoder(t *testing.T) {
	input := "(vnet (id 1))\n(ok)\n"
	d := NewDecoder(iotest.OneByteReader(strings.NewReader(input)))
	want := []string{"(vnet (id 1))", "(ok)"}
	for _, w := range want {
		e, src, err := d.Decode()
		if err != nil {
			t.Fatalf("Decode: %v, want %s", err, w)
		}
		if string(src) != w || e.String() != w {
			t.Errorf("Decode = %s (source %q), want %s", e, src, w)
		}
	}
	if _, _, err := d.Decode(); err != io.EOF {
		t.Errorf("Decode at end = %v, want io.EOF", err)
	}
	if _, _, err := d.Decode(); err != io.EOF {
		t.Errorf("Decode after end = %v, want io.EOF again", err)
	}
}

func TestDecoderTruncated(t *testing.T) {
	d := NewDecoder(strings.NewReader("(a) (b"))
	if _, _, err := d.Decode(); err != nil {
		t.Fatalf("Decode first: %v", err)
	}
	_, _, err := d.Decode()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Decode of (b at end = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestDecoderSyntaxError(t *testing.T) {
	d := NewDecoder(strings.NewReader("(a) ) (b)"))
	if e, _, err := d.Decode(); err != nil || !e.Equal(List(Atom("a"))) {
		t.Fatalf("Decode first = %v, %v, want (a), nil", e, err)
	}
	var se *SyntaxError
	if _, _, err := d.Decode(); !errors.As(err, &se) {
		t.Errorf("Decode after ')' = %v, want a *SyntaxError", err)
	}
}

func TestDecoderReadError(t *testing.T) {
	failure := errors.New("read failed")
	d := NewDecoder(io.MultiReader(strings.NewReader("(a) (b"), iotest.ErrReader(failure)))
	if _, _, err := d.Decode(); err != nil {
		t.Fatalf("Decode first: %v", err)
	}
	if _, _, err := d.Decode(); !errors.Is(err, failure) {
		t.Errorf("Decode = %v, want the read error", err)
	}
}

func TestParseAll(t *testing.T) {
	got, err := ParseAll("(vnet.list) (peer.list)")
	if err != nil {
		t.Fatal(err)
	}
	want := []Expr{List(Atom("vnet.list")), List(Atom("peer.list"))}
	if !equalExprs(got, want) {
		t.Errorf("ParseAll = %v, want %v", got, want)
	}
	if _, err := ParseAll("(a"); err == nil {
		t.Error("ParseAll(\"(a\") = nil error, want one")
	}
}

// FuzzReader checks that the reader never panics, that splitting the input
// does not change the result, and that whatever it reads prints and reads
// back equal.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"(vnet.add (id 1500) (vnetif vnif1500) (security none))",
		"(varp \n (device xen-br0)\n (mcast_addr 224.10.0.1)\n)",
		`(stats (scope "port u0 queue 0") (rx_frames 12))`,
		`"\x41\101\n\'" 'a"b' # c`,
		"(((a) b) c",
		"(a <*3*abc)",
		")",
		"\"\\x",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, input []byte, split uint8) {
		whole, wholeErr := readAll(input)

		// Feed in chunks of a fuzzed size.
		chunk := int(split)%7 + 1
		r := NewReader()
		var chunked []Expr
		var chunkedErr error
		for i := 0; i < len(input) && chunkedErr == nil; i += chunk {
			_, chunkedErr = r.Write(input[i:min(i+chunk, len(input))])
		}
		if chunkedErr == nil {
			chunkedErr = r.Close()
		}
		for {
			e, _, ok := r.Next()
			if !ok {
				break
			}
			chunked = append(chunked, e)
		}
		if (wholeErr == nil) != (chunkedErr == nil) || !equalExprs(whole, chunked) {
			t.Fatalf("read %q whole = %v, %v; in chunks of %d = %v, %v", input, whole, wholeErr, chunk, chunked, chunkedErr)
		}

		for _, e := range whole {
			text := AppendExpr(nil, e)
			back, err := readAll(text)
			if err != nil {
				t.Fatalf("read back %s: %v", text, err)
			}
			if len(back) != 1 || !back[0].Equal(e) {
				t.Fatalf("read back %s = %v, want %v", text, back, e)
			}
		}
	})
}

// FuzzWriterRoundTrip checks that any atom text and lists of it print to
// text that reads back equal.
func FuzzWriterRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a b", "\x00\xff", `\x41`, "#", "(", "'\"", "vnif1500", "<*1*x"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		exprs := []Expr{
			Atom(a),
			List(Atom(a), Atom(b)),
			List(Atom("field"), List(Atom(a)), List(), List(Atom(b), List(Atom(a)))),
		}
		for _, e := range exprs {
			text := AppendExpr(nil, e)
			back, err := readAll(text)
			if err != nil {
				t.Fatalf("read %s: %v", text, err)
			}
			if len(back) != 1 || !back[0].Equal(e) {
				t.Fatalf("read %s = %v, want %v", text, back, e)
			}
			// Two expressions written one after another stay apart.
			twice := append(append(bytes.Clone(text), ' '), text...)
			back, err = readAll(twice)
			if err != nil || len(back) != 2 {
				t.Fatalf("read %s = %d expressions, %v, want 2", twice, len(back), err)
			}
		}
	})
}

func TestParseStatements(t *testing.T) {
	input := "# header\n(vnet.add (id 1500))\n\n   (peer.add\n (addr 198.18.0.1)) atom \"s\"\n(broken"
	got, err := ParseStatements([]byte(input))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("ParseStatements error = %v, want a *SyntaxError", err)
	}
	want := []struct {
		source       string
		line, column int
	}{
		{"(vnet.add (id 1500))", 2, 1},
		{"(peer.add\n (addr 198.18.0.1))", 4, 4},
		{"atom", 5, 21},
		{`"s"`, 5, 26},
	}
	if len(got) != len(want) {
		t.Fatalf("ParseStatements returned %d statements, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if string(got[i].Source) != w.source {
			t.Errorf("statement %d source = %q, want %q", i, got[i].Source, w.source)
		}
		if got[i].Line != w.line || got[i].Column != w.column {
			t.Errorf("statement %d at %d:%d, want %d:%d", i, got[i].Line, got[i].Column, w.line, w.column)
		}
	}
	if !strings.Contains(se.Msg, "starts at line 6, column 1") {
		t.Errorf("syntax error %q, want it to name line 6, column 1", se.Msg)
	}
}

func TestReaderPending(t *testing.T) {
	tests := []struct {
		input   string
		pending bool
	}{
		{"", false},
		{"  # comment (", false},
		{"(a)", false},
		{"(a) ", false},
		{"(a", true},
		{"(a) (", true},
		{"atom", true}, // an atom ends at the next delimiter
		{"atom ", false},
		{`"str`, true},
		{`"str"`, false},
	}
	for _, tt := range tests {
		r := NewReader()
		if _, err := r.Write([]byte(tt.input)); err != nil {
			t.Fatal(err)
		}
		if got := r.Pending(); got != tt.pending {
			t.Errorf("Pending() after %q = %v, want %v", tt.input, got, tt.pending)
		}
	}
}
