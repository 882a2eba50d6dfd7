// Package xdpprog builds, loads and attaches the XDP program that steers
// frames into the dataplane's AF_XDP sockets.
//
// One program serves every interface of the dataplane. It looks up the
// receiving interface in the "ports" hash map and redirects the frame through
// the "xsks" XSKMAP to the socket bound to the receiving queue, whose slot is
// Port.Base plus the queue index. Interfaces of kind KindDevice have every
// frame steered. Interfaces of kind KindUnderlay have only vnet traffic
// steered: UDP to Port.UDPPort, and optionally EtherIP (IP protocol 97),
// ESP (IP protocol 50) and IPv4 fragments. Everything else goes to the
// kernel stack with XDP_PASS, so ARP, IGMP and the host's own traffic keep
// working. A redirect to an empty XSKMAP slot also falls back to XDP_PASS.
//
// The program is assembled at run time with github.com/cilium/ebpf/asm, so
// building the dataplane needs no C toolchain. Loading it needs CAP_BPF
// and CAP_NET_ADMIN (or root). The package does not raise RLIMIT_MEMLOCK:
// kernels since 5.11 charge BPF maps to the memory cgroup instead. On older
// kernels the caller must call rlimit.RemoveMemlock first.
package xdpprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Kind is the kind of interface a port entry describes.
type Kind uint32

const (
	// KindUnderlay is a host NIC: only vnet traffic is steered.
	KindUnderlay Kind = 1
	// KindDevice is the dataplane end of a vnet device's veth pair: every
	// frame is steered.
	KindDevice Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindUnderlay:
		return "underlay"
	case KindDevice:
		return "device"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// Flags of an underlay port. They select which encapsulations besides UDP
// the program steers.
const (
	// FlagEtherIP steers IPv4 protocol 97 (raw EtherIP).
	FlagEtherIP uint32 = 1 << 0
	// FlagESP steers IPv4 protocol 50 (ESP). Leave it unset while the
	// dataplane runs no secure vnet, so that the host's own IPsec keeps
	// working.
	FlagESP uint32 = 1 << 1
	// FlagFragments steers IPv4 fragments of datagrams to the UDP port,
	// and fragments of EtherIP or ESP when their flag is also set. Only a
	// first fragment names the port: the program records its source,
	// destination and IPv4 identification in an LRU map and steers the
	// later fragments that match, so the host's other fragmented UDP
	// stays with the kernel. A later fragment that arrives before the
	// first goes to the kernel. The dataplane must reassemble what it
	// receives.
	FlagFragments uint32 = 1 << 2

	knownFlags = FlagEtherIP | FlagESP | FlagFragments
)

// Option defaults.
const (
	DefaultMaxSockets = 1024
	DefaultMaxPorts   = 256
)

// Options configure Load.
type Options struct {
	// MaxSockets is the number of XSKMAP slots. Zero selects
	// DefaultMaxSockets.
	MaxSockets int
	// MaxPorts is the number of interfaces the program can serve. Zero
	// selects DefaultMaxPorts.
	MaxPorts int
	// Frags loads the program with BPF_F_XDP_HAS_FRAGS, so that it can be
	// attached in native mode to interfaces whose frames may span several
	// buffers (jumbo MTUs, or a veth whose peer MTU is above 3506). The
	// program inspects only the first buffer, which contains all the
	// headers it reads.
	Frags bool
}

// Port is the steering configuration of one interface.
type Port struct {
	Kind Kind
	// Base is the XSKMAP slot of queue 0. Queue q uses slot Base+q.
	Base uint32
	// Queues is the number of receive queues with a socket. Frames on
	// queue Queues or above are passed to the kernel.
	Queues uint32
	// Flags is a set of Flag* values. It applies to underlay ports only.
	Flags uint32
	// UDPPort is the UDP destination port that carries vnet traffic
	// (1798 for vnet). It applies to underlay ports only and must not be 0.
	UDPPort uint16
}

// Counters are the counts of the program's decisions, summed over all
// CPUs. Each run of the program increments either Steered, or Passed and
// exactly one of the other fields, which gives the reason it was passed.
type Counters struct {
	Passed  uint64 // frames returned with XDP_PASS
	Steered uint64 // frames handed to bpf_redirect_map

	NoPort          uint64 // the receiving interface has no port entry
	QueueOutOfRange uint64 // the receiving queue is not below Port.Queues

	// Reasons that apply to underlay ports only.
	NotIPv4   uint64 // Ethernet type is not IPv4 (ARP, IPv6, VLAN tags)
	NotVnet   uint64 // IPv4 that carries no vnet traffic
	Fragment  uint64 // IPv4 fragment passed because FlagFragments is unset
	ESP       uint64 // ESP passed because FlagESP is unset
	EtherIP   uint64 // EtherIP passed because FlagEtherIP is unset
	Truncated uint64 // frame shorter than the headers the program reads
	Malformed uint64 // IPv4 header with a version other than 4 or IHL below 5
}

// Program is the loaded XDP program with its maps.
type Program struct {
	mu          sync.Mutex
	closed      bool
	prog        *ebpf.Program
	ports       *ebpf.Map
	xsks        *ebpf.Map
	counters    *ebpf.Map
	frags       *ebpf.Map
	maxSockets  uint32
	attachments map[*Attachment]struct{}
}

// Load creates the maps and loads the program into the kernel.
func Load(opts Options) (*Program, error) {
	if opts.MaxSockets == 0 {
		opts.MaxSockets = DefaultMaxSockets
	}
	if opts.MaxPorts == 0 {
		opts.MaxPorts = DefaultMaxPorts
	}
	if opts.MaxSockets < 0 || opts.MaxSockets > maxMapEntries {
		return nil, fmt.Errorf("load xdp program: invalid MaxSockets %d (use 1 to %d)", opts.MaxSockets, maxMapEntries)
	}
	if opts.MaxPorts < 0 || opts.MaxPorts > maxMapEntries {
		return nil, fmt.Errorf("load xdp program: invalid MaxPorts %d (use 1 to %d)", opts.MaxPorts, maxMapEntries)
	}

	p := &Program{
		maxSockets:  uint32(opts.MaxSockets),
		attachments: make(map[*Attachment]struct{}),
	}
	if err := p.load(opts); err != nil {
		p.closeAll()
		return nil, err
	}
	return p, nil
}

// maxMapEntries bounds the map sizes a caller may request. The kernel
// accepts more, but a larger request is almost certainly a mistake.
const maxMapEntries = 1 << 20

func (p *Program) load(opts Options) error {
	var err error
	p.ports, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "ports",
		Type:       ebpf.Hash,
		KeySize:    4,
		ValueSize:  portValueSize,
		MaxEntries: uint32(opts.MaxPorts),
	})
	if err != nil {
		return fmt.Errorf("create map ports: %w%s", err, permissionHint(err))
	}
	p.xsks, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(opts.MaxSockets),
	})
	if err != nil {
		return fmt.Errorf("create map xsks: %w%s", err, permissionHint(err))
	}
	p.counters, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "counters",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: counterCount,
	})
	if err != nil {
		return fmt.Errorf("create map counters: %w%s", err, permissionHint(err))
	}

	p.frags, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "frags",
		Type:       ebpf.LRUHash,
		KeySize:    fragKeySize,
		ValueSize:  4,
		MaxEntries: fragMapEntries,
	})
	if err != nil {
		return fmt.Errorf("create map frags: %w%s", err, permissionHint(err))
	}

	spec := &ebpf.ProgramSpec{
		Name:         programName,
		Type:         ebpf.XDP,
		Instructions: instructions(p.ports.FD(), p.xsks.FD(), p.counters.FD(), p.frags.FD()),
		License:      license,
	}
	if opts.Frags {
		spec.Flags = unix.BPF_F_XDP_HAS_FRAGS
	}
	p.prog, err = ebpf.NewProgram(spec)
	if err != nil {
		return fmt.Errorf("load xdp program %s: %w%s", programName, err, permissionHint(err))
	}
	return nil
}

