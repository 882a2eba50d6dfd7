package esp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Test hosts and vnets. Underlay addresses are from 198.18.0.0/15.
var (
	host1 = [4]byte{198, 18, 0, 1}
	host2 = [4]byte{198, 18, 0, 2}
	host3 = [4]byte{198, 18, 0, 3}

	mac1 = wire.MAC{0x02, 0, 0, 0, 0, 1}
	mac2 = wire.MAC{0x02, 0, 0, 0, 0, 2}

	vnetA = wire.VnetIDFromUint16(0x1500)
	vnetB = wire.VnetIDFromUint16(0x1501)

	psk1 = mustHex("000102030405060708090a0b0c0d0e0f")
	psk2 = mustHex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
	// psk3 is a 32-byte key, which selects AES-256-GCM.
	psk3 = mustHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
)

var modes = []Mode{ModeAuth, ModeConf}

// mustHex decodes a hex string, ignoring spaces.
func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func newTestKey(t testing.TB, vnet wire.VnetID, mode Mode, psk []byte) *Key {
	t.Helper()
	k, err := NewKey(vnet, mode, psk)
	if err != nil {
		t.Fatalf("NewKey(%s, %s) = %v", vnet, mode, err)
	}
	t.Cleanup(k.Close)
	return k
}

func newTestSender(t testing.TB, k *Key, src [4]byte) *Sender {
	t.Helper()
	s, err := k.NewSender(src)
	if err != nil {
		t.Fatalf("NewSender(%v) = %v", src, err)
	}
	return s
}

// newTestSAD returns a SAD with k registered, a large trial budget, and
// an Opener on it.
func newTestSAD(t testing.TB, c Config, keys ...*Key) (*SAD, *Opener) {
	t.Helper()
	if c.TrialBurst == 0 {
		c.TrialBurst = 1 << 20
	}
	d := NewSAD(c)
	for _, k := range keys {
		if err := d.Add(k); err != nil {
			t.Fatalf("Add(%s) = %v", k.Vnet(), err)
		}
	}
	o := d.NewOpener()
	t.Cleanup(o.Close)
	return d, o
}

// innerFrame returns an Ethernet frame of n bytes (at least 14) from mac1
// to mac2 whose payload bytes count up from seed.
func innerFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	copy(f[0:6], mac2[:])
	copy(f[6:12], mac1[:])
	f[12], f[13] = 0x08, 0x00
	for i := 14; i < n; i++ {
		f[i] = seed + byte(i)
	}
	return f
}

// vudpFrame builds an Ethernet frame carrying inner in VUDP from src to
// dst for vnet, with the room that Seal needs, the way the engine does.
// PutVUDP writes the plain headers, then the Ethernet and IPv4 headers
// move down to leave room for the ESP header after them. It returns the
// buffer, whose IPv4 packet starts at wire.EthHeaderLen.
func vudpFrame(mode Mode, src, dst [4]byte, vnet wire.VnetID, inner []byte) []byte {
	h := mode.HeaderLen()
	const l2l3 = wire.EthHeaderLen + wire.IPv4HeaderLen
	buf := make([]byte, h+wire.EncapLen+len(inner)+MaxTrailerLen)
	o := wire.Outer{
		EthDst: mac2, EthSrc: mac1, Src: src, Dst: dst,
		TTL: wire.DefaultTTL, ID: 7, DontFragment: true, SrcPort: 50000, Vnet: vnet,
	}
	wire.PutVUDP(buf[h:], &o, len(inner))
	copy(buf[h+wire.EncapLen:], inner)
	copy(buf[:l2l3], buf[h:h+l2l3])
	return buf
}

// sealFrame seals a VUDP frame built by vudpFrame and returns the frame
// cut to its new length.
func sealFrame(t testing.TB, s *Sender, frame []byte) []byte {
	t.Helper()
	n, err := s.Seal(frame[wire.EthHeaderLen:])
	if err != nil {
		t.Fatalf("Seal = %v", err)
	}
	return frame[:wire.EthHeaderLen+n]
}

// sealed returns an ESP frame of s carrying an inner frame of innerLen
// bytes to the group.
func sealed(t testing.TB, s *Sender, innerLen int, seed byte) []byte {
	t.Helper()
	inner := innerFrame(innerLen, seed)
	return sealFrame(t, s, vudpFrame(s.key.mode, s.src, [4]byte{224, 10, 0, 1}, s.key.vnet, inner))
}

// plainPayload returns the UDP payload onwards of a plain VUDP frame:
// what Open must give back.
func plainPayload(vnet wire.VnetID, inner []byte) []byte {
	buf := make([]byte, wire.EncapLen+len(inner))
	o := wire.Outer{SrcPort: 50000, Vnet: vnet}
	wire.PutVUDP(buf, &o, len(inner))
	copy(buf[wire.EncapLen:], inner)
	return buf[wire.EthHeaderLen+wire.IPv4HeaderLen:]
}

// open opens an ESP frame with o and checks nothing.
func open(o *Opener, frame []byte) Result {
	return o.Open(frame[wire.EthHeaderLen:])
}

// payloadOf returns the payload that res locates in frame.
func payloadOf(frame []byte, res Result) []byte {
	ip := frame[wire.EthHeaderLen:]
	return ip[res.Offset : res.Offset+res.Length]
}

func clone(b []byte) []byte { return bytes.Clone(b) }

// epoch is a fixed time for Tick in tests that need a clock.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fixedSender returns a Sender of k with the given SPI and IV prefix 7,
// whose packets are the same in every run.
func fixedSender(t testing.TB, k *Key, src [4]byte, spi uint32) *Sender {
	t.Helper()
	m, err := k.derive(src, spi)
	if err != nil {
		t.Fatal(err)
	}
	return &Sender{key: k, src: src, sa: &outboundSA{saMaterial: m, ivPrefix: 7}, st: newCryptoState()}
}
