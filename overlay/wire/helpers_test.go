package wire

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// parseDump returns the bytes of a hex dump in the format of tcpdump -XX:
// lines of "0xOFFS:  hhhh hhhh ...  ascii". Lines without the 0x prefix are
// skipped. It panics on a malformed dump, as fixtures are fixed text.
func parseDump(dump string) []byte {
	var out []byte
	for _, line := range strings.Split(dump, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "0x") {
			continue
		}
		offText, rest, ok := strings.Cut(line, ":  ")
		if !ok {
			panic(fmt.Sprintf("dump line %q: missing offset separator", line))
		}
		off, err := strconv.ParseUint(offText[2:], 16, 32)
		if err != nil || int(off) != len(out) {
			panic(fmt.Sprintf("dump line %q: offset %s, want %#04x", line, offText, len(out)))
		}
		hexPart, _, _ := strings.Cut(rest, "  ")
		b, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
		if err != nil {
			panic(fmt.Sprintf("dump line %q: %v", line, err))
		}
		out = append(out, b...)
	}
	return out
}

// mustHex decodes a hex string, ignoring spaces.
func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// clone returns a copy of b, so that a test can modify it.
func clone(b []byte) []byte { return append([]byte(nil), b...) }
