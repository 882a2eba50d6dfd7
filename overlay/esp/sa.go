package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
)

// saID names an SA as receivers look it up: the SPI and the outer IPv4
// source address of its sender. Many hosts send to one multicast group
// and draw their SPIs independently, so the SPI alone does not name an SA.
type saID struct {
	spi uint32
	src [4]byte
}

// saMaterial is the keying material and cipher state of one SA. After
// newSAMaterial it is read-only until zero, so any number of goroutines
// may use it, each with its own cryptoState.
type saMaterial struct {
	mode Mode
	id   saID
	// key is the derived keying material as tshark takes it: the AES key
	// and the 4-byte salt for ModeConf, the HMAC key for ModeAuth.
	key  []byte
	aead cipher.AEAD
	salt [saltLen]byte
	mac  *hmacKey
}

func newSAMaterial(mode Mode, spi uint32, src [4]byte, key []byte) (*saMaterial, error) {
	m := &saMaterial{mode: mode, id: saID{spi: spi, src: src}, key: key}
	if mode == ModeAuth {
		m.mac = newHMACKey(key)
		return m, nil
	}
	aesKey := key[:len(key)-saltLen]
	copy(m.salt[:], key[len(aesKey):])
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, fmt.Errorf("create AES cipher: %w", err)
	}
	m.aead, err = cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create AES-GCM: %w", err)
	}
	return m, nil
}

// zero overwrites the keying material. The AES key schedule inside the
// cipher.AEAD is out of reach, so the reference to it is dropped instead.
func (m *saMaterial) zero() {
	clear(m.key)
	clear(m.salt[:])
	if m.mac != nil {
		m.mac.zero()
	}
	m.aead = nil
}

// cryptoState is the scratch space of one goroutine for seal and open.
type cryptoState struct {
	nonce [saltLen + IVLen]byte
	hmac  *hmacState
}

func newCryptoState() cryptoState {
	return cryptoState{hmac: newHMACState()}
}

// reset clears what the last packet left in the scratch space.
func (st *cryptoState) reset() {
	clear(st.nonce[:])
	st.hmac.reset()
}

// seal turns esp, which holds the payload of n bytes after m's header
// length, into a protected ESP packet. It writes the header, the padding,
// the pad length, next and the ICV, and encrypts for ModeConf. It returns
// the ESP length, m.mode.SealedLen(n), which must be len(esp).
func (m *saMaterial) seal(esp []byte, n int, seq uint32, iv uint64, next uint8, st *cryptoState) int {
	h := m.mode.HeaderLen()
	pad := padLen(n)
	end := h + n + pad + 2
	binary.BigEndian.PutUint32(esp[0:4], m.id.spi)
	binary.BigEndian.PutUint32(esp[4:8], seq)
	for i := 1; i <= pad; i++ {
		esp[h+n+i-1] = byte(i)
	}
	esp[end-2] = byte(pad)
	esp[end-1] = next

	if m.mode == ModeConf {
		binary.BigEndian.PutUint64(esp[8:16], iv)
		copy(st.nonce[:saltLen], m.salt[:])
		copy(st.nonce[saltLen:], esp[8:16])
		// The AAD is the SPI and the 32-bit sequence number (RFC 4106
		// section 5). Sealing into plaintext[:0] encrypts in place and
		// appends the tag.
		body := esp[h:end]
		m.aead.Seal(body[:0], st.nonce[:], body, esp[0:8])
		return end + ICVLen
	}
	icv := st.hmac.sum256(m.mac, esp[:end])
	copy(esp[end:end+ICVLen], icv[:ICVLen])
	return end + ICVLen
}

// checkLen returns why an ESP part of n bytes cannot be a packet of m,
// or ReasonNone.
func (m Mode) checkLen(n int) Reason {
	// The encrypted or authenticated body holds at least the pad length
	// and next header bytes, rounded up to 4.
	if n < m.HeaderLen()+4+ICVLen {
		return ReasonTruncated
	}
	if (n-m.HeaderLen()-ICVLen)%4 != 0 {
		return ReasonMalformed
	}
	return ReasonNone
}

// open verifies esp, a whole ESP part of m, and for ModeConf decrypts it
// in place. It returns the payload length and the next header: the
// payload starts at m.mode.HeaderLen(). When the ICV fails, the body of a
// ModeConf packet is left zeroed, as crypto/cipher does.
func (m *saMaterial) open(esp []byte, st *cryptoState) (int, uint8, Reason) {
	if r := m.mode.checkLen(len(esp)); r != ReasonNone {
		return 0, 0, r
	}
	h := m.mode.HeaderLen()
	var body []byte
	if m.mode == ModeConf {
		copy(st.nonce[:saltLen], m.salt[:])
		copy(st.nonce[saltLen:], esp[8:16])
		ct := esp[h:]
		pt, err := m.aead.Open(ct[:0], st.nonce[:], ct, esp[0:8])
		if err != nil {
			return 0, 0, ReasonAuth
		}
		body = pt
	} else {
		end := len(esp) - ICVLen
		icv := st.hmac.sum256(m.mac, esp[:end])
		if !hmac.Equal(icv[:ICVLen], esp[end:]) {
			return 0, 0, ReasonAuth
		}
		body = esp[h:end]
	}
	return parseTrailer(body)
}

// parseTrailer returns the payload length and next header of a
// decrypted body: payload, padding, pad length and next header.
func parseTrailer(body []byte) (int, uint8, Reason) {
	pad := int(body[len(body)-2])
	next := body[len(body)-1]
	n := len(body) - 2 - pad
	if n < 0 {
		return 0, 0, ReasonPadding
	}
	for i := 0; i < pad; i++ {
		if body[n+i] != byte(i+1) {
			return 0, 0, ReasonPadding
		}
	}
	return n, next, ReasonNone
}
