package control

import (
	"net/netip"

	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Dataplane is what the command socket configures and lists. The daemon
// implements it over the AF_XDP dataplane; tests use a fake.
//
// Configuration errors wrap overlay.ErrExists, overlay.ErrNotFound,
// overlay.ErrInvalid or overlay.ErrUnsupported, so that replies can name
// the kind of error.
type Dataplane interface {
	AddVnet(cfg overlay.VnetConfig) error
	DeleteVnet(id wire.VnetID) error
	AddVif(vnet wire.VnetID, mac wire.MAC) error
	DeleteVif(vnet wire.VnetID, mac wire.MAC) error
	AddPeer(addr netip.Addr, port uint16) error
	DeletePeer(addr netip.Addr) error
	// SetGroup changes the multicast group and rejoins it.
	SetGroup(addr netip.Addr) error
	// FlushVarp removes every VARP cache entry that is not probing.
	FlushVarp()
	// SetLimits changes the per-vnet limits on tables and rates.
	SetLimits(l overlay.Limits) error
	// OpenCapture starts copying frames from inside the dataplane.
	OpenCapture(spec overlay.CaptureSpec) (overlay.CaptureStream, error)
	// ESPKeys returns the ESP SAs of a secure vnet as lines of
	// Wireshark's esp_sa file. They contain keys.
	ESPKeys(id wire.VnetID) ([]byte, error)

	Vnets() []overlay.VnetInfo
	Vifs() []overlay.VifInfo
	Varp() overlay.VarpInfo
	Peers() []overlay.PeerInfo
	Stats() []overlay.CounterSet
}
