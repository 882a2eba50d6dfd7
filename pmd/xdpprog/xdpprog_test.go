package xdpprog

import (
	"strings"
	"testing"
)

func TestValidatePort(t *testing.T) {
	const maxSockets = 16
	tests := []struct {
		name    string
		ifindex int
		port    Port
		wantErr string // empty: valid
	}{
		{name: "underlay", ifindex: 2, port: Port{Kind: KindUnderlay, Base: 0, Queues: 4, UDPPort: vnetPort}},
		{name: "underlay all flags", ifindex: 2, port: Port{Kind: KindUnderlay, Queues: 1, Flags: FlagEtherIP | FlagESP | FlagFragments, UDPPort: vnetPort}},
		{name: "device last slots", ifindex: 3, port: Port{Kind: KindDevice, Base: 12, Queues: 4}},
		{name: "ifindex 0", ifindex: 0, port: Port{Kind: KindDevice, Queues: 1}, wantErr: "invalid ifindex"},
		{name: "negative ifindex", ifindex: -1, port: Port{Kind: KindDevice, Queues: 1}, wantErr: "invalid ifindex"},
		{name: "kind 0", ifindex: 2, port: Port{Queues: 1}, wantErr: "invalid kind 0"},
		{name: "kind 3", ifindex: 2, port: Port{Kind: 3, Queues: 1}, wantErr: "invalid kind 3"},
		{name: "underlay without udp port", ifindex: 2, port: Port{Kind: KindUnderlay, Queues: 1}, wantErr: "missing UDP port"},
		{name: "underlay unknown flag", ifindex: 2, port: Port{Kind: KindUnderlay, Queues: 1, Flags: 1 << 7, UDPPort: vnetPort}, wantErr: "invalid flags 0x80"},
		{name: "device with flags", ifindex: 2, port: Port{Kind: KindDevice, Queues: 1, Flags: FlagESP}, wantErr: "underlay ports only"},
		{name: "device with udp port", ifindex: 2, port: Port{Kind: KindDevice, Queues: 1, UDPPort: vnetPort}, wantErr: "underlay ports only"},
		{name: "zero queues", ifindex: 2, port: Port{Kind: KindDevice}, wantErr: "invalid Queues 0"},
		{name: "slots past map", ifindex: 2, port: Port{Kind: KindDevice, Base: 13, Queues: 4}, wantErr: "slots 13 to 16 out of range"},
		{name: "base overflows u32", ifindex: 2, port: Port{Kind: KindDevice, Base: 0xffffffff, Queues: 2}, wantErr: "out of range"},
	}
	for _, tc := range tests {
		err := validatePort(tc.ifindex, tc.port, maxSockets)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: validatePort(%d, %+v) = %v, want nil", tc.name, tc.ifindex, tc.port, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: validatePort(%d, %+v) = nil, want an error containing %q", tc.name, tc.ifindex, tc.port, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: validatePort(%d, %+v) = %q, want it to contain %q", tc.name, tc.ifindex, tc.port, err, tc.wantErr)
		}
	}
}

func TestLoadRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		opts    Options
		wantErr string
	}{
		{Options{MaxSockets: -1}, "invalid MaxSockets -1"},
		{Options{MaxSockets: maxMapEntries + 1}, "invalid MaxSockets"},
		{Options{MaxPorts: -5}, "invalid MaxPorts -5"},
	}
	for _, tc := range tests {
		p, err := Load(tc.opts)
		if err == nil {
			p.Close()
			t.Errorf("Load(%+v) = nil error, want one containing %q", tc.opts, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Load(%+v) = %q, want it to contain %q", tc.opts, err, tc.wantErr)
		}
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{KindUnderlay, "underlay"},
		{KindDevice, "device"},
		{Kind(0), "kind(0)"},
	}
	for _, tc := range tests {
		if got := tc.kind.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint32(tc.kind), got, tc.want)
		}
	}
}
