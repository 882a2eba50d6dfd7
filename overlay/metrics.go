package overlay

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// metrics exposes the engine's counters to Prometheus. The data path
// keeps its counters per worker, without locks; a scrape sums them.
type metrics struct {
	e *Engine

	vnetFrames, vnetBytes, vnetEvents, vnetDrops *prometheus.Desc
	vnetEntries, vnetEvictions                   *prometheus.Desc

	drops, malformed, varpMessages, forwarding *prometheus.Desc

	portFrames, portBytes, portEvents, portXDP *prometheus.Desc
	portZeroCopy, portLinkDown, portBatch      *prometheus.Desc

	workerBusy, workerLoops, workerFree, workerMaxLoop *prometheus.Desc

	xdpDecisions, peerPackets, nextHops *prometheus.Desc

	espPackets *prometheus.Desc
}

// Collector returns a Prometheus collector of the engine's counters.
func (e *Engine) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("vnet_"+name, help, labels, nil)
	}
	return &metrics{
		e: e,

		vnetFrames:    d("frames_total", "Frames of a vnet: direction to_underlay counts frames from its VMs sent over the underlay, from_underlay frames delivered to its VMs.", "vnet", "device", "direction"),
		vnetBytes:     d("bytes_total", "Bytes of the inner frames counted in vnet_frames_total.", "vnet", "device", "direction"),
		vnetEvents:    d("events_total", "Events of a vnet: frames flooded to the group or sent by unicast, MACs learned, announced or moved away, ICMP too-big replies, fragments made.", "vnet", "device", "event"),
		vnetDrops:     d("dropped_frames_total", "Frames of a vnet dropped, by reason.", "vnet", "device", "reason"),
		vnetEntries:   d("table_entries", "Entries in a vnet's VARP cache (table varp) and local MAC table (table vifs).", "vnet", "device", "table"),
		vnetEvictions: d("table_evictions_total", "Least recently used entries evicted from a full table.", "vnet", "device", "table"),

		drops:        d("dataplane_dropped_frames_total", "Underlay frames dropped before a vnet was known, by reason.", "reason"),
		malformed:    d("dataplane_malformed_frames_total", "Malformed underlay frames, by what was wrong.", "reason"),
		varpMessages: d("varp_messages_total", "VARP messages received (in) and sent (out), by type.", "type", "direction"),
		forwarding:   d("forwarding_events_total", "Group traffic relayed between peers and outer IPv4 fragments handled, by event.", "event"),

		portFrames:   d("port_frames_total", "Frames received (rx) and transmitted (tx) on an AF_XDP socket.", "interface", "queue", "worker", "direction"),
		portBytes:    d("port_bytes_total", "Bytes received (rx) and transmitted (tx) on an AF_XDP socket.", "interface", "queue", "worker", "direction"),
		portEvents:   d("port_driver_events_total", "Events of the poll-mode driver on a socket: kicks, retries, full rings, starved refills, dropped frames.", "interface", "queue", "worker", "event"),
		portXDP:      d("port_xdp_statistics_total", "The kernel's XDP_STATISTICS of a socket.", "interface", "queue", "worker", "statistic"),
		portZeroCopy: d("port_zerocopy", "1 if the socket is bound in zero-copy mode, 0 in copy mode.", "interface", "queue", "worker"),
		portLinkDown: d("port_link_down", "1 if transmitting on the socket fails because its link is down.", "interface", "queue", "worker"),
		portBatch:    d("port_rx_batch_size", "Descriptors taken off the RX ring per receive call.", "interface", "queue", "worker"),

		workerBusy:    d("worker_busy_seconds_total", "Time a worker spent on loops that moved frames.", "worker", "cpu"),
		workerLoops:   d("worker_loops_total", "Poll loops of a worker: all loops, loops that found nothing (empty), and sleeps in poll(2).", "worker", "cpu", "kind"),
		workerFree:    d("worker_free_frames", "Frames on a worker's UMEM free stack.", "worker", "cpu"),
		workerMaxLoop: d("worker_max_loop_seconds", "Longest poll loop of a worker, sleeps aside.", "worker", "cpu"),

		xdpDecisions: d("xdp_frames_total", "Frames the XDP program steered to AF_XDP (steered) or passed to the kernel, by reason.", "decision"),
		peerPackets:  d("peer_packets_total", "Copies of group traffic sent to (tx) and received from (rx) a peer.", "peer", "direction"),
		nextHops:     d("next_hops", "Underlay destinations whose next hop Ethernet address is known."),
		espPackets:   d("esp_received_packets_total", "ESP packets of secure vnets received: opened (result ok) or rejected, by reason (auth for authentication failures, replay for replays).", "result"),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(m, ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	e := m.e
	e.mu.Lock()
	defer e.mu.Unlock()
	count := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	for id, vs := range e.vnets {
		vn := vs.vn
		var sum vnetStats
		for i := range vn.stats {
			sum.addFrom(&vn.stats[i])
		}
		v, dev := id.String(), vn.device
		count(m.vnetFrames, sum.txFrames.load(), v, dev, "to_underlay")
		count(m.vnetFrames, sum.rxFrames.load(), v, dev, "from_underlay")
		count(m.vnetBytes, sum.txBytes.load(), v, dev, "to_underlay")
		count(m.vnetBytes, sum.rxBytes.load(), v, dev, "from_underlay")
		for _, ev := range []struct {
			name string
			c    *counter
		}{
			{"flooded", &sum.flooded}, {"unicast", &sum.unicast}, {"unresolved", &sum.unresolved},
			{"learned", &sum.learned}, {"announced", &sum.announced}, {"moved", &sum.moved},
			{"too_big", &sum.tooBig}, {"fragmented", &sum.fragmented},
			{"esp_sealed", &sum.sealed}, {"esp_opened", &sum.opened},
		} {
			count(m.vnetEvents, ev.c.load(), v, dev, ev.name)
		}
		for r := range sum.drops {
			count(m.vnetDrops, sum.drops[r].load(), v, dev, dropReason(r).String())
		}
		gauge(m.vnetEntries, float64(vn.varp.count()), v, dev, "varp")
		gauge(m.vnetEntries, float64(vn.vifs.count()), v, dev, "vifs")
		count(m.vnetEvictions, vn.varp.evicted.Load(), v, dev, "varp")
		count(m.vnetEvictions, vn.vifs.evicted.Load(), v, dev, "vifs")
	}

	var dp workerStats
	for _, ew := range e.workers {
		dp.addFrom(ew.pipe.stats)
	}
	for r := range dp.drops {
		count(m.drops, dp.drops[r].load(), dropReason(r).String())
	}
	for r := 1; r < len(dp.malformed); r++ {
		if name := wire.Reason(r).String(); name != "reason_unknown" {
			count(m.malformed, dp.malformed[r].load(), name)
		}
	}
	count(m.varpMessages, dp.varpRequestsIn.load(), "request", "in")
	count(m.varpMessages, dp.varpAnnouncesIn.load(), "announce", "in")
	count(m.varpMessages, dp.varpRequestsOut.load(), "request", "out")
	count(m.varpMessages, dp.varpAnnouncesOut.load(), "announce", "out")
	count(m.varpMessages, dp.varpRepliesOut.load(), "reply", "out")
	count(m.forwarding, dp.forwardedIn.load(), "copy_received")
	count(m.forwarding, dp.forwardedOut.load(), "copy_sent")
	count(m.forwarding, dp.resent.load(), "resent_to_group")
	count(m.forwarding, dp.reassembled.load(), "reassembled")
	count(m.forwarding, dp.reassemblyFailed.load(), "reassembly_failed")
	count(m.forwarding, dp.fragmentsOut.load(), "fragment_sent")
	count(m.espPackets, dp.esp[esp.ReasonNone].load(), "ok")
	for r := esp.Reason(1); r < esp.NumReasons; r++ {
		count(m.espPackets, dp.esp[r].load(), r.String())
	}

	for _, ew := range e.workers {
		w, cpu := strconv.Itoa(ew.w.ID()), strconv.Itoa(ew.cpu)
		s := &ew.w.Stats
		ch <- prometheus.MustNewConstMetric(m.workerBusy, prometheus.CounterValue, float64(s.BusyNanos.Load())/1e9, w, cpu)
		count(m.workerLoops, s.Loops.Load(), w, cpu, "all")
		count(m.workerLoops, s.EmptyPolls.Load(), w, cpu, "empty")
		count(m.workerLoops, s.Sleeps.Load(), w, cpu, "sleep")
		gauge(m.workerFree, float64(s.FreeFrames.Load()), w, cpu)
		gauge(m.workerMaxLoop, float64(s.MaxLoopNanos.Load())/1e9, w, cpu)
		for _, p := range ew.w.Ports() {
			m.collectPort(ch, p, w)
		}
	}

	if e.prog == nil {
		// An engine without a loaded program exists only in tests.
	} else if c, err := e.prog.Counters(); err == nil {
		for _, x := range []struct {
			name string
			v    uint64
		}{
			{"steered", c.Steered}, {"no_port", c.NoPort}, {"queue_out_of_range", c.QueueOutOfRange},
			{"not_ipv4", c.NotIPv4}, {"not_vnet", c.NotVnet}, {"fragment", c.Fragment}, {"esp", c.ESP},
			{"etherip", c.EtherIP}, {"truncated", c.Truncated}, {"malformed", c.Malformed},
		} {
			count(m.xdpDecisions, x.v, x.name)
		}
	}
	for _, p := range e.peers {
		a := ipString(p.addr)
		count(m.peerPackets, p.tx.Load(), a, "tx")
		count(m.peerPackets, p.rx.Load(), a, "rx")
	}
	gauge(m.nextHops, float64(len(e.cfg.Load().nextHops)))
}

// collectPort emits one socket's metrics.
func (m *metrics) collectPort(ch chan<- prometheus.Metric, p *pmd.Port, worker string) {
	s := &p.Stats
	ifname, queue := p.Socket().Ifname(), strconv.Itoa(p.Socket().Queue())
	l := []string{ifname, queue, worker}
	count := func(d *prometheus.Desc, v uint64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append(l[:3:3], extra...)...)
	}
	count(m.portFrames, s.RxFrames.Load(), "rx")
	count(m.portFrames, s.TxFrames.Load(), "tx")
	count(m.portBytes, s.RxBytes.Load(), "rx")
	count(m.portBytes, s.TxBytes.Load(), "tx")
	for _, ev := range []struct {
		name string
		v    uint64
	}{
		{"kick", s.Kicks.Load()}, {"kick_retry", s.KickRetries.Load()}, {"kick_error", s.KickErrors.Load()},
		{"tx_ring_full", s.TxRingFull.Load()}, {"tx_dropped", s.TxDropped.Load()}, {"tx_invalid", s.TxInvalid.Load()},
		{"fill_starved", s.FillStarved.Load()}, {"rx_multi_buffer", s.RxMultiBuffer.Load()},
		{"rx_oversize", s.RxOversize.Load()}, {"rx_wakeup", s.RxWakeups.Load()}, {"rx_wakeup_error", s.RxWakeupErrors.Load()},
	} {
		count(m.portEvents, ev.v, ev.name)
	}
	for _, x := range []struct {
		name string
		v    uint64
	}{
		{"rx_dropped", s.KernRxDropped.Load()}, {"rx_invalid_descs", s.KernRxInvalid.Load()},
		{"tx_invalid_descs", s.KernTxInvalid.Load()}, {"rx_ring_full", s.KernRxRingFull.Load()},
		{"rx_fill_ring_empty_descs", s.KernFillEmpty.Load()}, {"tx_ring_empty_descs", s.KernTxRingEmpty.Load()},
	} {
		count(m.portXDP, x.v, x.name)
	}
	zc, down := 0.0, 0.0
	if p.Socket().ZeroCopy() {
		zc = 1
	}
	if p.LinkDown() {
		down = 1
	}
	ch <- prometheus.MustNewConstMetric(m.portZeroCopy, prometheus.GaugeValue, zc, l...)
	ch <- prometheus.MustNewConstMetric(m.portLinkDown, prometheus.GaugeValue, down, l...)

	// Bucket i counts batches of 2^i to 2^(i+1)-1 descriptors, so its
	// upper bound is 2^(i+1)-1; the sum of all batch sizes is the number
	// of frames received.
	buckets := make(map[float64]uint64, len(s.RxBatchSizes))
	var cum uint64
	for i := range s.RxBatchSizes {
		cum += s.RxBatchSizes[i].Load()
		buckets[float64(int(1)<<(i+1)-1)] = cum
	}
	ch <- prometheus.MustNewConstHistogram(m.portBatch, cum, float64(s.RxFrames.Load()), buckets, l...)
}

func ipString(a [4]byte) string {
	return strconv.Itoa(int(a[0])) + "." + strconv.Itoa(int(a[1])) + "." + strconv.Itoa(int(a[2])) + "." + strconv.Itoa(int(a[3]))
}
