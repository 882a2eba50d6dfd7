package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Errors that the dataplane's configuration methods wrap, so that the
// command socket can report them by kind.
var (
	ErrExists      = errors.New("already exists")
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid argument")
	ErrUnsupported = errors.New("not supported")
)

// Security is the protection a vnet requires. The values are the
// original's (none 0, auth 1, conf 2).
type Security uint8

const (
	SecurityNone Security = 0
	SecurityAuth Security = 1
	SecurityConf Security = 2
)

// ParseSecurity parses "none", "auth" or "conf".
func ParseSecurity(s string) (Security, error) {
	switch s {
	case "none":
		return SecurityNone, nil
	case "auth":
		return SecurityAuth, nil
	case "conf":
		return SecurityConf, nil
	}
	return 0, fmt.Errorf("invalid security level %q (use none, auth or conf)", s)
}

func (s Security) String() string {
	switch s {
	case SecurityNone:
		return "none"
	case SecurityAuth:
		return "auth"
	case SecurityConf:
		return "conf"
	}
	return fmt.Sprintf("security(%d)", uint8(s))
}

// VnetConfig is what vnet.add configures.
type VnetConfig struct {
	ID wire.VnetID
	// Device is the name of the user-facing device; empty selects
	// ID.DefaultDevice().
	Device   string
	Security Security
	// Key is the pre-shared key of a vnet with security auth or conf, 16
	// or 32 bytes. AddVnet keeps only keys derived from it; the caller
	// zeroes its copy.
	Key []byte
}

// VnetInfo describes a configured vnet.
type VnetInfo struct {
	ID       wire.VnetID
	Device   string
	Security Security
	// Header is the most bytes that encapsulation adds to a frame: 64 for
	// EtherIP in UDP, 29 or 37 more for ESP with auth or conf (a bound:
	// the ESP padding varies), and 0 for the physical vnet.
	Header int
	// MTU is the MTU of the user-facing device.
	MTU int
}

// VifInfo describes a local MAC address that VARP answers for.
type VifInfo struct {
	Vnet wire.VnetID
	MAC  wire.MAC
	// Age is the time since the MAC was last seen or added.
	Age time.Duration
	// Static is set for entries added with vif.add.
	Static bool
}

// VarpState is the state of a VARP cache entry, numbered as in the original.
type VarpState uint8

const (
	VarpIncomplete VarpState = 1
	VarpReachable  VarpState = 2
	VarpFailed     VarpState = 3
)

func (s VarpState) String() string {
	switch s {
	case VarpIncomplete:
		return "incomplete"
	case VarpReachable:
		return "reachable"
	case VarpFailed:
		return "failed"
	}
	return "unknown"
}

// VarpEntry is one (vnet, MAC) to underlay address mapping.
type VarpEntry struct {
	Vnet  wire.VnetID
	MAC   wire.MAC
	Addr  netip.Addr
	State VarpState
	// Probing is set while resolution requests are outstanding.
	Probing bool
	// Queue is the number of frames waiting for resolution.
	Queue int
	// Age is the time since the entry was last confirmed.
	Age time.Duration
	Ref int
}

// Limits bound the state and the flooding of each vnet.
type Limits struct {
	// MaxVarpEntries is the maximum number of VARP cache entries per
	// vnet; the least recently confirmed entry is evicted for a new one.
	MaxVarpEntries int
	// MaxVifs is the maximum number of local MAC addresses per vnet.
	MaxVifs int
	// LearnRate is the maximum number of new or changed VARP entries per
	// second per vnet; 0 means no limit.
	LearnRate int
	// FloodRate is the maximum number of frames per second per vnet sent
	// to the group (broadcast, multicast and unknown unicast); 0 means no
	// limit.
	FloodRate int
}

// DefaultLimits are the limits of a new engine.
var DefaultLimits = Limits{MaxVarpEntries: 8192, MaxVifs: 1024, LearnRate: 2000, FloodRate: 20000}

// Validate checks that the limits are usable.
func (l Limits) Validate() error {
	switch {
	case l.MaxVarpEntries < 1 || l.MaxVarpEntries > 1<<20:
		return fmt.Errorf("invalid VARP entry limit %d: %w (use 1 to %d)", l.MaxVarpEntries, ErrInvalid, 1<<20)
	case l.MaxVifs < 1 || l.MaxVifs > 1<<20:
		return fmt.Errorf("invalid vif limit %d: %w (use 1 to %d)", l.MaxVifs, ErrInvalid, 1<<20)
	case l.LearnRate < 0:
		return fmt.Errorf("invalid learning rate %d: %w (use 0 for no limit, or entries per second)", l.LearnRate, ErrInvalid)
	case l.FloodRate < 0:
		return fmt.Errorf("invalid flood rate %d: %w (use 0 for no limit, or frames per second)", l.FloodRate, ErrInvalid)
	}
	return nil
}

// VarpInfo contains the VARP parameters and the cache.
type VarpInfo struct {
	// Device is the underlay interface, or the interfaces joined by
	// commas.
	Device        string
	Group         netip.Addr
	Unicast       netip.Addr
	Port          uint16
	Encapsulation string
	EntryTTL      time.Duration
	Limits        Limits
	// Resolve is true when unknown unicast frames wait for a VARP reply,
	// false when they are flooded as the original did.
	Resolve bool
	Entries []VarpEntry
}

// PeerInfo describes a unicast peer that extends the multicast group.
type PeerInfo struct {
	Addr      netip.Addr
	Port      uint16
	TxPackets uint64
	RxPackets uint64
}

// CounterSet is a named group of counters, such as one port's or one
// vnet's.
type CounterSet struct {
	Scope    string
	Counters []Counter
}

// Counter is one named counter value.
type Counter struct {
	Name  string
	Value uint64
}
