// Package controltest provides an in-memory control.Dataplane for tests of
// the command socket and of its clients.
package controltest

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnet-xdp/vnet/internal/pcapfile"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Dataplane is a fake control.Dataplane that keeps its tables in memory,
// records each configuration call and wraps the overlay errors as a real
// dataplane would. It is safe for concurrent use.
type Dataplane struct {
	mu            sync.Mutex
	captureFrames [][]byte
	vnets         []overlay.VnetInfo
	keys          map[wire.VnetID][]byte
	vifs          []overlay.VifInfo
	varp          overlay.VarpInfo
	peers         []overlay.PeerInfo
	stats         []overlay.CounterSet
	calls         []string
	// failNext is returned by the next configuration call, if not nil.
	failNext error
	// failAfter is returned by the next configuration call after it made
	// its change, if not nil.
	failAfter error

	// CallDelay makes every configuration call sleep, so that tests can
	// catch overlapping calls.
	CallDelay time.Duration
	// AfterAddVnet and BeforeDeleteVnet, if set, run inside AddVnet and
	// DeleteVnet, for example to create or delete a device the way the
	// daemon does. An error fails the call.
	AfterAddVnet     func(overlay.VnetInfo) error
	BeforeDeleteVnet func(overlay.VnetInfo) error

	inCall   atomic.Int32
	overlaps atomic.Int32
}

// New returns a fake with the physical vnet 1 and the default VARP
// parameters of the original vnetd.
func New() *Dataplane {
	return &Dataplane{
		vnets: []overlay.VnetInfo{{ID: wire.VnetIDPhysical}},
		varp: overlay.VarpInfo{
			Device:        "xen-br0",
			Group:         netip.MustParseAddr("224.10.0.1"),
			Unicast:       netip.IPv4Unspecified(),
			Port:          1798,
			Encapsulation: "etherip_in_udp",
			EntryTTL:      60 * time.Second,
			Limits:        overlay.DefaultLimits,
		},
	}
}

// FailNext makes the next configuration call return err.
func (d *Dataplane) FailNext(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failNext = err
}

// FailNextAfterChange makes the next configuration call make its change
// and then return err, as a dataplane does when a change fails half-way.
func (d *Dataplane) FailNextAfterChange(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failAfter = err
}

// Calls returns the configuration calls made so far, one string each, such
// as "AddVnet 0000:...:1500 vnif1500 none".
func (d *Dataplane) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// Overlaps returns how many configuration calls started while another was
// running.
func (d *Dataplane) Overlaps() int { return int(d.overlaps.Load()) }

// SetVifs replaces the vif table.
func (d *Dataplane) SetVifs(v []overlay.VifInfo) { d.locked(func() { d.vifs = slices.Clone(v) }) }

// SetVarpEntries replaces the VARP cache and keeps the VARP parameters.
func (d *Dataplane) SetVarpEntries(e []overlay.VarpEntry) {
	d.locked(func() { d.varp.Entries = slices.Clone(e) })
}

// SetPeers replaces the peer table.
func (d *Dataplane) SetPeers(p []overlay.PeerInfo) { d.locked(func() { d.peers = slices.Clone(p) }) }

// SetStats replaces the counter sets.
func (d *Dataplane) SetStats(s []overlay.CounterSet) { d.locked(func() { d.stats = slices.Clone(s) }) }

// SetVarp replaces the VARP parameters and cache.
func (d *Dataplane) SetVarp(info overlay.VarpInfo) {
	info.Entries = slices.Clone(info.Entries)
	d.locked(func() { d.varp = info })
}

// SetVnets replaces the vnet table.
func (d *Dataplane) SetVnets(v []overlay.VnetInfo) { d.locked(func() { d.vnets = slices.Clone(v) }) }

func (d *Dataplane) locked(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f()
}

// begin records a configuration call and returns the injected error, if
// any. The caller must call end.
func (d *Dataplane) begin(format string, args ...any) error {
	if d.inCall.Add(1) > 1 {
		d.overlaps.Add(1)
	}
	if d.CallDelay > 0 {
		time.Sleep(d.CallDelay)
	}
	d.mu.Lock()
	d.calls = append(d.calls, fmt.Sprintf(format, args...))
	err := d.failNext
	d.failNext = nil
	return err
}

