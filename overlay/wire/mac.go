package wire

import "fmt"

// MAC is an Ethernet address.
type MAC [6]byte

// BroadcastMAC is the all-ones Ethernet address.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseMAC parses six pairs of hex digits separated by ':' or '-', the same
// separator throughout, in either case. Other forms that net.ParseMAC
// accepts (dotted, 8 or 20 bytes) are rejected.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("invalid MAC address %q (use six pairs of hex digits separated by ':' or '-')", s)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, fmt.Errorf("invalid MAC address %q (use six pairs of hex digits separated by ':' or '-')", s)
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[3*i-1] != sep {
			return m, fmt.Errorf("invalid MAC address %q: mixed or missing separators", s)
		}
		hi, ok1 := hexValue(s[3*i])
		lo, ok2 := hexValue(s[3*i+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("invalid MAC address %q: %q is not a hex byte", s, s[3*i:3*i+2])
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsMulticast reports whether the group bit is set, which covers broadcast.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// String formats m as six lowercase hex pairs separated by colons.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
