// Package esp protects the traffic of secure vnets with ESP (RFC 4303) in
// transport mode over the outer IPv4 header, where the original Xen vnet
// placed it. A packet is IPv4 with protocol 50, the ESP header, the UDP
// header, the vnet message header, the EtherIP header and the inner frame,
// then the ESP trailer and ICV.
//
//   - security auth uses HMAC-SHA-256-128 (RFC 4868) with NULL encryption:
//     every packet is authenticated and stays readable.
//   - security conf uses AES-GCM with a 16-byte ICV and an 8-byte explicit
//     IV (RFC 4106): every packet is authenticated and encrypted.
//
// Each vnet has a pre-shared key. The key of every SA is derived from it
// with HKDF-SHA-256 (RFC 5869), binding the mode, the vnet id, the
// sender's underlay IPv4 address and the SPI. Every sending thread has its
// own SA with a random SPI, so threads share no counter, and receivers
// look SAs up by SPI and outer source address, as group SAs with several
// senders need (RFC 5374, RFC 6054). A receiver creates an SA on the first
// packet that a vnet key authenticates, and keeps a 1984-packet replay
// window per SA (RFC 6479). Sequence numbers are 32 bits without ESN: a
// sender moves to a new SA before its counter reaches 2^32. A restarted
// daemon draws new SPIs and so new keys, which receivers accept at once,
// while the SAs of its previous run keep rejecting replays.
// docs/security.md gives the reasons, the collision analysis and the
// measurements.
//
// The data path calls three things, none of which allocates for packets
// of known SAs:
//
//	// Per vnet, when it is added: the key, registered for receiving.
//	k, err := esp.NewKey(id, esp.ModeConf, psk)
//	err = sad.Add(k)
//	// Per vnet, worker and underlay address: a Sender.
//	s, err := k.NewSender(underlayAddr)
//	// Per worker: an Opener, ticked from the worker's Tick.
//	o := sad.NewOpener()
//
//	// Sending: the Ethernet and IPv4 headers sit Mode.HeaderLen() bytes
//	// before the UDP header, and Mode.SealedLen bytes of room follow.
//	n, err := s.Seal(frame[14:])
//
//	// Receiving an IPv4 packet with protocol 50:
//	res := o.Open(frame[14:])
//	// res.Reason, or the payload at frame[14+res.Offset:][:res.Length],
//	// whose EtherIP or VARP vnet must equal res.Vnet.
//
// Deleting a vnet: sad.Remove(k), wait until no worker is inside a batch
// that started before, then k.Close(), which zeroes the key and every SA
// derived from it.
package esp