func (d *Dataplane) end() {
	d.mu.Unlock()
	d.inCall.Add(-1)
}

// changed returns the error that FailNextAfterChange injected, if any,
// for a call that made its change.
func (d *Dataplane) changed() error {
	err := d.failAfter
	d.failAfter = nil
	return err
}

func (d *Dataplane) AddVnet(cfg overlay.VnetConfig) error {
	if cfg.Device == "" {
		cfg.Device = cfg.ID.DefaultDevice()
	}
	err := d.begin("AddVnet %s %s %s", cfg.ID, cfg.Device, cfg.Security)
	defer d.end()
	if err != nil {
		return err
	}
	for _, v := range d.vnets {
		if v.ID == cfg.ID {
			return fmt.Errorf("vnet %s %w", cfg.ID, overlay.ErrExists)
		}
		if v.Device == cfg.Device {
			return fmt.Errorf("device %s of vnet %s %w (choose another vnetif)", cfg.Device, v.ID, overlay.ErrExists)
		}
	}
	info := overlay.VnetInfo{ID: cfg.ID, Device: cfg.Device, Security: cfg.Security, Header: 64, MTU: 1436}
	if d.AfterAddVnet != nil {
		if err := d.AfterAddVnet(info); err != nil {
			return fmt.Errorf("create device %s: %w", info.Device, err)
		}
	}
	d.vnets = append(d.vnets, info)
	if cfg.Key != nil {
		if d.keys == nil {
			d.keys = make(map[wire.VnetID][]byte)
		}
		d.keys[cfg.ID] = slices.Clone(cfg.Key)
	}
	return d.changed()
}

func (d *Dataplane) DeleteVnet(id wire.VnetID) error {
	err := d.begin("DeleteVnet %s", id)
	defer d.end()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.vnets, func(v overlay.VnetInfo) bool { return v.ID == id })
	if i < 0 {
		return fmt.Errorf("vnet %s %w", id, overlay.ErrNotFound)
	}
	if id == wire.VnetIDPhysical {
		return fmt.Errorf("delete vnet %s: the physical vnet cannot be deleted: %w", id, overlay.ErrInvalid)
	}
	if d.BeforeDeleteVnet != nil {
		if err := d.BeforeDeleteVnet(d.vnets[i]); err != nil {
			return fmt.Errorf("delete device %s: %w", d.vnets[i].Device, err)
		}
	}
	d.vnets = slices.Delete(d.vnets, i, i+1)
	delete(d.keys, id)
	d.vifs = slices.DeleteFunc(d.vifs, func(v overlay.VifInfo) bool { return v.Vnet == id })
	return d.changed()
}

func (d *Dataplane) hasVnet(id wire.VnetID) bool {
	return slices.ContainsFunc(d.vnets, func(v overlay.VnetInfo) bool { return v.ID == id })
}

func (d *Dataplane) AddVif(vnet wire.VnetID, mac wire.MAC) error {
	err := d.begin("AddVif %s %s", vnet, mac)
	defer d.end()
	if err != nil {
		return err
	}
	if !d.hasVnet(vnet) {
		return fmt.Errorf("vnet %s %w", vnet, overlay.ErrNotFound)
	}
	for i, v := range d.vifs {
		if v.Vnet == vnet && v.MAC == mac {
			d.vifs[i].Static = true
			d.vifs[i].Age = 0
			return d.changed()
		}
	}
	d.vifs = append(d.vifs, overlay.VifInfo{Vnet: vnet, MAC: mac, Static: true})
	return d.changed()
}

func (d *Dataplane) DeleteVif(vnet wire.VnetID, mac wire.MAC) error {
	err := d.begin("DeleteVif %s %s", vnet, mac)
	defer d.end()
	if err != nil {
		return err
	}
	if !d.hasVnet(vnet) {
		return fmt.Errorf("vnet %s %w", vnet, overlay.ErrNotFound)
	}
	i := slices.IndexFunc(d.vifs, func(v overlay.VifInfo) bool { return v.Vnet == vnet && v.MAC == mac })
	if i < 0 {
		return fmt.Errorf("vif %s in vnet %s %w", mac, vnet, overlay.ErrNotFound)
	}
	d.vifs = slices.Delete(d.vifs, i, i+1)
	return d.changed()
}