func permissionHint(err error) string {
	if errors.Is(err, unix.EPERM) {
		return " (run as root or with CAP_BPF and CAP_NET_ADMIN)"
	}
	return ""
}

// SetPort adds or replaces the steering entry of interface ifindex.
func (p *Program) SetPort(ifindex int, port Port) error {
	if err := validatePort(ifindex, port, p.maxSockets); err != nil {
		return err
	}
	value := marshalPort(port)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("set port for ifindex %d: %w", ifindex, ErrClosed)
	}
	if err := p.ports.Put(uint32(ifindex), value[:]); err != nil {
		return fmt.Errorf("set port for ifindex %d: %w", ifindex, err)
	}
	return nil
}

// DeletePort removes the steering entry of interface ifindex, so that the
// program passes all its frames to the kernel. Deleting an entry that does
// not exist is not an error.
func (p *Program) DeletePort(ifindex int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("delete port for ifindex %d: %w", ifindex, ErrClosed)
	}
	err := p.ports.Delete(uint32(ifindex))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete port for ifindex %d: %w", ifindex, err)
	}
	return nil
}

// SetSocket puts the AF_XDP socket fd into XSKMAP slot slot. Bind the
// socket to its interface and queue first: the kernel accepts an unbound
// socket here but drops the frames redirected to it.
func (p *Program) SetSocket(slot uint32, fd int) error {
	if slot >= p.maxSockets {
		return fmt.Errorf("set socket in slot %d: slot out of range (the map has %d slots, raise Options.MaxSockets)", slot, p.maxSockets)
	}
	if fd < 0 {
		return fmt.Errorf("set socket in slot %d: invalid fd %d", slot, fd)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("set socket in slot %d: %w", slot, ErrClosed)
	}
	if err := p.xsks.Put(slot, uint32(fd)); err != nil {
		return fmt.Errorf("set socket in slot %d: %w%s", slot, err, socketHint(err))
	}
	return nil
}

