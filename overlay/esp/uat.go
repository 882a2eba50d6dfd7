package esp

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
)

// Algorithm names as Wireshark's ESP SA table spells them (the esp_sa
// user access table of epan/dissectors/packet-ipsec.c, checked with
// Wireshark 4.0).
const (
	uatGCM16 = "AES-GCM with 16 octet ICV [RFC4106]"
	uatHMAC  = "HMAC-SHA-256-128 [RFC4868]"
	uatNull  = "NULL"
)

// AppendESPSA appends the current SAs of k's vnet in the format of
// Wireshark's esp_sa file, one record per line. The records are the
// outbound SA of each live Sender of k, then the inbound SAs of the vnet
// in in, if in is not nil. Wireshark decrypts and verifies the vnet's
// packets with the file in a profile (or each line given as tshark -o
// 'uat:esp_sa:LINE') and the ESP preferences enable_encryption_decode and
// enable_authentication_check set.
//
// The lines contain the SA keys, and through them traffic of the vnet can
// be read and forged: show them only to the administrator.
func AppendESPSA(dst []byte, k *Key, in *SAD) []byte {
	// A Sender zeroes its old SA under k.mu when it moves to a new one, and
	// the SAD zeroes inbound SAs under its own mutex, so each part is
	// formatted under the lock that keeps its keys in place.
	k.mu.Lock()
	var out []*saMaterial
	for s := range k.senders {
		if !s.closed && s.sa != nil {
			out = append(out, s.sa.saMaterial)
		}
	}
	slices.SortFunc(out, compareSA)
	for _, m := range out {
		dst = appendUATRecord(dst, m)
	}
	k.mu.Unlock()
	if in == nil {
		return dst
	}

	in.mu.Lock()
	defer in.mu.Unlock()
	var inbound []*saMaterial
	for _, sa := range *in.sas.Load() {
		if sa.vnetKey == k {
			inbound = append(inbound, sa.saMaterial)
		}
	}
	slices.SortFunc(inbound, compareSA)
	for _, m := range inbound {
		dst = appendUATRecord(dst, m)
	}
	return dst
}

func compareSA(a, b *saMaterial) int {
	if c := netip.AddrFrom4(a.id.src).Compare(netip.AddrFrom4(b.id.src)); c != 0 {
		return c
	}
	return cmp.Compare(a.id.spi, b.id.spi)
}

// appendUATRecord appends one esp_sa record: protocol, source, destination
// (any, as group and unicast packets share the SA), SPI, encryption
// algorithm and key, authentication algorithm and key. Keys are hex with a
// 0x prefix, and an AES-GCM key is followed by its salt.
func appendUATRecord(dst []byte, m *saMaterial) []byte {
	field := func(s string) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"', ',')
	}
	key := func() {
		dst = append(dst, `"0x`...)
		dst = hex.AppendEncode(dst, m.key)
		dst = append(dst, '"', ',')
	}
	field("IPv4")
	field(netip.AddrFrom4(m.id.src).String())
	field("*")
	field(fmt.Sprintf("0x%08x", m.id.spi))
	if m.mode == ModeConf {
		field(uatGCM16)
		key()
		field(uatNull)
		field("")
	} else {
		field(uatNull)
		field("")
		field(uatHMAC)
		key()
	}
	dst[len(dst)-1] = '\n'
	return dst
}
