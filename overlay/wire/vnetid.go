package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// VnetID is a 128-bit vnet identifier as carried on the wire: eight
// big-endian 16-bit fields, the most significant first.
type VnetID [16]byte

// Reserved vnet ids. Id 1 is the original's "physical" network, which has
// no device and carries no tunnelled traffic.
var (
	VnetIDZero     VnetID
	VnetIDPhysical = VnetIDFromUint16(1)
)

// VnetIDFromUint16 returns the id whose last field is n and whose other
// fields are zero, as the single-field text form "n" denotes.
func VnetIDFromUint16(n uint16) VnetID {
	var id VnetID
	binary.BigEndian.PutUint16(id[14:], n)
	return id
}

// ParseVnetID parses the text form of a vnet id: either one field or eight
// colon-separated fields, each of 1 to 4 hexadecimal digits. A single field
// is the last 16 bits of the id, so "1500" is 0x1500.
func ParseVnetID(s string) (VnetID, error) {
	var id VnetID
	fields := strings.Split(s, ":")
	if len(fields) != 1 && len(fields) != 8 {
		return id, fmt.Errorf("invalid vnet id %q: has %d fields (use one field or eight colon-separated fields of 1 to 4 hex digits)", s, len(fields))
	}
	start := 8 - len(fields)
	for i, f := range fields {
		if len(f) < 1 || len(f) > 4 {
			return id, fmt.Errorf("invalid vnet id %q: field %q is not 1 to 4 hex digits", s, f)
		}
		v, err := strconv.ParseUint(f, 16, 16)
		if err != nil || !isHex(f) {
			return id, fmt.Errorf("invalid vnet id %q: field %q is not 1 to 4 hex digits", s, f)
		}
		binary.BigEndian.PutUint16(id[2*(start+i):], uint16(v))
	}
	return id, nil
}

// isHex reports whether s consists of hexadecimal digits only.
// strconv.ParseUint alone would also accept an underscore or a sign.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Field returns the i-th 16-bit field, 0 being the most significant.
func (id VnetID) Field(i int) uint16 {
	return binary.BigEndian.Uint16(id[2*i:])
}

// String formats the id as eight colon-separated fields of four lowercase
// hex digits, the full form the original's list commands intended.
func (id VnetID) String() string {
	b := make([]byte, 0, 39)
	for i := 0; i < 8; i++ {
		if i > 0 {
			b = append(b, ':')
		}
		b = fmt.Appendf(b, "%04x", id.Field(i))
	}
	return string(b)
}

// DefaultDevice returns the device name a vnet gets when none is given:
// "vnif" and the last field as four hex digits. Ids that differ only in
// their upper 112 bits share this name, so the second of them needs an
// explicit name.
func (id VnetID) DefaultDevice() string {
	return fmt.Sprintf("vnif%04x", id.Field(7))
}

// ErrReservedVnetID is returned for ids that cannot name a tunnelled vnet.
var ErrReservedVnetID = errors.New("vnet ids 0 and 1 are reserved")

// CheckUsable returns an error wrapping ErrReservedVnetID for id 0 and for
// id 1, the physical network.
func (id VnetID) CheckUsable() error {
	if id == VnetIDZero || id == VnetIDPhysical {
		return fmt.Errorf("invalid vnet id %s: %w (use another id)", id, ErrReservedVnetID)
	}
	return nil
}
