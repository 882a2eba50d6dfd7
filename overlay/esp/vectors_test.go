package esp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// HMAC-SHA-256 test cases of RFC 4231 section 4 (cases 1, 2, 3 and 5;
// cases 6 and 7 use keys longer than a block, which this package never
// has).
func TestHMACRFC4231(t *testing.T) {
	tests := []struct {
		name      string
		key, data []byte
		want      string
	}{
		{"case 1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"case 2", []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"case 3", bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xdd}, 50),
			"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
		// Case 5 is specified truncated to 128 bits, the ICV length of
		// HMAC-SHA-256-128.
		{"case 5", bytes.Repeat([]byte{0x0c}, 20), []byte("Test With Truncation"),
			"a3b6167473100ee06e0c796c2955552b"},
	}
	st := newHMACState()
	for _, tt := range tests {
		got := st.sum256(newHMACKey(tt.key), tt.data)
		want := mustHex(tt.want)
		if !bytes.Equal(got[:len(want)], want) {
			t.Errorf("HMAC-SHA-256 %s = %x, want %x", tt.name, got[:len(want)], want)
		}
	}
}

func TestHMACMatchesStandardLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	st := newHMACState()
	for i := 0; i < 200; i++ {
		key := make([]byte, 1+rng.IntN(64))
		data := make([]byte, rng.IntN(3000))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		want := hmac.New(sha256.New, key)
		want.Write(data)
		// Two keys used in turn with one state must not disturb each
		// other.
		other := newHMACKey([]byte("other key"))
		st.sum256(other, data)
		if got := st.sum256(newHMACKey(key), data); !bytes.Equal(got, want.Sum(nil)) {
			t.Fatalf("HMAC-SHA-256(%d-byte key, %d bytes) = %x, want %x", len(key), len(data), got, want.Sum(nil))
		}
	}
}

// gcmESPVector is an ESP packet of the AES-GCM test cases in
// draft-mcgrew-gcm-test-01 section 4, which have 32-bit sequence numbers
// (an 8-byte AAD). The plaintext is the whole protected body: payload,
// padding, pad length and next header (which is 1 in these cases).
type gcmESPVector struct {
	name      string
	key, salt string
	spi, seq  uint32
	iv        string
	plaintext string
	sealed    string // ciphertext and ICV
}

var gcmESPVectors = []gcmESPVector{
	{
		name: "AES-128 case 2", key: "feffe9928665731c6d6a8f9467308308", salt: "cafebabe",
		spi: 0x0000a5f8, seq: 0x0000000a, iv: "facedbaddecaf888",
		plaintext: "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100" +
			"0001000000000000037369700963796265726369747902646b00000100010001",
		sealed: "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c" +
			"3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1" +
			"83b70d3aa8bc6ee4c309e9d85a41ad4a",
	},
	{
		name: "AES-256 case 3", key: "abbccddef00112233445566778899aababbccddef00112233445566778899aab", salt: "11223344",
		spi: 0x4a2cbfe3, seq: 2, iv: "0102030405060708",
		plaintext: "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000" +
			"7002400020bf0000020405b40101040201020201",
		sealed: "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763" +
			"748a637985771d347f0545659f14e99def842d8e" +
			"b335f4eecfdbf831824b4c4915956c96",
	},
	{
		name: "AES-128 case 4", key: "00000000000000000000000000000000", salt: "00000000",
		spi: 0, seq: 1, iv: "0000000000000000",
		plaintext: "4500003c99c500008001cb7a40679318010101010800075c0200440061626364" +
			"65666768696a6b6c6d6e6f707172737475767761626364656667686901020201",
		sealed: "4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284" +
			"456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3" +
			"f821d496eeb096e98ad2b69e4799c71d",
	},
	{
		name: "AES-128 case 12", key: "7d773d00c144c525ac619d18c84a3f47", salt: "d9664267",
		spi: 0x335467ae, seq: 0xffffffff, iv: "43457e9182443bc6",
		plaintext: "01020201",
		sealed:    "437f866b" + "cb3f699fe9b0822bac961c4504bef270",
	},
}

