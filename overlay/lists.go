package overlay

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// Vnets lists the configured vnets, with the physical vnet (id 1) first
// as the original lists it.
func (e *Engine) Vnets() []VnetInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []VnetInfo{{ID: wire.VnetIDPhysical, Security: SecurityNone}}
	for _, vs := range e.vnets {
		vn := vs.vn
		header := wire.EncapLen
		if vn.mode != 0 {
			header += vn.mode.Overhead()
		}
		out = append(out, VnetInfo{ID: vn.id, Device: vn.device, Security: vn.security, Header: header, MTU: vn.mtu})
	}
	slices.SortFunc(out[1:], func(a, b VnetInfo) int { return strings.Compare(string(a.ID[:]), string(b.ID[:])) })
	return out
}

func (e *Engine) age(seen uint32) time.Duration {
	now := e.clock(timeNow())
	if now < seen {
		return 0
	}
	return time.Duration(now-seen) * time.Second
}

// Vifs lists the local MAC addresses for which this host replies to
// VARP requests.
func (e *Engine) Vifs() []VifInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []VifInfo
	for id, vs := range e.vnets {
		for _, te := range vs.vn.vifs.entries() {
			out = append(out, VifInfo{Vnet: id, MAC: te.key.mac(), Age: e.age(te.seen), Static: te.value.flags()&flagStatic != 0})
		}
	}
	return out
}

// Varp returns the VARP parameters and cache entries.
func (e *Engine) Varp() VarpInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.cfg.Load()
	var names []string
	for _, us := range e.underlay {
		names = append(names, us.port.name)
	}
	info := VarpInfo{
		Device:        strings.Join(names, ","),
		Group:         netip.AddrFrom4(cfg.group),
		Port:          wire.Port,
		Encapsulation: "etherip_in_udp",
		EntryTTL:      e.conf.EntryTTL,
		Limits:        e.limits,
		Resolve:       cfg.resolve,
	}
	if len(e.underlay) > 0 {
		info.Unicast = netip.AddrFrom4(e.underlay[0].port.addr)
	}
	for id, vs := range e.vnets {
		queued := e.queuedByVnet(vs.vn)
		for _, te := range vs.vn.varp.entries() {
			info.Entries = append(info.Entries, VarpEntry{
				Vnet:    id,
				MAC:     te.key.mac(),
				Addr:    netip.AddrFrom4(te.value.addr()),
				State:   VarpState(te.value.state()),
				Probing: te.value.flags()&flagProbing != 0,
				Queue:   queued[te.key],
				Age:     e.age(te.seen),
				Ref:     1,
			})
		}
	}
	return info
}

// ESPKeys returns the current SAs of a secure vnet, its own senders' and
// those it received from, in the format of Wireshark's esp_sa file. The
// lines contain keys: show them only to the administrator.
func (e *Engine) ESPKeys(id wire.VnetID) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	vs, ok := e.vnets[id]
	if !ok {
		return nil, fmt.Errorf("vnet %s: %w", id, ErrNotFound)
	}
	if vs.vn.key == nil {
		return nil, fmt.Errorf("vnet %s has security none and no keys: %w", id, ErrInvalid)
	}
	return esp.AppendESPSA(nil, vs.vn.key, e.sad), nil
}

// Peers lists the peers.
func (e *Engine) Peers() []PeerInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []PeerInfo
	for _, p := range e.peers {
		out = append(out, PeerInfo{Addr: netip.AddrFrom4(p.addr), Port: p.port, TxPackets: p.tx.Load(), RxPackets: p.rx.Load()})
	}
	return out
}

