package control

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const id1500 = "0000:0000:0000:0000:0000:0000:0000:1500"

// run evaluates one command given as text on dp.
func run(t *testing.T, dp Dataplane, text string) (string, *Error) {
	t.Helper()
	exprs, err := ParseAll(text)
	if err != nil || len(exprs) != 1 {
		t.Fatalf("parse %q = %v, %v, want one expression", text, exprs, err)
	}
	ev := &evaluator{dp: dp}
	out, _, cmdErr := ev.eval(exprs[0], nil)
	return string(out), cmdErr
}

func mustVnetID(t *testing.T, s string) wire.VnetID {
	t.Helper()
	id, err := wire.ParseVnetID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustMAC(t *testing.T, s string) wire.MAC {
	t.Helper()
	m, err := wire.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConfigCommands(t *testing.T) {
	tests := []struct {
		name      string
		setup     []string // commands run first, which must succeed
		command   string
		wantCalls []string // calls of the command itself
	}{
		{
			name:      "vnet.add with id only",
			command:   "(vnet.add (id 1500))",
			wantCalls: []string{"AddVnet " + id1500 + " vnif1500 none"},
		},
		{
			name:      "vnet.add with all fields in any order",
			command:   "(vnet.add (security conf) (vnetif my-vn.1_x) (id 1:2:3:4:5:6:7:abcd) (key 00112233445566778899aabbccddeeff))",
			wantCalls: []string{"AddVnet 0001:0002:0003:0004:0005:0006:0007:abcd my-vn.1_x conf"},
		},
		{
			name:      "vnet.add with quoted values",
			command:   `(vnet.add (id "15") (security 'auth') (key "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"))`,
			wantCalls: []string{"AddVnet 0000:0000:0000:0000:0000:0000:0000:0015 vnif0015 auth"},
		},
		{
			name:      "vnet.add with 14-character device",
			command:   "(vnet.add (id 2) (vnetif abcdefghijklmn))",
			wantCalls: []string{"AddVnet 0000:0000:0000:0000:0000:0000:0000:0002 abcdefghijklmn none"},
		},
		{
			name:      "vnet.del",
			setup:     []string{"(vnet.add (id 1500))"},
			command:   "(vnet.del (id 0:0:0:0:0:0:0:1500))",
			wantCalls: []string{"DeleteVnet " + id1500},
		},
		{
			name:      "vif.add",
			setup:     []string{"(vnet.add (id 1500))"},
			command:   "(vif.add (vnet 1500) (vmac 02:A8:b7:7b:5f:d3))",
			wantCalls: []string{"AddVif " + id1500 + " 02:a8:b7:7b:5f:d3"},
		},
		{
			name:      "vif.add with dashes",
			setup:     []string{"(vnet.add (id 1500))"},
			command:   "(vif.add (vmac 02-a8-b7-7b-5f-d3) (vnet 1500))",
			wantCalls: []string{"AddVif " + id1500 + " 02:a8:b7:7b:5f:d3"},
		},
		{
			name:      "vif.del",
			setup:     []string{"(vnet.add (id 1500))", "(vif.add (vnet 1500) (vmac 02:a8:b7:7b:5f:d3))"},
			command:   "(vif.del (vnet 1500) (vmac 02:a8:b7:7b:5f:d3))",
			wantCalls: []string{"DeleteVif " + id1500 + " 02:a8:b7:7b:5f:d3"},
		},
		{
			name:      "peer.add default port",
			command:   "(peer.add (addr 198.18.1.3))",
			wantCalls: []string{"AddPeer 198.18.1.3 1798"},
		},
		{
			name:      "peer.add with port",
			command:   "(peer.add (addr 198.18.1.3) (port 65535))",
			wantCalls: []string{"AddPeer 198.18.1.3 65535"},
		},
		{
			name:      "peer.add port 1",
			command:   "(peer.add (port 1) (addr 198.18.1.3))",
			wantCalls: []string{"AddPeer 198.18.1.3 1"},
		},
		{
			name:      "peer.add existing peer changes its port",
			setup:     []string{"(peer.add (addr 198.18.1.3))"},
			command:   "(peer.add (addr 198.18.1.3) (port 1799))",
			wantCalls: []string{"AddPeer 198.18.1.3 1799"},
		},
		{
			name:      "peer.del",
			setup:     []string{"(peer.add (addr 198.18.1.3))"},
			command:   "(peer.del (addr 198.18.1.3))",
			wantCalls: []string{"DeletePeer 198.18.1.3"},
		},
		{
			name:      "varp.mcaddr",
			command:   "(varp.mcaddr (addr 239.1.2.3))",
			wantCalls: []string{"SetGroup 239.1.2.3"},
		},
		{
			name:      "varp.flush",
			command:   "(varp.flush)",
			wantCalls: []string{"FlushVarp"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := controltest.New()
			for _, s := range tt.setup {
				if _, err := run(t, dp, s); err != nil {
					t.Fatalf("setup %s: %v", s, err)
				}
			}
			before := len(dp.Calls())
			out, err := run(t, dp, tt.command)
			if err != nil {
				t.Fatalf("%s: error %s %q", tt.command, err.Code, err.Message)
			}
			if out != "" {
				t.Errorf("%s: output %q, want none", tt.command, out)
			}
			if got := dp.Calls()[before:]; !slices.Equal(got, tt.wantCalls) {
				t.Errorf("%s: calls %q, want %q", tt.command, got, tt.wantCalls)
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string
		fail    error // injected into the dataplane's next call
		command string
		code    string
		value   string
		message string // a part of the message
	}{
		// Command shape.
		{name: "top-level atom", command: "vnet.list", code: CodeInvalid, value: "vnet.list", message: "a command is a list"},
		{name: "empty list", command: "()", code: CodeInvalid, message: "starts with its name"},
		{name: "list head", command: "((vnet.list))", code: CodeInvalid, message: "starts with its name"},
		{name: "unknown command", command: "(vnet.print)", code: CodeNoCommand, value: "vnet.print", message: "unknown command vnet.print (use capture, peer.add,"},
		{name: "case-sensitive head", command: "(VNET.LIST)", code: CodeNoCommand, value: "VNET.LIST"},
		{name: "original varp.print", command: "(varp.print)", code: CodeNoCommand, value: "varp.print"},

		// Fields.
		{name: "missing id", command: "(vnet.add)", code: CodeInvalid, message: "vnet.add: missing field id (usage: (vnet.add (id ID)"},
		{name: "missing vmac", command: "(vif.add (vnet 1500))", code: CodeInvalid, message: "missing field vmac"},
		{name: "missing addr", command: "(peer.add (port 1))", code: CodeInvalid, message: "missing field addr"},
		{name: "duplicate field", command: "(vnet.add (id 1500) (id 1501))", code: CodeInvalid, value: "id", message: "field id given twice"},
		{name: "unknown field", command: "(vnet.add (id 1500) (bridge br0))", code: CodeInvalid, value: "bridge", message: "unknown field bridge"},
		{name: "field on list command", command: "(vnet.list (all 1))", code: CodeInvalid, value: "all", message: "vnet.list: unknown field all (usage: (vnet.list))"},
		{name: "field on varp.flush", command: "(varp.flush (now))", code: CodeInvalid, value: "now"},
		{name: "bare atom argument", command: "(vnet.add id 1500)", code: CodeInvalid, value: "id", message: "unexpected atom id"},
		{name: "field without value", command: "(vnet.add (id))", code: CodeInvalid, value: "id", message: "exactly one atom"},
		{name: "field with two values", command: "(vnet.add (id 15 00))", code: CodeInvalid, value: "id", message: "exactly one atom"},
		{name: "field with list value", command: "(vnet.add (id (1500)))", code: CodeInvalid, value: "id", message: "exactly one atom"},
		{name: "field with list name", command: "(vnet.add ((id) 1500))", code: CodeInvalid, message: "invalid field"},
		{name: "empty field", command: "(vnet.add ())", code: CodeInvalid, message: "invalid field"},

		// Vnet ids.
		{name: "id five digits", command: "(vnet.add (id 12345))", code: CodeInvalid, value: "12345", message: `invalid vnet id "12345"`},
		{name: "id two fields", command: "(vnet.add (id 1:2))", code: CodeInvalid, value: "1:2", message: "has 2 fields"},
		{name: "id empty field", command: "(vnet.add (id 0:0:0:0:0:0::1))", code: CodeInvalid, value: "0:0:0:0:0:0::1"},
		{name: "id not hex", command: "(vnet.add (id 15g0))", code: CodeInvalid, value: "15g0"},
		{name: "id empty", command: `(vnet.add (id ""))`, code: CodeInvalid, message: `invalid vnet id ""`},
		{name: "id zero", command: "(vnet.add (id 0))", code: CodeInvalid, value: "0", message: "reserved"},
		{name: "id physical", command: "(vnet.add (id 0:0:0:0:0:0:0:1))", code: CodeInvalid, value: "0:0:0:0:0:0:0:1", message: "reserved"},
		{name: "vnet.del bad id", command: "(vnet.del (id x))", code: CodeInvalid, value: "x"},
		{name: "vif.add bad vnet", command: "(vif.add (vnet 1:2) (vmac 02:00:00:00:00:01))", code: CodeInvalid, value: "1:2"},

		// Device names.
		{name: "device too long", command: "(vnet.add (id 1500) (vnetif abcdefghijklmno))", code: CodeInvalid, value: "abcdefghijklmno", message: "has 15 characters (use 1 to 14)"},
		{name: "device empty", command: `(vnet.add (id 1500) (vnetif ""))`, code: CodeInvalid, message: "has 0 characters"},
		{name: "device with plus", command: "(vnet.add (id 1500) (vnetif vn+))", code: CodeInvalid, value: "vn+", message: "character '+' is not allowed"},
		{name: "device with slash", command: "(vnet.add (id 1500) (vnetif a/b))", code: CodeInvalid, value: "a/b"},
		{name: "device with colon", command: "(vnet.add (id 1500) (vnetif a:b))", code: CodeInvalid, value: "a:b"},
		{name: "device with space", command: `(vnet.add (id 1500) (vnetif "a b"))`, code: CodeInvalid, value: "a b"},
		{name: "device dot", command: "(vnet.add (id 1500) (vnetif .))", code: CodeInvalid, value: ".", message: "reserves"},
		{name: "device dot dot", command: "(vnet.add (id 1500) (vnetif ..))", code: CodeInvalid, value: ".."},

		// Security.
		{name: "security unknown", command: "(vnet.add (id 1500) (security high))", code: CodeInvalid, value: "high", message: "use none, auth or conf"},
		{name: "security upper case", command: "(vnet.add (id 1500) (security NONE))", code: CodeInvalid, value: "NONE"},

		// Keys. A key is never echoed in the message or the value.
		{name: "secure without key", command: "(vnet.add (id 1500) (security conf))", code: CodeInvalid, message: "a vnet with security auth or conf needs a key (give (key HEX)"},
		{name: "key file without key directory", command: "(vnet.add (id 1500) (security auth) (key-file vnet1500.key))", code: CodeInvalid, message: "vnetd has no key directory for key-file"},
		{name: "key short", command: "(vnet.add (id 1500) (security conf) (key 0011))", code: CodeInvalid, message: "invalid key: it has 4 characters (use 32 or 64 hex digits"},
		{name: "key not hex", command: "(vnet.add (id 1500) (security conf) (key 0011223344556677889900aabbccddzz))", code: CodeInvalid, message: "not a hex digit"},
		{name: "key without security", command: "(vnet.add (id 1500) (key 00112233445566778899aabbccddeeff))", code: CodeInvalid, message: "a key needs (security auth) or (security conf)"},
		{name: "key and key file", command: "(vnet.add (id 1500) (security conf) (key 00112233445566778899aabbccddeeff) (key-file k))", code: CodeInvalid, message: "either key or key-file"},
		{name: "key with two values", command: "(vnet.add (id 1500) (security conf) (key 0011223344556677 8899aabbccddeeff))", code: CodeInvalid, value: "key", message: "field (key ...) must have exactly one atom"},
		{name: "key file path", command: "(vnet.add (id 1500) (security conf) (key-file etc/shadow))", code: CodeInvalid, value: "etc/shadow", message: "character '/' is not allowed"},
		{name: "key file hidden", command: "(vnet.add (id 1500) (security conf) (key-file .k))", code: CodeInvalid, value: ".k", message: "starts with '.'"},

		// MACs.
		{name: "MAC short", command: "(vif.add (vnet 1500) (vmac 02:00:00:00:00))", code: CodeInvalid, value: "02:00:00:00:00", message: "invalid MAC address"},
		{name: "MAC mixed separators", command: "(vif.add (vnet 1500) (vmac 02:00-00:00:00:01))", code: CodeInvalid, value: "02:00-00:00:00:01"},
		{name: "MAC dotted", command: "(vif.add (vnet 1500) (vmac 0200.0000.0001))", code: CodeInvalid, value: "0200.0000.0001"},
		{name: "MAC multicast", setup: []string{"(vnet.add (id 1500))"}, command: "(vif.add (vnet 1500) (vmac 01:00:5e:00:00:01))", code: CodeInvalid, value: "01:00:5e:00:00:01", message: "not a unicast address"},
		{name: "MAC broadcast", command: "(vif.add (vnet 1500) (vmac ff:ff:ff:ff:ff:ff))", code: CodeInvalid, value: "ff:ff:ff:ff:ff:ff"},
		{name: "MAC zero", command: "(vif.add (vnet 1500) (vmac 00:00:00:00:00:00))", code: CodeInvalid, value: "00:00:00:00:00:00"},
		{name: "vif.del MAC bad", command: "(vif.del (vnet 1500) (vmac zz:00:00:00:00:01))", code: CodeInvalid, value: "zz:00:00:00:00:01"},

		// IPv4 addresses.
		{name: "addr shorthand", command: "(peer.add (addr 10.1))", code: CodeInvalid, value: "10.1", message: "use four decimal numbers"},
		{name: "addr leading zero", command: "(peer.add (addr 198.018.0.1))", code: CodeInvalid, value: "198.018.0.1"},
		{name: "addr hex", command: "(peer.add (addr 0xc6.18.0.1))", code: CodeInvalid, value: "0xc6.18.0.1"},
		{name: "addr above 255", command: "(peer.add (addr 198.18.0.256))", code: CodeInvalid, value: "198.18.0.256"},
		{name: "addr IPv6", command: "(peer.add (addr 2001:db8::1))", code: CodeInvalid, value: "2001:db8::1"},
		{name: "addr IPv4-mapped", command: "(peer.add (addr ::ffff:198.18.0.1))", code: CodeInvalid, value: "::ffff:198.18.0.1"},
		{name: "addr host name", command: "(peer.add (addr example))", code: CodeInvalid, value: "example"},
		{name: "peer multicast", command: "(peer.add (addr 224.10.0.1))", code: CodeInvalid, value: "224.10.0.1", message: "not a unicast address"},
		{name: "peer unspecified", command: "(peer.add (addr 0.0.0.0))", code: CodeInvalid, value: "0.0.0.0"},
		{name: "peer broadcast", command: "(peer.add (addr 255.255.255.255))", code: CodeInvalid, value: "255.255.255.255"},
		{name: "peer.del multicast", command: "(peer.del (addr 239.0.0.1))", code: CodeInvalid, value: "239.0.0.1"},
		{name: "group unicast", command: "(varp.mcaddr (addr 198.18.0.1))", code: CodeInvalid, value: "198.18.0.1", message: "not an IPv4 multicast group"},
		{name: "group local control block", command: "(varp.mcaddr (addr 224.0.0.1))", code: CodeInvalid, value: "224.0.0.1", message: "224.0.0.0/24, which every host and router of the link uses"},
		{name: "group shorthand", command: "(varp.mcaddr (addr 224.1))", code: CodeInvalid, value: "224.1"},

		// Ports.
		{name: "port zero", command: "(peer.add (addr 198.18.1.3) (port 0))", code: CodeInvalid, value: "0", message: "use a decimal number from 1 to 65535"},
		{name: "port too large", command: "(peer.add (addr 198.18.1.3) (port 65536))", code: CodeInvalid, value: "65536"},
		{name: "port hex", command: "(peer.add (addr 198.18.1.3) (port 0x706))", code: CodeInvalid, value: "0x706"},
		{name: "port signed", command: "(peer.add (addr 198.18.1.3) (port +80))", code: CodeInvalid, value: "+80"},
		{name: "port negative", command: "(peer.add (addr 198.18.1.3) (port -1))", code: CodeInvalid, value: "-1"},
		{name: "port long", command: "(peer.add (addr 198.18.1.3) (port 000080))", code: CodeInvalid, value: "000080"},
		{name: "port word", command: "(peer.add (addr 198.18.1.3) (port True))", code: CodeInvalid, value: "True"},

		// Dataplane errors.
		{name: "vnet exists", setup: []string{"(vnet.add (id 1500))"}, command: "(vnet.add (id 1500))", code: CodeExists, value: "1500", message: "vnet " + id1500 + " already exists"},
		{name: "vnet exists with other security", setup: []string{"(vnet.add (id 1500))"}, command: "(vnet.add (id 1500) (security conf) (key 00112233445566778899aabbccddeeff))", code: CodeExists, value: "1500",
			message: "vnet.add: vnet " + id1500 + " already exists with security none and device vnif1500, not the security conf and device vnif1500 requested (delete it first"},
		{name: "vnet exists with other device", setup: []string{"(vnet.add (id 1500))"}, command: "(vnet.add (id 1500) (vnetif vn0))", code: CodeExists, value: "1500", message: "not the security none and device vn0 requested"},
		{name: "device exists", setup: []string{"(vnet.add (id 1500) (vnetif vn0))"}, command: "(vnet.add (id 1501) (vnetif vn0))", code: CodeExists, value: "1501", message: "device vn0"},
		{name: "vnet.del missing", command: "(vnet.del (id 1500))", code: CodeNotFound, value: "1500", message: "vnet " + id1500 + " not found"},
		{name: "vnet.del physical", command: "(vnet.del (id 1))", code: CodeInvalid, value: "1", message: "physical vnet"},
		{name: "vif.add vnet missing", command: "(vif.add (vnet 1500) (vmac 02:00:00:00:00:01))", code: CodeNotFound, value: "1500", message: "vnet " + id1500},
		{name: "vif.del vif missing", setup: []string{"(vnet.add (id 1500))"}, command: "(vif.del (vnet 1500) (vmac 02:00:00:00:00:01))", code: CodeNotFound, value: "02:00:00:00:00:01", message: "vif 02:00:00:00:00:01"},
		{name: "peer.del missing", command: "(peer.del (addr 198.18.1.3))", code: CodeNotFound, value: "198.18.1.3", message: "peer 198.18.1.3 not found"},
		{name: "unsupported security", fail: fmt.Errorf("security conf: %w (use none)", overlay.ErrUnsupported), command: "(vnet.add (id 1500) (security conf) (key 00112233445566778899aabbccddeeff))", code: CodeUnsupported, value: "1500", message: "security conf: not supported (use none)"},
		{name: "dataplane invalid", fail: fmt.Errorf("group: %w", overlay.ErrInvalid), command: "(varp.mcaddr (addr 239.0.0.1))", code: CodeInvalid, value: "239.0.0.1"},
		{name: "dataplane other error", fail: errors.New("create tap device vnif1500: operation not permitted"), command: "(vnet.add (id 1500))", code: CodeIO, value: "1500", message: "add vnet " + id1500 + ": create tap device vnif1500: operation not permitted"},
		{name: "bare sentinel exists", fail: overlay.ErrExists, command: "(peer.add (addr 198.18.1.3))", code: CodeExists, value: "198.18.1.3", message: "peer 198.18.1.3 already exists"},
		{name: "bare sentinel invalid", fail: overlay.ErrInvalid, command: "(vnet.del (id 1500))", code: CodeInvalid, value: "1500", message: "delete vnet " + id1500 + ": invalid argument"},
		{name: "bare sentinel not found", fail: overlay.ErrNotFound, command: "(vif.del (vnet 1500) (vmac 02:00:00:00:00:01))", code: CodeNotFound, value: "1500", message: "vnet " + id1500 + " not found"},
		{name: "bare sentinel unsupported", fail: overlay.ErrUnsupported, command: "(varp.mcaddr (addr 239.0.0.1))", code: CodeUnsupported, value: "239.0.0.1", message: "set multicast group 239.0.0.1: not supported"},
		{name: "vif error in existing vnet", setup: []string{"(vnet.add (id 1500))"}, fail: errors.New("table full"), command: "(vif.add (vnet 1500) (vmac 02:00:00:00:00:01))", code: CodeIO, value: "02:00:00:00:00:01", message: "add vif 02:00:00:00:00:01 in vnet " + id1500 + ": table full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := controltest.New()
			for _, s := range tt.setup {
				if _, err := run(t, dp, s); err != nil {
					t.Fatalf("setup %s: %v", s, err)
				}
			}
			if tt.fail != nil {
				dp.FailNext(tt.fail)
			}
			out, err := run(t, dp, tt.command)
			if err == nil {
				t.Fatalf("%s: no error, want %s", tt.command, tt.code)
			}
			if err.Code != tt.code {
				t.Errorf("%s: code %s (%q), want %s", tt.command, err.Code, err.Message, tt.code)
			}
			if err.Value != tt.value {
				t.Errorf("%s: value %q, want %q", tt.command, err.Value, tt.value)
			}
			if !strings.Contains(err.Message, tt.message) {
				t.Errorf("%s: message %q, want it to contain %q", tt.command, err.Message, tt.message)
			}
			if out != "" {
				t.Errorf("%s: output %q, want none on error", tt.command, out)
			}
			if tt.fail != nil && !errors.Is(err, tt.fail) {
				t.Errorf("%s: error does not wrap the dataplane error %v", tt.command, tt.fail)
			}
			for _, secret := range []string{"0011223344556677", "8899aabbccddeeff"} {
				if strings.Contains(err.Message, secret) || strings.Contains(err.Value, secret) {
					t.Errorf("%s: error %q (value %q) contains key material", tt.command, err.Message, err.Value)
				}
			}
		})
	}
}

// TestArgumentErrorsSkipDataplane checks that rejected arguments never
// reach the dataplane.
func TestArgumentErrorsSkipDataplane(t *testing.T) {
	for _, cmd := range []string{
		"(vnet.add (id 0))",
		"(vnet.add (id 1500) (vnetif a+b))",
		"(vif.add (vnet 1500) (vmac 01:00:00:00:00:00))",
		"(peer.add (addr 224.0.0.1))",
		"(varp.mcaddr (addr 10.0.0.1))",
		"(varp.flush (x 1))",
	} {
		dp := controltest.New()
		if _, err := run(t, dp, cmd); err == nil {
			t.Errorf("%s: no error, want EINVAL", cmd)
		}
		if calls := dp.Calls(); len(calls) != 0 {
			t.Errorf("%s: dataplane calls %q, want none", cmd, calls)
		}
	}
}

func TestErrorExpr(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{
			Error{Code: CodeExists, Message: "vnet " + id1500 + " already exists", Value: "1500"},
			`(error (code EEXIST) (message "vnet ` + id1500 + ` already exists") (value 1500))`,
		},
		{
			Error{Code: CodeNoCommand, Message: "unknown"},
			`(error (code ENOSYS) (message unknown))`,
		},
		{
			Error{Code: CodeInvalid, Message: "bad", Value: "a b"},
			`(error (code EINVAL) (message bad) (value "a b"))`,
		},
	}
	for _, tt := range tests {
		if got := tt.err.Expr().String(); got != tt.want {
			t.Errorf("Expr() = %s, want %s", got, tt.want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		text     string
		isStatus bool
		err      *Error
	}{
		{"(ok)", true, nil},
		{`(error (code ENOENT) (message "vnet x not found") (value x))`, true, &Error{Code: CodeNotFound, Message: "vnet x not found", Value: "x"}},
		{`(error (code EINVAL) (message m))`, true, &Error{Code: CodeInvalid, Message: "m"}},
		{`(error)`, true, &Error{Code: CodeIO, Message: "command failed with EIO"}},
		{"(ok extra)", false, nil},
		{"(vnet (id 1))", false, nil},
		{"ok", false, nil},
		{"()", false, nil},
	}
	for _, tt := range tests {
		exprs, err := ParseAll(tt.text)
		if err != nil {
			t.Fatal(err)
		}
		isStatus, statusErr := ParseStatus(exprs[0])
		if isStatus != tt.isStatus {
			t.Errorf("ParseStatus(%s) status = %v, want %v", tt.text, isStatus, tt.isStatus)
		}
		if tt.err == nil {
			if statusErr != nil {
				t.Errorf("ParseStatus(%s) error = %v, want nil", tt.text, statusErr)
			}
			continue
		}
		var got *Error
		if !errors.As(statusErr, &got) {
			t.Errorf("ParseStatus(%s) error = %v, want *Error", tt.text, statusErr)
			continue
		}
		if got.Code != tt.err.Code || got.Message != tt.err.Message || got.Value != tt.err.Value {
			t.Errorf("ParseStatus(%s) = %+v, want %+v", tt.text, *got, *tt.err)
		}
	}
}

// appendixDataplane returns a fake with the state of the original vnetd
// run that the list outputs below were captured from.
func appendixDataplane(t *testing.T) *controltest.Dataplane {
	dp := controltest.New()
	dp.SetVnets([]overlay.VnetInfo{
		{ID: mustVnetID(t, "1500"), Device: "vnif1500", Header: 0},
		{ID: wire.VnetIDPhysical},
	})
	dp.SetVarpEntries([]overlay.VarpEntry{{
		Vnet:  mustVnetID(t, "1500"),
		MAC:   mustMAC(t, "02:a8:b7:7b:5f:d3"),
		Addr:  netip.MustParseAddr("198.18.0.2"),
		State: overlay.VarpReachable,
		Age:   973 * time.Millisecond,
		Ref:   1,
	}})
	dp.SetVifs([]overlay.VifInfo{{
		Vnet: mustVnetID(t, "1500"),
		MAC:  mustMAC(t, "92:ca:cc:2c:02:c0"),
		Age:  45 * time.Millisecond,
	}})
	dp.SetPeers([]overlay.PeerInfo{{
		Addr:      netip.MustParseAddr("198.18.1.3"),
		Port:      1798,
		TxPackets: 2,
		RxPackets: 2,
	}})
	return dp
}

// TestListMatchesOriginal compares the list outputs with text that the
// original vnetd printed for the same state (with its id truncation fixed).
func TestListMatchesOriginal(t *testing.T) {
	dp := appendixDataplane(t)
	tests := []struct {
		command string
		want    string
	}{
		{"(vnet.list)", "" +
			"(vnet (id 0000:0000:0000:0000:0000:0000:0000:0001) (vnetif ) (security none) (header 0))\n" +
			"(vnet (id 0000:0000:0000:0000:0000:0000:0000:1500) (vnetif vnif1500) (security none) (header 0))\n"},
		{"(varp.list)", "" +
			"(varp \n" +
			" (device xen-br0)\n" +
			" (mcast_addr 224.10.0.1)\n" +
			" (ucast_addr 0.0.0.0)\n" +
			" (port 1798)\n" +
			" (encapsulation etherip_in_udp)\n" +
			" (entry_ttl 60000)\n" +
			")\n" +
			// Not the original's: limits did not exist there.
			"(varp_limits\n" +
			" (unknown_unicast flood)\n" +
			" (max_entries 8192)\n" +
			" (max_vifs 1024)\n" +
			" (learn_rate 2000)\n" +
			" (flood_rate 20000)\n" +
			")\n" +
			"(ventry \n" +
			" (ref 1)\n" +
			" (state reachable)\n" +
			" (flags -)\n" +
			" (addr 198.18.0.2)\n" +
			" (queue 0)\n" +
			" (age 973)\n" +
			" (vmac 02:a8:b7:7b:5f:d3)\n" +
			" (vnet 0000:0000:0000:0000:0000:0000:0000:1500)\n" +
			")\n"},
		{"(vif.list)", "" +
			"(viftable\n" +
			" (table_ttl 60000)\n" +
			" (entry_ttl 60000)\n" +
			" (sweeps 0)\n" +
			")\n" +
			"(vif\n" +
			" (vnet 0000:0000:0000:0000:0000:0000:0000:1500)\n" +
			" (vmac 92:ca:cc:2c:02:c0)\n" +
			" (age 45)\n" +
			")\n"},
		{"(peer.list)", "" +
			"(vnet_peer\n" +
			"  (addr 198.18.1.3)\n" +
			"  (port 1798)\n" +
			"  (tx_packets 2)\n" +
			"  (rx_packets 2)\n" +
			")\n"},
	}
	for _, tt := range tests {
		out, err := run(t, dp, tt.command)
		if err != nil {
			t.Fatalf("%s: %v", tt.command, err)
		}
		if out != tt.want {
			t.Errorf("%s output:\n%s\nwant:\n%s", tt.command, out, tt.want)
		}
	}
}

// TestListGolden checks the list outputs against testdata/*.golden. Run
// with -update to rewrite them.
func TestListGolden(t *testing.T) {
	tests := []struct {
		name    string
		command string
		setup   func(dp *controltest.Dataplane)
	}{
		{
			name:    "vnet-list",
			command: "(vnet.list)",
			setup: func(dp *controltest.Dataplane) {
				dp.SetVnets([]overlay.VnetInfo{
					{ID: mustVnetID(t, "ffff:0:0:0:0:0:0:2"), Device: "vnbig", Security: overlay.SecurityConf, Header: 64, MTU: 1436},
					{ID: mustVnetID(t, "1500"), Device: "vnif1500", Header: 64, MTU: 1436},
					{ID: wire.VnetIDPhysical},
					{ID: mustVnetID(t, "2"), Device: "vnif0002", Security: overlay.SecurityAuth, Header: 64, MTU: 1436},
				})
			},
		},
		{
			name:    "vnet-list-physical-only",
			command: "(vnet.list)",
		},
		{
			name:    "vif-list-empty",
			command: "(vif.list)",
		},
		{
			name:    "vif-list",
			command: "(vif.list)",
			setup: func(dp *controltest.Dataplane) {
				dp.SetVifs([]overlay.VifInfo{
					{Vnet: mustVnetID(t, "1501"), MAC: mustMAC(t, "02:00:00:00:00:01"), Age: 59999 * time.Millisecond, Static: true},
					{Vnet: mustVnetID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:02"), Age: 1500 * time.Microsecond},
					{Vnet: mustVnetID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:01"), Age: -time.Second},
				})
			},
		},
		{
			name:    "varp-list",
			command: "(varp.list)",
			setup: func(dp *controltest.Dataplane) {
				dp.SetVarpEntries([]overlay.VarpEntry{
					{Vnet: mustVnetID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:09"), Addr: netip.MustParseAddr("198.18.0.9"), State: overlay.VarpFailed, Age: 30 * time.Second},
					{Vnet: mustVnetID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:03"), State: overlay.VarpIncomplete, Probing: true, Queue: 3, Ref: 2},
					{Vnet: mustVnetID(t, "2"), MAC: mustMAC(t, "02:00:00:00:00:05"), Addr: netip.MustParseAddr("198.18.0.5"), State: overlay.VarpReachable, Age: 10 * time.Millisecond, Ref: 1},
					{Vnet: mustVnetID(t, "2"), MAC: mustMAC(t, "02:00:00:00:00:06"), Addr: netip.MustParseAddr("198.18.0.6"), State: 0},
				})
			},
		},
		{
			name:    "varp-list-unset",
			command: "(varp.list)",
			setup: func(dp *controltest.Dataplane) {
				// An empty device, unset addresses and no
				// encapsulation print as empty fields and 0.0.0.0.
				dp.SetVarp(overlay.VarpInfo{})
			},
		},
		{
			name:    "peer-list",
			command: "(peer.list)",
			setup: func(dp *controltest.Dataplane) {
				dp.SetPeers([]overlay.PeerInfo{
					{Addr: netip.MustParseAddr("198.19.0.1"), Port: 1798, TxPackets: 5, RxPackets: 7},
					{Addr: netip.MustParseAddr("198.18.1.3"), Port: 2000, TxPackets: 18446744073709551615, RxPackets: 0},
				})
			},
		},
		{
			name:    "peer-list-empty",
			command: "(peer.list)",
		},
		{
			name:    "stats-list",
			command: "(stats.list)",
			setup: func(dp *controltest.Dataplane) {
				dp.SetStats([]overlay.CounterSet{
					{Scope: "port u0 queue 0", Counters: []overlay.Counter{
						{Name: "rx_frames", Value: 12},
						{Name: "tx_frames", Value: 7},
						{Name: "drop_short", Value: 0},
					}},
					{Scope: "vnet " + id1500, Counters: []overlay.Counter{
						{Name: "rx_frames", Value: 3},
					}},
					{Scope: "empty"},
				})
			},
		},
		{
			name:    "stats-list-empty",
			command: "(stats.list)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := controltest.New()
			if tt.setup != nil {
				tt.setup(dp)
			}
			out, cmdErr := run(t, dp, tt.command)
			if cmdErr != nil {
				t.Fatalf("%s: %v", tt.command, cmdErr)
			}
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file: %v (run go test -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("%s output:\n%s\nwant (%s):\n%s", tt.command, out, path, want)
			}

			// Every list output reads back as S-expressions.
			if _, err := ParseAll(out); err != nil {
				t.Errorf("%s output does not parse: %v", tt.command, err)
			}
		})
	}
}

func TestListDoesNotReorderDataplaneSlices(t *testing.T) {
	vnets := []overlay.VnetInfo{{ID: mustVnetID(t, "3")}, {ID: mustVnetID(t, "2")}}
	appendVnetList(nil, vnets)
	if vnets[0].ID != mustVnetID(t, "3") {
		t.Errorf("appendVnetList sorted the caller's slice")
	}
}

// FuzzCommand feeds each command arbitrary field values and checks that it
// returns output or an error with a valid code, and never panics.
func FuzzCommand(f *testing.F) {
	f.Add(uint8(0), "id", "1500", "vnetif", "vnif1500")
	f.Add(uint8(2), "vnet", "1500", "vmac", "02:00:00:00:00:01")
	f.Add(uint8(4), "addr", "198.18.0.1", "port", "1798")
	f.Add(uint8(6), "addr", "224.10.0.1", "", "")
	f.Add(uint8(0), "security", "conf", "id", "0:0:0:0:0:0:0:1")
	names := commandNames()
	validCodes := []string{CodeExists, CodeNotFound, CodeInvalid, CodeUnsupported, CodeNoCommand, CodeIO}
	f.Fuzz(func(t *testing.T, which uint8, name1, value1, name2, value2 string) {
		dp := controltest.New()
		ev := &evaluator{dp: dp}
		// Start from a vnet and a peer, so that deletes can succeed.
		for _, setup := range []string{"(vnet.add (id 1500))", "(peer.add (addr 198.18.0.1))"} {
			exprs, _ := ParseAll(setup)
			ev.eval(exprs[0], nil)
		}
		head := names[int(which)%len(names)]
		cmd := List(Atom(head), List(Atom(name1), Atom(value1)), List(Atom(name2), Atom(value2)))
		for _, e := range []Expr{cmd, List(cmd.Elems()[:2]...), List(Atom(head), List(Atom(name1), Atom(value1), Atom(value2)))} {
			out, _, err := ev.eval(e, nil)
			if err != nil {
				if !slices.Contains(validCodes, err.Code) || err.Message == "" {
					t.Fatalf("%s: error %+v", e, err)
				}
				if len(out) != 0 {
					t.Fatalf("%s: output %q with error", e, out)
				}
			}
		}
	})
}