// TestGCMESPVectors seals the payload of each test case with the
// package's ESP code and compares the whole ESP packet, header to ICV,
// with the published one, then opens it again.
func TestGCMESPVectors(t *testing.T) {
	for _, v := range gcmESPVectors {
		m, err := newSAMaterial(ModeConf, v.spi, host1, mustHex(v.key+v.salt))
		if err != nil {
			t.Fatalf("%s: newSAMaterial = %v", v.name, err)
		}
		body := mustHex(v.plaintext)
		next := body[len(body)-1]
		payload := body[:len(body)-2-int(body[len(body)-2])]
		if got := padLen(len(payload)); got != int(body[len(body)-2]) {
			t.Logf("%s: published padding %d differs from ours %d; comparing the AEAD only", v.name, body[len(body)-2], got)
		}

		want := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, v.spi), v.seq), mustHex(v.iv)...)
		want = append(want, mustHex(v.sealed)...)

		st := newCryptoState()
		esp := make([]byte, ModeConf.SealedLen(len(payload)))
		copy(esp[MaxHeaderLen:], payload)
		iv := binary.BigEndian.Uint64(mustHex(v.iv))
		if padLen(len(payload)) == int(body[len(body)-2]) {
			if n := m.seal(esp, len(payload), v.seq, iv, next, &st); n != len(want) || !bytes.Equal(esp[:n], want) {
				t.Errorf("%s: seal =\n%x\nwant\n%x", v.name, esp[:n], want)
			}
		}

		// Open the published packet, whatever its padding.
		got := bytes.Clone(want)
		n, gotNext, r := m.open(got, &st)
		if r != ReasonNone || gotNext != next || !bytes.Equal(got[MaxHeaderLen:MaxHeaderLen+n], payload) {
			t.Errorf("%s: open = %d bytes, next %d, %v, want %d bytes %x, next %d", v.name, n, gotNext, r, len(payload), payload, next)
		}
		got[len(got)-1] ^= 1
		if _, _, r := m.open(got, &st); r != ReasonAuth {
			t.Errorf("%s: open with a changed ICV = %v, want %v", v.name, r, ReasonAuth)
		}
	}
}

// TestKeyDerivationIsStable pins the derived SA keys: hosts of different
// versions must derive the same keys from the same PSK, or they cannot
// talk. A change here is a change of the wire protocol. The expected keys
// were computed apart from this package, with an HKDF written on Python's
// hmac module after RFC 5869, from the inputs that docs/security.md
// lists.
func TestKeyDerivationIsStable(t *testing.T) {
	tests := []struct {
		mode Mode
		psk  []byte
		vnet wire.VnetID
		src  [4]byte
		spi  uint32
		want string
	}{
		{ModeConf, psk1, vnetA, host1, 0x12345678, "3e5246687c6db4f471075694fbffcee3b7658879"},
		{ModeConf, psk3, vnetA, host1, 0x12345678, "78633efa71e0376401cc4deeee23b0b8e33685dbf1880ad9cfd9afaf3c461ea13107c0ee"},
		{ModeAuth, psk1, vnetA, host1, 0x12345678, "5c07fcb17fb7b96adea29958c2c87ae905a33ac2eff2a5c98ef73de27cc1696f"},
		{ModeConf, psk1, vnetB, host1, 0x12345678, ""},
		{ModeConf, psk1, vnetA, host2, 0x12345678, ""},
		{ModeConf, psk1, vnetA, host1, 0x12345679, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		k, err := NewKey(tt.vnet, tt.mode, tt.psk)
		if err != nil {
			t.Fatal(err)
		}
		m, err := k.derive(tt.src, tt.spi)
		if err != nil {
			t.Fatal(err)
		}
		got := hexBytes(m.key)
		if tt.want != "" && got != tt.want {
			t.Errorf("derive(%s, %d-byte PSK, vnet %s, %v, %#x) = %s, want %s", tt.mode, len(tt.psk), tt.vnet, tt.src, tt.spi, got, tt.want)
		}
		if seen[got] {
			t.Errorf("derive(%s, %d-byte PSK, vnet %s, %v, %#x) repeats another input's key", tt.mode, len(tt.psk), tt.vnet, tt.src, tt.spi)
		}
		seen[got] = true
		k.Close()
	}
}