// Stats returns the counters of the workers, ports, XDP program and
// vnets. Counters of several workers are summed where they describe one
// thing.
func (e *Engine) Stats() []CounterSet {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []CounterSet

	var dp workerStats
	for _, ew := range e.workers {
		dp.addFrom(ew.pipe.stats)
	}
	set := CounterSet{Scope: "dataplane"}
	var total uint64
	for i := range dp.drops {
		total += dp.drops[i].load()
	}
	set.add("dropped", total)
	for i := range dp.drops {
		set.add("drop_"+dropReason(i).String(), dp.drops[i].load())
	}
	for i := 1; i < len(dp.malformed); i++ {
		if name := wire.Reason(i).String(); name != "reason_unknown" {
			set.add("malformed_"+name, dp.malformed[i].load())
		}
	}
	set.add("varp_requests_in", dp.varpRequestsIn.load())
	set.add("varp_announces_in", dp.varpAnnouncesIn.load())
	set.add("varp_requests_out", dp.varpRequestsOut.load())
	set.add("varp_announces_out", dp.varpAnnouncesOut.load())
	set.add("varp_replies_out", dp.varpRepliesOut.load())
	set.add("forwarded_in", dp.forwardedIn.load())
	set.add("forwarded_out", dp.forwardedOut.load())
	set.add("resent_to_group", dp.resent.load())
	set.add("reassembled", dp.reassembled.load())
	set.add("reassembly_failed", dp.reassemblyFailed.load())
	set.add("fragments_out", dp.fragmentsOut.load())
	set.add("resolve_requests", dp.resolveRequests.load())
	set.add("esp_opened", dp.esp[esp.ReasonNone].load())
	for r := esp.Reason(1); r < esp.NumReasons; r++ {
		set.add("esp_rejected_"+r.String(), dp.esp[r].load())
	}
	var varpEntries, vifEntries, evicted uint64
	for _, vs := range e.vnets {
		varpEntries += uint64(vs.vn.varp.count())
		vifEntries += uint64(vs.vn.vifs.count())
		evicted += vs.vn.varp.evicted.Load() + vs.vn.vifs.evicted.Load()
	}
	set.add("varp_entries", varpEntries)
	set.add("vif_entries", vifEntries)
	set.add("table_evictions", evicted)
	set.add("next_hops", uint64(len(e.cfg.Load().nextHops)))
	out = append(out, set)

	for _, us := range e.underlay {
		set := CounterSet{Scope: "underlay " + us.port.name}
		set.add("present", boolCounter(!us.gone))
		set.add("up", boolCounter(us.operUp))
		set.add("down_events", us.downEvents.Load())
		set.add("deleted_events", us.goneEvents.Load())
		out = append(out, set)
	}

	if c, err := e.prog.Counters(); err == nil {
		xs := CounterSet{Scope: "xdp"}
		xs.add("passed", c.Passed)
		xs.add("steered", c.Steered)
		xs.add("no_port", c.NoPort)
		xs.add("queue_out_of_range", c.QueueOutOfRange)
		xs.add("not_ipv4", c.NotIPv4)
		xs.add("not_vnet", c.NotVnet)
		xs.add("fragment", c.Fragment)
		xs.add("etherip", c.EtherIP)
		xs.add("esp", c.ESP)
		out = append(out, xs)
	}

	ids := make([]wire.VnetID, 0, len(e.vnets))
	for id := range e.vnets {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b wire.VnetID) int { return strings.Compare(string(a[:]), string(b[:])) })
	for _, id := range ids {
		vn := e.vnets[id].vn
		var sum vnetStats
		for i := range vn.stats {
			sum.addFrom(&vn.stats[i])
		}
		vset := CounterSet{Scope: "vnet " + id.String()}
		vset.add("tx_frames", sum.txFrames.load())
		vset.add("tx_bytes", sum.txBytes.load())
		vset.add("rx_frames", sum.rxFrames.load())
		vset.add("rx_bytes", sum.rxBytes.load())
		vset.add("flooded", sum.flooded.load())
		vset.add("unicast", sum.unicast.load())
		vset.add("unresolved", sum.unresolved.load())
		vset.add("learned", sum.learned.load())
		vset.add("announced", sum.announced.load())
		vset.add("moved", sum.moved.load())
		vset.add("too_big", sum.tooBig.load())
		vset.add("fragmented", sum.fragmented.load())
		vset.add("esp_sealed", sum.sealed.load())
		vset.add("esp_opened", sum.opened.load())
		vset.add("devices_replaced", e.vnets[id].replaced.Load())
		vset.add("varp_entries", uint64(vn.varp.count()))
		vset.add("vif_entries", uint64(vn.vifs.count()))
		for r := range sum.drops {
			if v := sum.drops[r].load(); v > 0 {
				vset.add("drop_"+dropReason(r).String(), v)
			}
		}
		out = append(out, vset)
	}

	for _, ew := range e.workers {
		ws := CounterSet{Scope: fmt.Sprintf("worker %d", ew.w.ID())}
		ws.add("cpu", uint64(ew.cpu))
		ws.add("loops", ew.w.Stats.Loops.Load())
		ws.add("empty_polls", ew.w.Stats.EmptyPolls.Load())
		ws.add("sleeps", ew.w.Stats.Sleeps.Load())
		ws.add("wakeups", ew.w.Stats.Wakeups.Load())
		ws.add("busy_ns", ew.w.Stats.BusyNanos.Load())
		ws.add("max_loop_ns", ew.w.Stats.MaxLoopNanos.Load())
		ws.add("max_event_ns", ew.w.Stats.MaxEventNanos.Load())
		ws.add("free_frames", ew.w.Stats.FreeFrames.Load())
		ws.add("tx_no_port", ew.w.Stats.TxNoPort.Load())
		ws.add("umem_frames", uint64(ew.pipe.umem.Frames()))
		out = append(out, ws)
		for _, p := range ew.w.Ports() {
			out = append(out, portCounters(p))
		}
	}
	return out
}