func (d *Dataplane) AddPeer(addr netip.Addr, port uint16) error {
	err := d.begin("AddPeer %s %d", addr, port)
	defer d.end()
	if err != nil {
		return err
	}
	// As in the daemon, adding an existing peer changes its port.
	for i := range d.peers {
		if d.peers[i].Addr == addr {
			d.peers[i].Port = port
			return d.changed()
		}
	}
	d.peers = append(d.peers, overlay.PeerInfo{Addr: addr, Port: port})
	return d.changed()
}

func (d *Dataplane) DeletePeer(addr netip.Addr) error {
	err := d.begin("DeletePeer %s", addr)
	defer d.end()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.peers, func(p overlay.PeerInfo) bool { return p.Addr == addr })
	if i < 0 {
		return fmt.Errorf("peer %s %w", addr, overlay.ErrNotFound)
	}
	d.peers = slices.Delete(d.peers, i, i+1)
	return d.changed()
}

func (d *Dataplane) SetGroup(addr netip.Addr) error {
	err := d.begin("SetGroup %s", addr)
	defer d.end()
	if err != nil {
		return err
	}
	d.varp.Group = addr
	return d.changed()
}

func (d *Dataplane) SetLimits(l overlay.Limits) error {
	err := d.begin("SetLimits %+v", l)
	defer d.end()
	if err != nil {
		return err
	}
	if err := l.Validate(); err != nil {
		return err
	}
	d.varp.Limits = l
	return d.changed()
}

// OpenCapture returns a capture that writes a pcap file of the frames
// set with SetCaptureFrames.
func (d *Dataplane) OpenCapture(spec overlay.CaptureSpec) (overlay.CaptureStream, error) {
	err := d.begin("OpenCapture %+v", spec)
	defer d.end()
	if err != nil {
		return nil, err
	}
	if (spec.Vnet == wire.VnetIDZero) == (spec.Interface == "") {
		return nil, fmt.Errorf("capture: give a vnet or an interface: %w", overlay.ErrInvalid)
	}
	return &capture{frames: slices.Clone(d.captureFrames), count: spec.Count}, nil
}

// Key returns the key vnet id was added with, or nil.
func (d *Dataplane) Key(id wire.VnetID) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.keys[id])
}

// ESPKeys returns one made-up esp_sa line for a secure vnet.
func (d *Dataplane) ESPKeys(id wire.VnetID) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.vnets {
		if v.ID == id {
			if v.Security == overlay.SecurityNone {
				return nil, fmt.Errorf("vnet %s has security none and no keys: %w", id, overlay.ErrInvalid)
			}
			return []byte(`"IPv4","198.18.0.1","*","0x12345678","AES-GCM with 16 octet ICV [RFC4106]","0x00","NULL",""` + "\n"), nil
		}
	}
	return nil, fmt.Errorf("vnet %s: %w", id, overlay.ErrNotFound)
}

// SetCaptureFrames sets the frames that captures return.
func (d *Dataplane) SetCaptureFrames(frames [][]byte) {
	d.locked(func() { d.captureFrames = slices.Clone(frames) })
}

type capture struct {
	frames [][]byte
	count  int
}

func (c *capture) WritePcap(ctx context.Context, w io.Writer) error {
	pw, err := pcapfile.NewWriter(w, 1, 65535)
	if err != nil {
		return err
	}
	for i, f := range c.frames {
		if c.count > 0 && i >= c.count {
			break
		}
		if err := pw.Write(time.Unix(1700000000, int64(i)*1000), f, len(f)); err != nil {
			return err
		}
	}
	return nil
}

func (c *capture) Close() error { return nil }

func (d *Dataplane) FlushVarp() {
	d.begin("FlushVarp")
	defer d.end()
	d.varp.Entries = slices.DeleteFunc(d.varp.Entries, func(e overlay.VarpEntry) bool { return !e.Probing })
}

func (d *Dataplane) Vnets() []overlay.VnetInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.vnets)
}

func (d *Dataplane) Vifs() []overlay.VifInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.vifs)
}

func (d *Dataplane) Varp() overlay.VarpInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	info := d.varp
	info.Entries = slices.Clone(info.Entries)
	return info
}

func (d *Dataplane) Peers() []overlay.PeerInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.peers)
}

func (d *Dataplane) Stats() []overlay.CounterSet {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.stats)
}
