package control

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

const key16Hex = "00112233445566778899aabbccddeeff"

func TestParseKey(t *testing.T) {
	tests := []struct {
		text    string
		size    int    // 0 for an error
		message string // a part of the error
	}{
		{key16Hex, 16, ""},
		{strings.ToUpper(key16Hex), 16, ""},
		{key16Hex + key16Hex, 32, ""},
		{"", 0, "it has 0 characters (use 32 or 64 hex digits, a 16- or 32-byte key)"},
		{key16Hex[:30], 0, "it has 30 characters"},
		{key16Hex + "00", 0, "it has 34 characters"},
		{key16Hex[:31] + "g", 0, "not a hex digit"},
		{key16Hex[:31] + " ", 0, "not a hex digit"},
	}
	for _, tt := range tests {
		key, err := parseKey(tt.text)
		if tt.size == 0 {
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("parseKey(%q) = %v, want an error containing %q", tt.text, err, tt.message)
			}
			if err != nil && len(tt.text) > 8 && strings.Contains(err.Error(), tt.text[:8]) {
				t.Errorf("parseKey(%q) error %q contains the key text", tt.text, err)
			}
			continue
		}
		if err != nil || len(key) != tt.size {
			t.Errorf("parseKey(%q) = %d bytes, %v, want %d bytes", tt.text, len(key), err, tt.size)
		}
	}
}

func TestCheckKeyFileName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"vnet-1500.key", true},
		{"A_b-c.9", true},
		{strings.Repeat("k", 255), true},
		{"", false},
		{strings.Repeat("k", 256), false},
		{".key", false},
		{"..", false},
		{"dir/key", false},
		{"/etc/shadow", false},
		{"key name", false},
		{"key\x00", false},
	}
	for _, tt := range tests {
		if err := checkKeyFileName(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkKeyFileName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestKeyStoreSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ks := keyStore{dir: dir}
	id := wire.VnetIDFromUint16(0x1500)
	key := bytes.Repeat([]byte{0xab}, 32)

	name, err := ks.save(id, key)
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	if want := "vnet-0000-0000-0000-0000-0000-0000-0000-1500.key"; name != want {
		t.Errorf("save returned name %q, want %q", name, want)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, name): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", path, got, want)
		}
	}
	got, err := ks.load(name)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !bytes.Equal(got, key) {
		t.Errorf("load = %x, want %x", got, key)
	}
}

func TestKeyStoreLoadRejects(t *testing.T) {
	dir := t.TempDir()
	ks := keyStore{dir: dir}
	write := func(name, text string, mode os.FileMode) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("readable", key16Hex+"\n", 0o644)
	write("short", "0011\n", 0o600)
	write("long", strings.Repeat("0", 5000), 0o600)
	if err := os.Symlink(filepath.Join(dir, "short"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, message string }{
		{"readable", "has mode 0644 (make it readable by its owner only: chmod 600"},
		{"short", "invalid key: it has 4 characters"},
		{"long", "invalid key: it has 4096 characters"},
		{"link", "too many levels of symbolic links"},
		{"subdir", "is not a regular file"},
		{"missing", "no such file"},
		{"../escape", "starts with '.'"},
		{"sub/escape", "not allowed"},
	}
	for _, tt := range tests {
		_, err := ks.load(tt.name)
		if err == nil || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("load(%q) = %v, want an error containing %q", tt.name, err, tt.message)
		}
	}
}

// TestStateNeverContainsKey checks that a state with a keyed vnet refers
// to the key file only.
func TestStateNeverContainsKey(t *testing.T) {
	dir := t.TempDir()
	ks := keyStore{dir: filepath.Join(dir, "keys")}
	id := wire.VnetIDFromUint16(0x1500)
	name, err := ks.save(id, bytes.Repeat([]byte{0x5a}, 16))
	if err != nil {
		t.Fatal(err)
	}
	s := newState()
	s.group = netip.MustParseAddr("224.10.0.1")
	s.vnets[id] = vnetRecord{id: id, device: "vnif1500", security: overlay.SecurityConf, keyFile: name}
	text := string(s.encode())
	if strings.Contains(text, "5a5a5a5a") {
		t.Errorf("state contains key material:\n%s", text)
	}
	if !strings.Contains(text, "(key-file "+name+")") {
		t.Errorf("state lacks the key file reference (key-file %s):\n%s", name, text)
	}
}