func portCounters(p *pmd.Port) CounterSet {
	s := &p.Stats
	set := CounterSet{Scope: "port " + p.Name()}
	set.add("zerocopy", boolCounter(p.Socket().ZeroCopy()))
	set.add("rx_frames", s.RxFrames.Load())
	set.add("rx_bytes", s.RxBytes.Load())
	set.add("tx_frames", s.TxFrames.Load())
	set.add("tx_bytes", s.TxBytes.Load())
	set.add("batches", s.Batches.Load())
	for i := range s.RxBatchSizes {
		set.add(fmt.Sprintf("rx_batch_size_%d", 1<<i), s.RxBatchSizes[i].Load())
	}
	set.add("tx_batches", s.TxBatches.Load())
	set.add("rx_multi_buffer", s.RxMultiBuffer.Load())
	set.add("rx_oversize", s.RxOversize.Load())
	set.add("tx_invalid", s.TxInvalid.Load())
	set.add("tx_ring_full", s.TxRingFull.Load())
	set.add("tx_dropped", s.TxDropped.Load())
	set.add("fill_starved", s.FillStarved.Load())
	set.add("kicks", s.Kicks.Load())
	set.add("kick_retries", s.KickRetries.Load())
	set.add("kick_errors", s.KickErrors.Load())
	set.add("rx_wakeups", s.RxWakeups.Load())
	set.add("rx_wakeup_errors", s.RxWakeupErrors.Load())
	set.add("link_down", boolCounter(p.LinkDown()))
	set.add("xdp_rx_dropped", s.KernRxDropped.Load())
	set.add("xdp_rx_invalid_descs", s.KernRxInvalid.Load())
	set.add("xdp_tx_invalid_descs", s.KernTxInvalid.Load())
	set.add("xdp_rx_ring_full", s.KernRxRingFull.Load())
	set.add("xdp_rx_fill_ring_empty_descs", s.KernFillEmpty.Load())
	set.add("xdp_tx_ring_empty_descs", s.KernTxRingEmpty.Load())
	return set
}

func boolCounter(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (s *CounterSet) add(name string, v uint64) {
	s.Counters = append(s.Counters, Counter{Name: name, Value: v})
}
