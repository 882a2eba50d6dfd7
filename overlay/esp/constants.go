package esp

import "fmt"

// Mode is the protection of a secure vnet. The values are the original's
// security levels (sa.h: SA_AUTH 1, SA_CONF 2).
type Mode uint8

const (
	// ModeAuth authenticates every packet with HMAC-SHA-256-128 (RFC 4868)
	// and NULL encryption (RFC 2410), so the payload stays readable.
	ModeAuth Mode = 1
	// ModeConf authenticates and encrypts every packet with AES-GCM and a
	// 16-byte ICV (RFC 4106).
	ModeConf Mode = 2
)

// String returns "auth" or "conf", the vnet.add security keywords.
func (m Mode) String() string {
	switch m {
	case ModeAuth:
		return "auth"
	case ModeConf:
		return "conf"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

func (m Mode) valid() bool { return m == ModeAuth || m == ModeConf }

// Lengths of the ESP header and trailer in bytes (RFC 4303 section 2).
const (
	// SPILen and SeqLen are the two fields of every ESP header.
	SPILen = 4
	SeqLen = 4
	// IVLen is the explicit IV that AES-GCM carries after the sequence
	// number (RFC 4106 section 3.1). HMAC with NULL encryption has none.
	IVLen = 8
	// MaxHeaderLen is the longest ESP header, that of ModeConf: SPI,
	// sequence number and IV. Mode.HeaderLen gives each mode's length.
	MaxHeaderLen = SPILen + SeqLen + IVLen
	// ICVLen is the integrity check value of both modes: the AES-GCM tag,
	// or HMAC-SHA-256 truncated to 128 bits.
	ICVLen = 16
	// MaxPadLen is the most padding Seal adds. Both modes have a block
	// size of 1, so padding only ends the encrypted part on a 4-byte
	// boundary (RFC 4303 section 2.4).
	MaxPadLen = 3
	// MaxTrailerLen is the longest trailer after the payload: padding, the
	// pad length and next header bytes, and the ICV.
	MaxTrailerLen = MaxPadLen + 2 + ICVLen
	// MaxOverhead is what ESP adds to an IPv4 packet at most, the value by
	// which a secure vnet's MTU is lowered in either mode.
	MaxOverhead = MaxHeaderLen + MaxTrailerLen
)

// ProtoESP is the IPv4 protocol number of ESP (IANA).
const ProtoESP = 50

// HeaderLen returns the length of m's ESP header: 16 for ModeConf, 8 for
// ModeAuth.
func (m Mode) HeaderLen() int {
	if m == ModeConf {
		return MaxHeaderLen
	}
	return SPILen + SeqLen
}

// Overhead returns the most bytes that m adds to an IPv4 packet: the ESP
// header and the longest trailer.
func (m Mode) Overhead() int { return m.HeaderLen() + MaxTrailerLen }

// SealedLen returns the length of the ESP part (header, payload, padding,
// trailer and ICV) that Seal makes of a payload of n bytes.
func (m Mode) SealedLen(n int) int {
	return m.HeaderLen() + n + padLen(n) + 2 + ICVLen
}

// MaxPayload returns the largest payload whose ESP part, as SealedLen
// gives it, fits in n bytes, or a negative number if none does. With n the
// underlay MTU minus the outer IPv4 header, it sizes a secure vnet's MTU
// exactly, where Overhead gives a bound up to 3 bytes lower.
func (m Mode) MaxPayload(n int) int {
	return (n-m.HeaderLen()-ICVLen)&^3 - 2
}

// padLen returns the padding that makes payload, padding, pad length and
// next header a multiple of 4 bytes.
func padLen(n int) int { return (4 - (n+2)%4) % 4 }

// WindowSize is the number of sequence numbers, up to the highest one
// received, that the anti-replay window of an inbound SA tracks. Older
// packets are rejected as replays.
const WindowSize = (windowWords - 1) * 64

// windowWords is the size of the window bitmap in 64-bit words. One word
// is kept spare so that moving the window clears whole words (RFC 6479).
const windowWords = 32

// Reason is why Open rejected a packet. The engine counts each reason.
type Reason uint8

const (
	// ReasonNone means the packet was accepted.
	ReasonNone Reason = iota
	// ReasonTruncated is a packet that ends before its IPv4 total length,
	// or whose ESP part is too short for the mode's header and ICV.
	ReasonTruncated
	// ReasonMalformed is a packet that is not an unfragmented IPv4 ESP
	// packet, or whose encrypted part does not end on a 4-byte boundary, or
	// that carries sequence number 0 or a reserved SPI (0 to 255).
	ReasonMalformed
	// ReasonNoSA is a packet whose SPI and source address name no inbound
	// SA and that no vnet key authenticates: a wrong key, a changed SPI or
	// source, or a vnet that is not configured here.
	ReasonNoSA
	// ReasonAuth is a packet of a known SA whose ICV does not verify: it
	// was changed on the way, or sealed with another key.
	ReasonAuth
	// ReasonReplay is a packet whose sequence number the SA has already
	// accepted, or that is older than the anti-replay window, or that
	// belongs to an SA the receiver retired.
	ReasonReplay
	// ReasonPadding is an authenticated packet whose pad length exceeds the
	// payload or whose padding bytes are not 1, 2, 3 (RFC 4303 section
	// 2.4). Only a faulty sender produces it.
	ReasonPadding
	// ReasonRateLimited is a packet of an unknown SA that was not checked
	// against the vnet keys, because this Opener spent its budget of key
	// trials.
	ReasonRateLimited
	// ReasonWrongVnet is a packet whose decrypted EtherIP or VARP header
	// names another vnet than the SA's. Open does not parse the payload, so
	// only the caller reports it.
	ReasonWrongVnet

	// NumReasons is the number of reasons, for arrays of counters.
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonNone:        "none",
	ReasonTruncated:   "truncated",
	ReasonMalformed:   "malformed",
	ReasonNoSA:        "no_sa",
	ReasonAuth:        "auth",
	ReasonReplay:      "replay",
	ReasonPadding:     "padding",
	ReasonRateLimited: "rate_limited",
	ReasonWrongVnet:   "wrong_vnet",
}

// String returns the reason's counter name, such as "replay".
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}