// TestVnetAddKeyDirectory checks where vnet.add takes a secure vnet's key
// from when vnetd has a key directory: an inline key is saved there, and
// without one the vnet's default file or the named file is read.
func TestVnetAddKeyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	dp := controltest.New()
	ev := &evaluator{dp: dp, keys: &keyStore{dir: dir}}
	add := func(command string) *Error {
		t.Helper()
		exprs, err := ParseAll(command)
		if err != nil {
			t.Fatal(err)
		}
		_, _, cmdErr := ev.eval(exprs[0], nil)
		return cmdErr
	}

	// An inline key is saved under the vnet's default name.
	if err := add("(vnet.add (id 1500) (security conf) (key " + key16Hex + "))"); err != nil {
		t.Fatalf("vnet.add with key: %v", err)
	}
	id1500 := wire.VnetIDFromUint16(0x1500)
	saved, err := os.ReadFile(filepath.Join(dir, keyFileName(id1500)))
	if err != nil || strings.TrimSpace(string(saved)) != key16Hex {
		t.Errorf("saved key file = %q, %v, want %s", saved, err, key16Hex)
	}
	if got := dp.Key(id1500); hex.EncodeToString(got) != key16Hex {
		t.Errorf("dataplane key = %x, want %s", got, key16Hex)
	}

	// Without key or key-file, the vnet's default file is read.
	id1501 := wire.VnetIDFromUint16(0x1501)
	long := strings.Repeat("0123456789abcdef", 4)
	if err := os.WriteFile(filepath.Join(dir, keyFileName(id1501)), []byte(long+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := add("(vnet.add (id 1501) (security auth))"); err != nil {
		t.Fatalf("vnet.add with the default key file: %v", err)
	}
	if got := dp.Key(id1501); hex.EncodeToString(got) != long {
		t.Errorf("dataplane key = %x, want %s", got, long)
	}

	// A named file is read; a missing one is an error naming its path.
	if err := os.WriteFile(filepath.Join(dir, "shared.key"), []byte(key16Hex), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := add("(vnet.add (id 1502) (security conf) (key-file shared.key))"); err != nil {
		t.Fatalf("vnet.add with key-file: %v", err)
	}
	cmdErr := add("(vnet.add (id 1503) (security conf) (key-file missing.key))")
	if cmdErr == nil || cmdErr.Code != CodeInvalid || !strings.Contains(cmdErr.Message, filepath.Join(dir, "missing.key")) {
		t.Errorf("vnet.add with a missing key file = %v, want EINVAL naming %s", cmdErr, filepath.Join(dir, "missing.key"))
	}
	cmdErr = add("(vnet.add (id 1504) (security conf))")
	if cmdErr == nil || cmdErr.Code != CodeInvalid || !strings.Contains(cmdErr.Message, keyFileName(wire.VnetIDFromUint16(0x1504))) {
		t.Errorf("vnet.add without a key file = %v, want EINVAL naming the default file", cmdErr)
	}

	// A key file others can read is refused.
	if err := os.WriteFile(filepath.Join(dir, "open.key"), []byte(key16Hex), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "open.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmdErr = add("(vnet.add (id 1505) (security conf) (key-file open.key))")
	if cmdErr == nil || !strings.Contains(cmdErr.Message, "chmod 600") {
		t.Errorf("vnet.add with a key file of mode 0644 = %v, want an error saying chmod 600", cmdErr)
	}
	if calls := dp.Calls(); len(calls) != 3 {
		t.Errorf("dataplane calls %q, want the three vnets with keys only", calls)
	}
}
