package overlay

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// metricValue returns the value of the metric name whose labels include
// want, and whether there is one.
func metricValue(families []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestMetricsCollect(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(tb.e.Collector()); err != nil {
		t.Fatal(err)
	}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 20))
	tb.inject(tb.underlay, vudp(vnet2000, localAddr, localMAC, innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 2}, 20)))

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	v := vnet1500.String()
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vnet_frames_total", map[string]string{"vnet": v, "direction": "to_underlay"}, 1},
		{"vnet_events_total", map[string]string{"vnet": v, "event": "flooded"}, 1},
		{"vnet_events_total", map[string]string{"vnet": v, "event": "announced"}, 1},
		{"vnet_table_entries", map[string]string{"vnet": v, "table": "vifs"}, 1},
		{"vnet_dataplane_dropped_frames_total", map[string]string{"reason": "unknown_vnet"}, 1},
		{"vnet_varp_messages_total", map[string]string{"type": "announce", "direction": "out"}, 1},
		{"vnet_port_frames_total", map[string]string{"interface": "fake", "queue": "0", "direction": "rx"}, 1},
		{"vnet_port_rx_batch_size", map[string]string{"interface": "fake", "queue": "1"}, 1},
	}
	for _, c := range checks {
		got, ok := metricValue(families, c.name, c.labels)
		if !ok {
			t.Errorf("%s%v missing", c.name, c.labels)
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
