package main

import (
	"testing"
)

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("60, 512,1514")
	if err != nil || len(got) != 3 || got[0] != 60 || got[1] != 512 || got[2] != 1514 {
		t.Errorf("parseSizes(\"60, 512,1514\") = %v, %v; want [60 512 1514]", got, err)
	}
	for _, bad := range []string{"", "59", "1515", "60,x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) = nil error, want an error", bad)
		}
	}
}

func TestParseEthtool(t *testing.T) {
	out := "NIC statistics:\n     peer_ifindex: 5\n     rx_queue_0_drops: 12\n     rx_queue_0_xdp_drops: 99\n     odd line\n"
	got := parseEthtool(out)
	if got["rx_queue_0_drops"] != 12 || got["peer_ifindex"] != 5 || got["rx_queue_0_xdp_drops"] != 99 {
		t.Errorf("parseEthtool = %v", got)
	}
	if _, ok := got["NIC statistics"]; ok {
		t.Errorf("parseEthtool kept the header line: %v", got)
	}
}

func TestInterestingCounters(t *testing.T) {
	tests := []struct {
		name   string
		kernel bool
	}{
		{"rx_queue_0_drops", true},
		{"rx_queue_0_xdp_tx_errors", true},
		{"rx_queue_0_xdp_drops", false},
		{"rx_queue_0_xdp_packets", false},
	}
	for _, tc := range tests {
		if got := interestingKernel(tc.name); got != tc.kernel {
			t.Errorf("interestingKernel(%q) = %v, want %v", tc.name, got, tc.kernel)
		}
	}
	vnetd := []struct {
		name string
		want bool
	}{
		{"h1/port u0 queue 0/tx_ring_full", true},
		{"h1/port u0 queue 0/xdp_rx_dropped", true},
		{"h1/vnet 1500/flooded", true},
		{"h1/port u0 queue 0/rx_frames", false},
		{"h1/worker 0/busy_ns", false},
		{"h1/worker 0/cpu", false},
	}
	for _, tc := range vnetd {
		if got := interestingVnetd(tc.name); got != tc.want {
			t.Errorf("interestingVnetd(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-json", "-only", "xdp"})
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if !o.quick || !o.json || o.only != "xdp" || o.runs != 3 {
		t.Errorf("parseFlags = %+v", o)
	}
	for _, bad := range [][]string{{"-runs", "0"}, {"extra"}, {"-samples", "-1"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) = nil error, want an error", bad)
		}
	}
}
