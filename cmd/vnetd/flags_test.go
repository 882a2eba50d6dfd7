package main

import (
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestFlagErrors checks that invalid option values stop vnetd before it
// touches anything, with a message that names the value.
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--mcast-addr", "224.0.0.1"}, "invalid --mcast-addr: group 224.0.0.1 is in 224.0.0.0/24"},
		{[]string{"--mcast-addr", "198.18.0.1"}, "invalid --mcast-addr: address 198.18.0.1 is not an IPv4 multicast group"},
		{[]string{"--mcast-addr", "group"}, `invalid --mcast-addr "group"`},
		{[]string{"--mcast-ttl", "0"}, "invalid --mcast-ttl 0 (use 1 to 255)"},
		{[]string{"--mcast-ttl", "256"}, "invalid --mcast-ttl 256 (use 1 to 255)"},
		{[]string{"--cpus", "1,x"}, `invalid --cpus entry "x"`},
		{[]string{"--unknown-unicast", "drop"}, `invalid --unknown-unicast "drop" (use resolve or flood)`},
		{[]string{"--xdp-mode", "fast"}, `invalid --xdp-mode "fast"`},
	}
	for _, tt := range tests {
		o, err := parseFlags(append([]string{"--iface", "u0"}, tt.args...))
		if err == nil {
			_, err = o.engineConfig(zap.NewNop())
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("vnetd %s: %v, want an error containing %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