func socketHint(err error) string {
	switch {
	case errors.Is(err, unix.ENOTSOCK):
		return " (the fd is not a socket)"
	case errors.Is(err, unix.EOPNOTSUPP):
		return " (the fd is not an AF_XDP socket)"
	}
	return ""
}

// DeleteSocket empties XSKMAP slot slot. Emptying an empty slot is not an
// error.
func (p *Program) DeleteSocket(slot uint32) error {
	if slot >= p.maxSockets {
		return fmt.Errorf("delete socket in slot %d: slot out of range (the map has %d slots)", slot, p.maxSockets)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("delete socket in slot %d: %w", slot, ErrClosed)
	}
	err := p.xsks.Delete(slot)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete socket in slot %d: %w", slot, err)
	}
	return nil
}

// Counters reads the decision counters and sums them over all CPUs.
func (p *Program) Counters() (Counters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Counters{}, fmt.Errorf("read xdp counters: %w", ErrClosed)
	}

	var sums [counterCount]uint64
	var perCPU []uint64
	for i := range sums {
		if err := p.counters.Lookup(uint32(i), &perCPU); err != nil {
			return Counters{}, fmt.Errorf("read xdp counter %d: %w", i, err)
		}
		for _, v := range perCPU {
			sums[i] += v
		}
	}
	return countersFromSums(sums), nil
}

func countersFromSums(s [counterCount]uint64) Counters {
	return Counters{
		Passed:          s[counterPassed],
		Steered:         s[counterSteered],
		NoPort:          s[counterNoPort],
		QueueOutOfRange: s[counterQueueOutOfRange],
		NotIPv4:         s[counterNotIPv4],
		NotVnet:         s[counterNotVnet],
		Fragment:        s[counterFragment],
		ESP:             s[counterESP],
		EtherIP:         s[counterEtherIP],
		Truncated:       s[counterTruncated],
		Malformed:       s[counterMalformed],
	}
}

// ErrClosed is wrapped by the errors of methods called after Close.
var ErrClosed = errors.New("xdp program closed")

// Close detaches every attachment that is still open, then closes the
// program and its maps. It is safe to call more than once.
func (p *Program) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	attachments := make([]*Attachment, 0, len(p.attachments))
	for a := range p.attachments {
		attachments = append(attachments, a)
	}
	p.mu.Unlock()

	var errs []error
	for _, a := range attachments {
		errs = append(errs, a.Close())
	}
	errs = append(errs, p.closeAll())
	return errors.Join(errs...)
}

// closeAll closes the program and maps in the reverse order of creation.
func (p *Program) closeAll() error {
	var errs []error
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
	}
	for _, m := range []*ebpf.Map{p.frags, p.counters, p.xsks, p.ports} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close xdp program: %w", err)
	}
	return nil
}

func validatePort(ifindex int, port Port, maxSockets uint32) error {
	if ifindex <= 0 {
		return fmt.Errorf("set port for ifindex %d: invalid ifindex", ifindex)
	}
	switch port.Kind {
	case KindUnderlay:
		if port.UDPPort == 0 {
			return fmt.Errorf("set port for ifindex %d: missing UDP port (set Port.UDPPort, 1798 for vnet)", ifindex)
		}
		if port.Flags&^knownFlags != 0 {
			return fmt.Errorf("set port for ifindex %d: invalid flags %#x (use FlagEtherIP, FlagESP and FlagFragments)", ifindex, port.Flags&^knownFlags)
		}
	case KindDevice:
		if port.Flags != 0 || port.UDPPort != 0 {
			return fmt.Errorf("set port for ifindex %d: flags and UDP port apply to underlay ports only (leave them zero for KindDevice)", ifindex)
		}
	default:
		return fmt.Errorf("set port for ifindex %d: invalid kind %d (use KindUnderlay or KindDevice)", ifindex, uint32(port.Kind))
	}
	if port.Queues == 0 {
		return fmt.Errorf("set port for ifindex %d: invalid Queues 0 (set at least 1)", ifindex)
	}
	if uint64(port.Base)+uint64(port.Queues) > uint64(maxSockets) {
		return fmt.Errorf("set port for ifindex %d: slots %d to %d out of range (the map has %d slots, raise Options.MaxSockets)",
			ifindex, port.Base, uint64(port.Base)+uint64(port.Queues)-1, maxSockets)
	}
	return nil
}

// marshalPort encodes a port entry in the layout the program reads (see
// the portOff* constants). UDPPort is stored in network byte order, so that
// the program compares it with the packet's bytes without a byte swap. The
// other fields are in host byte order.
func marshalPort(port Port) [portValueSize]byte {
	var v [portValueSize]byte
	binary.NativeEndian.PutUint32(v[portOffBase:], port.Base)
	binary.NativeEndian.PutUint32(v[portOffQueues:], port.Queues)
	binary.NativeEndian.PutUint32(v[portOffKind:], uint32(port.Kind))
	binary.NativeEndian.PutUint32(v[portOffFlags:], port.Flags)
	binary.BigEndian.PutUint16(v[portOffUDPPort:], port.UDPPort)
	return v
}
