package control

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

const (
	id1501 = "0000:0000:0000:0000:0000:0000:0000:1501"
	macA   = "02:00:00:00:00:0a"
	macB   = "02:00:00:00:00:0b"
)

// listenWithState returns a server on a new socket with state directory
// dir, closed when the test ends. It does not serve the socket.
func listenWithState(t *testing.T, dp Dataplane, dir string, log *zap.Logger) *Server {
	t.Helper()
	srv, err := Listen(Config{
		Path:      filepath.Join(t.TempDir(), "vnetd"),
		Dataplane: dp,
		StateDir:  dir,
		Logger:    log,
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// do runs one command given as text on the server's evaluator.
func do(t *testing.T, srv *Server, text string) *Error {
	t.Helper()
	exprs, err := ParseAll(text)
	if err != nil || len(exprs) != 1 {
		t.Fatalf("parse %q = %v, %v, want one expression", text, exprs, err)
	}
	_, _, cmdErr := srv.eval.eval(exprs[0], nil)
	return cmdErr
}

func mustDo(t *testing.T, srv *Server, text string) {
	t.Helper()
	if err := do(t, srv, text); err != nil {
		t.Fatalf("%s: %s %s", text, err.Code, err.Message)
	}
}

// stateCommands returns the commands of the state file in dir, one per
// line, without the comment.
func stateCommands(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, StateFileName))
	if err != nil {
		t.Fatalf("read state file: %v", err)
	}
	var cmds []string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

func writeState(t *testing.T, dir, text string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFileName), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// asideFiles returns the names of the set-aside state files in dir.
func asideFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), StateFileName+badSuffix) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestStateEncode(t *testing.T) {
	s := newState()
	s.group = netip.MustParseAddr("239.1.2.3")
	s.peers[netip.MustParseAddr("198.18.1.20")] = 1798
	s.peers[netip.MustParseAddr("198.18.1.3")] = 1799
	id := wire.VnetIDFromUint16(0x1500)
	big, _ := wire.ParseVnetID("1:0:0:0:0:0:0:2")
	s.vnets[big] = vnetRecord{id: big, device: "vnbig", security: overlay.SecurityConf, keyFile: "vnbig.key"}
	s.vnets[id] = vnetRecord{id: id, device: "vnif1500"}
	s.vifs[vifKey{vnet: big, mac: wire.MAC{2, 0, 0, 0, 0, 1}}] = struct{}{}
	s.vifs[vifKey{vnet: id, mac: wire.MAC{2, 0, 0, 0, 0, 0xb}}] = struct{}{}
	s.vifs[vifKey{vnet: id, mac: wire.MAC{2, 0, 0, 0, 0, 0xa}}] = struct{}{}

	want := stateHeader +
		"(varp.mcaddr (addr 239.1.2.3))\n" +
		"(peer.add (addr 198.18.1.3) (port 1799))\n" +
		"(peer.add (addr 198.18.1.20) (port 1798))\n" +
		"(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))\n" +
		"(vnet.add (id 0001:0000:0000:0000:0000:0000:0000:0002) (vnetif vnbig) (security conf) (key-file vnbig.key))\n" +
		"(vif.add (vnet " + id1500 + ") (vmac 02:00:00:00:00:0a))\n" +
		"(vif.add (vnet " + id1500 + ") (vmac 02:00:00:00:00:0b))\n" +
		"(vif.add (vnet 0001:0000:0000:0000:0000:0000:0000:0002) (vmac 02:00:00:00:00:01))\n"
	if got := string(s.encode()); got != want {
		t.Errorf("encode() =\n%s\nwant\n%s", got, want)
	}
	if got := string(newState().encode()); got != stateHeader {
		t.Errorf("encode() of the empty state = %q, want the header only", got)
	}
}

// TestStateFollowsCommands checks the state file after each command of a
// sequence: changes are saved, and failed or listing commands leave the
// file as it was.
func TestStateFollowsCommands(t *testing.T) {
	vnet1500 := "(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))"
	vnet1501 := "(vnet.add (id " + id1501 + ") (vnetif vn1501) (security none))"
	vifA := "(vif.add (vnet " + id1500 + ") (vmac " + macA + "))"
	peer := "(peer.add (addr 198.18.1.3) (port 1798))"
	steps := []struct {
		command string
		code    string // "" for success
		want    []string
	}{
		{"(vnet.list)", "", nil},
		{"(vnet.add (id 1500))", "", []string{vnet1500}},
		{"(vnet.add (id 1500) (vnetif other))", CodeExists, []string{vnet1500}},
		{"(vnet.add (id 1501) (vnetif vn1501))", "", []string{vnet1500, vnet1501}},
		{"(vif.add (vnet 1500) (vmac 02-00-00-00-00-0A))", "", []string{vnet1500, vnet1501, vifA}},
		{"(vif.add (vnet 1500) (vmac " + macA + "))", "", []string{vnet1500, vnet1501, vifA}},
		{"(vif.add (vnet 1502) (vmac " + macA + "))", CodeNotFound, []string{vnet1500, vnet1501, vifA}},
		{"(peer.add (addr 198.18.1.3))", "", []string{peer, vnet1500, vnet1501, vifA}},
		{"(peer.add (addr 198.18.1.3) (port 1799))", "", []string{"(peer.add (addr 198.18.1.3) (port 1799))", vnet1500, vnet1501, vifA}},
		{"(peer.add (addr 198.18.1.3))", "", []string{peer, vnet1500, vnet1501, vifA}},
		{"(varp.mcaddr (addr 239.1.2.3))", "", []string{"(varp.mcaddr (addr 239.1.2.3))", peer, vnet1500, vnet1501, vifA}},
		{"(varp.mcaddr (addr 10.0.0.1))", CodeInvalid, []string{"(varp.mcaddr (addr 239.1.2.3))", peer, vnet1500, vnet1501, vifA}},
		{"(varp.flush)", "", []string{"(varp.mcaddr (addr 239.1.2.3))", peer, vnet1500, vnet1501, vifA}},
		{"(peer.del (addr 198.18.1.3))", "", []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1500, vnet1501, vifA}},
		{"(peer.del (addr 198.18.1.3))", CodeNotFound, []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1500, vnet1501, vifA}},
		{"(vif.del (vnet 1500) (vmac " + macA + "))", "", []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1500, vnet1501}},
		{"(vif.add (vnet 1500) (vmac " + macB + "))", "", []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1500, vnet1501, "(vif.add (vnet " + id1500 + ") (vmac " + macB + "))"}},
		// Deleting a vnet deletes its vifs.
		{"(vnet.del (id 1500))", "", []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1501}},
		{"(vnet.del (id 1500))", CodeNotFound, []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1501}},
		{"(no.such.command)", CodeNoCommand, []string{"(varp.mcaddr (addr 239.1.2.3))", vnet1501}},
	}

	dir := t.TempDir()
	srv := listenWithState(t, controltest.New(), dir, nil)
	for i, step := range steps {
		err := do(t, srv, step.command)
		switch {
		case step.code == "" && err != nil:
			t.Fatalf("step %d %s: error %s %q, want success", i, step.command, err.Code, err.Message)
		case step.code != "" && err == nil:
			t.Fatalf("step %d %s: success, want %s", i, step.command, step.code)
		case step.code != "" && err.Code != step.code:
			t.Fatalf("step %d %s: error %s %q, want %s", i, step.command, err.Code, err.Message, step.code)
		}
		if i == 0 {
			// Nothing has changed yet, so nothing was saved.
			if _, err := os.Stat(filepath.Join(dir, StateFileName)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("step %d %s: state file exists (%v), want none before the first change", i, step.command, err)
			}
			continue
		}
		if got := stateCommands(t, dir); !slices.Equal(got, step.want) {
			t.Fatalf("step %d %s: state file\n%s\nwant\n%s", i, step.command, strings.Join(got, "\n"), strings.Join(step.want, "\n"))
		}
	}
}

func TestStateFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	srv := listenWithState(t, controltest.New(), dir, nil)
	mustDo(t, srv, "(vnet.add (id 1500))")
	for path, want := range map[string]fs.FileMode{
		dir:                               0o700,
		filepath.Join(dir, StateFileName): 0o600,
		filepath.Join(dir, lockFileName):  0o600,
	} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", path, got, want)
		}
	}
}

// TestSaveFailureIsReported checks that a change the dataplane accepted
// but that could not be saved gets an EIO error instead of (ok), and that
// the next saved change includes it.
func TestSaveFailureIsReported(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	dp := controltest.New()
	srv := listenWithState(t, dp, dir, nil)
	mustDo(t, srv, "(vnet.add (id 1500))")

	// Without its directory, the state file cannot be written.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := do(t, srv, "(peer.add (addr 198.18.1.3))")
	if err == nil {
		t.Fatal("peer.add with an unwritable state succeeded, want EIO")
	}
	if err.Code != CodeIO {
		t.Errorf("peer.add: code %s, want %s", err.Code, CodeIO)
	}
	for _, part := range []string{"peer 198.18.1.3 added, but saving the state failed", "is in effect until vnetd restarts"} {
		if !strings.Contains(err.Message, part) {
			t.Errorf("peer.add: message %q, want it to contain %q", err.Message, part)
		}
	}
	if peers := dp.Peers(); len(peers) != 1 {
		t.Errorf("dataplane peers = %v, want the peer added", peers)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mustDo(t, srv, "(varp.flush)")
	if _, err := os.Stat(filepath.Join(dir, StateFileName)); err == nil {
		t.Fatal("varp.flush saved the state, want no save for a command that changes nothing")
	}
	mustDo(t, srv, "(vnet.add (id 1501))")
	want := []string{
		"(peer.add (addr 198.18.1.3) (port 1798))",
		"(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))",
		"(vnet.add (id " + id1501 + ") (vnetif vnif1501) (security none))",
	}
	if got := stateCommands(t, dir); !slices.Equal(got, want) {
		t.Errorf("state after the next change:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFailedDeleteOfVanishedVnet checks that a vnet.del that fails after
// the dataplane removed the vnet also removes it from the state.
func TestFailedDeleteOfVanishedVnet(t *testing.T) {
	dir := t.TempDir()
	dp := controltest.New()
	srv := listenWithState(t, dp, dir, nil)
	mustDo(t, srv, "(vnet.add (id 1500))")
	mustDo(t, srv, "(vnet.add (id 1501))")

	dp.FailNextAfterChange(errors.New("delete devices vnif1500+ and vnif1500: device busy"))
	err := do(t, srv, "(vnet.del (id 1500))")
	if err == nil || err.Code != CodeIO {
		t.Fatalf("vnet.del = %v, want EIO", err)
	}
	want := []string{"(vnet.add (id " + id1501 + ") (vnetif vnif1501) (security none))"}
	if got := stateCommands(t, dir); !slices.Equal(got, want) {
		t.Errorf("state after the failed delete:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A failure that leaves the vnet in place leaves it in the state.
	dp.FailNext(errors.New("device busy"))
	if err := do(t, srv, "(vnet.del (id 1501))"); err == nil {
		t.Fatal("vnet.del with an injected failure succeeded")
	}
	if got := stateCommands(t, dir); !slices.Equal(got, want) {
		t.Errorf("state after a failed delete that kept the vnet:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRestoreState(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, `# comment
(varp.mcaddr (addr 239.1.2.3))
(peer.add (addr 198.18.1.3) (port 1799))
(vnet.add (id 1500))
(vnet.add (id 0:0:0:0:0:0:1:2a00) (vnetif vn2a00) (security none))
(vif.add (vnet 1500) (vmac 02-00-00-00-00-0A))
`)
	core, logs := observer.New(zapcore.InfoLevel)
	dp := controltest.New()
	srv := listenWithState(t, dp, dir, zap.New(core))
	if err := srv.Restore(nil); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	wantCalls := []string{
		"SetGroup 239.1.2.3",
		"AddPeer 198.18.1.3 1799",
		"AddVnet " + id1500 + " vnif1500 none",
		"AddVnet 0000:0000:0000:0000:0000:0000:0001:2a00 vn2a00 none",
		"AddVif " + id1500 + " 02:00:00:00:00:0a",
	}
	if got := dp.Calls(); !slices.Equal(got, wantCalls) {
		t.Errorf("dataplane calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}
	// The file is rewritten in its normal form.
	wantState := []string{
		"(varp.mcaddr (addr 239.1.2.3))",
		"(peer.add (addr 198.18.1.3) (port 1799))",
		"(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))",
		"(vnet.add (id 0000:0000:0000:0000:0000:0000:0001:2a00) (vnetif vn2a00) (security none))",
		"(vif.add (vnet " + id1500 + ") (vmac 02:00:00:00:00:0a))",
	}
	if got := stateCommands(t, dir); !slices.Equal(got, wantState) {
		t.Errorf("state file after Restore\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantState, "\n"))
	}
	if got := asideFiles(t, dir); len(got) != 0 {
		t.Errorf("set-aside files %v, want none after a clean restore", got)
	}
	restored := logs.FilterMessage("state restored").All()
	if len(restored) != 1 {
		t.Fatalf("%d \"state restored\" messages, want 1", len(restored))
	}
	if fields := restored[0].ContextMap(); fields["applied"] != int64(5) || fields["failed"] != int64(0) {
		t.Errorf("state restored with %v, want applied 5 and failed 0", fields)
	}
	if n := logs.FilterMessage("state saved").Len(); n != 1 {
		t.Errorf("%d \"state saved\" messages during Restore, want 1", n)
	}
}

// TestRestoreRoundTrip checks that the saved state of one server,
// restored by another, gives the same dataplane tables and state file.
func TestRestoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	dp1 := controltest.New()
	srv1 := listenWithState(t, dp1, dir, nil)
	for _, cmd := range []string{
		"(vnet.add (id 1500))",
		"(vnet.add (id ffff:0:0:0:0:0:0:2) (vnetif vnbig))",
		"(vif.add (vnet 1500) (vmac " + macA + "))",
		"(vif.add (vnet ffff:0:0:0:0:0:0:2) (vmac " + macB + "))",
		"(peer.add (addr 198.18.1.3) (port 4000))",
		"(peer.add (addr 198.18.1.4))",
		"(varp.mcaddr (addr 224.10.0.9))",
		"(varp.limits (entries 100) (flood_rate 5000))",
		"(peer.del (addr 198.18.1.4))",
	} {
		mustDo(t, srv1, cmd)
	}
	saved := stateCommands(t, dir)
	// Every kind of command that a state file holds is restored.
	for _, head := range []string{"varp.mcaddr", "varp.limits", "peer.add", "vnet.add", "vif.add"} {
		if !slices.ContainsFunc(saved, func(c string) bool { return strings.HasPrefix(c, "("+head+" ") }) {
			t.Errorf("state lacks a %s command:\n%s", head, strings.Join(saved, "\n"))
		}
	}
	if err := srv1.Close(); err != nil {
		t.Fatal(err)
	}

	dp2 := controltest.New()
	srv2 := listenWithState(t, dp2, dir, nil)
	if err := srv2.Restore(nil); err != nil {
		t.Fatal(err)
	}
	if got := stateCommands(t, dir); !slices.Equal(got, saved) {
		t.Errorf("state after restore\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(saved, "\n"))
	}
	if a, b := fmt.Sprint(dp1.Vnets()), fmt.Sprint(dp2.Vnets()); a != b {
		t.Errorf("restored vnets %s, want %s", b, a)
	}
	if a, b := fmt.Sprint(dp1.Vifs()), fmt.Sprint(dp2.Vifs()); a != b {
		t.Errorf("restored vifs %s, want %s", b, a)
	}
	if a, b := fmt.Sprint(dp1.Peers()), fmt.Sprint(dp2.Peers()); a != b {
		t.Errorf("restored peers %s, want %s", b, a)
	}
	if a, b := dp1.Varp().Group, dp2.Varp().Group; a != b {
		t.Errorf("restored group %s, want %s", b, a)
	}
	if a, b := dp1.Varp().Limits, dp2.Varp().Limits; a != b {
		t.Errorf("restored limits %+v, want %+v", b, a)
	}
	if asides, _ := filepath.Glob(filepath.Join(dir, "state.sxp.bad-*")); len(asides) > 0 {
		t.Errorf("the restore set state files aside: %v", asides)
	}
}

func TestRestoreSyntaxError(t *testing.T) {
	dir := t.TempDir()
	text := "(vnet.add (id 1500))\n(peer.add (addr 198.18.1.3))\n(vnet.add (id 1501)\n(vnet.add (id 1502))\n"
	writeState(t, dir, text)
	core, logs := observer.New(zapcore.InfoLevel)
	dp := controltest.New()
	srv := listenWithState(t, dp, dir, zap.New(core))
	srv.eval.persist.store.now = func() time.Time { return time.Date(2026, 12, 4, 20, 31, 9, 0, time.UTC) }
	if err := srv.Restore(nil); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	// The file is kept aside unchanged.
	aside := StateFileName + ".bad-20261204T203109Z"
	if got := asideFiles(t, dir); !slices.Equal(got, []string{aside}) {
		t.Fatalf("set-aside files %v, want [%s]", got, aside)
	}
	if b, err := os.ReadFile(filepath.Join(dir, aside)); err != nil || string(b) != text {
		t.Errorf("set-aside file = %q, %v, want the original text", b, err)
	}
	// The commands before the error are restored and saved.
	want := []string{
		"(peer.add (addr 198.18.1.3) (port 1798))",
		"(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))",
	}
	if got := stateCommands(t, dir); !slices.Equal(got, want) {
		t.Errorf("state after Restore\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(dp.Vnets()); n != 2 {
		t.Errorf("dataplane has %d vnets, want 2 (the physical vnet and 1500)", n)
	}
	entries := logs.FilterMessageSnippet("does not parse").All()
	if len(entries) != 1 {
		t.Fatalf("%d messages about the syntax error, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if msg, _ := fields["error"].(string); !strings.Contains(msg, "the list that starts at line 3, column 1") {
		t.Errorf("syntax error logged as %q, want it to name line 3, where the unclosed list starts", msg)
	}
	if fields["kept_as"] != filepath.Join(dir, aside) {
		t.Errorf("logged kept_as = %v, want %s", fields["kept_as"], filepath.Join(dir, aside))
	}
	if n := logs.FilterMessageSnippet("starts with the part of its saved state").Len(); n != 1 {
		t.Errorf("%d messages saying vnetd starts with part of its state, want 1", n)
	}
}

func TestRestoreFailedCommands(t *testing.T) {
	dir := t.TempDir()
	text := "(vnet.add (id 1500))\n(vnet.add (id 1501) (vnetif vnif1500))\n(vnet.del (id 1500))\n(vif.add (vnet 1502) (vmac " + macA + "))\n(peer.add (addr 198.18.1.3))\n"
	writeState(t, dir, text)
	core, logs := observer.New(zapcore.InfoLevel)
	srv := listenWithState(t, controltest.New(), dir, zap.New(core))
	if err := srv.Restore(nil); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	asides := asideFiles(t, dir)
	if len(asides) != 1 {
		t.Fatalf("set-aside files %v, want one copy", asides)
	}
	if b, err := os.ReadFile(filepath.Join(dir, asides[0])); err != nil || string(b) != text {
		t.Errorf("copy of the state file = %q, %v, want the original text", b, err)
	}
	want := []string{
		"(peer.add (addr 198.18.1.3) (port 1798))",
		"(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))",
	}
	if got := stateCommands(t, dir); !slices.Equal(got, want) {
		t.Errorf("state after Restore\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var failedLines []int64
	for _, e := range logs.FilterMessage("restore command failed").All() {
		failedLines = append(failedLines, e.ContextMap()["line"].(int64))
	}
	if !slices.Equal(failedLines, []int64{2, 3, 4}) {
		t.Errorf("failed commands logged at lines %v, want [2 3 4]", failedLines)
	}
}

func TestRestoreWithoutStateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	dp := controltest.New()
	srv := listenWithState(t, dp, dir, nil)
	if err := srv.Restore(nil); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if calls := dp.Calls(); len(calls) != 0 {
		t.Errorf("dataplane calls %q, want none", calls)
	}
	if got := stateCommands(t, dir); len(got) != 0 {
		t.Errorf("state file %q, want no commands", got)
	}
}

func TestRestoreUnreadableState(t *testing.T) {
	dir := t.TempDir()
	// A directory in place of the state file cannot be read.
	if err := os.Mkdir(filepath.Join(dir, StateFileName), 0o700); err != nil {
		t.Fatal(err)
	}
	srv := listenWithState(t, controltest.New(), dir, nil)
	if err := srv.Restore(nil); err == nil || !strings.Contains(err.Error(), "read state file") {
		t.Errorf("Restore = %v, want an error reading the state file", err)
	}
}

func writeCommandFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vnetd.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadCommandFileErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"syntax", "(peer.add (addr 198.18.1.3))\n(vnet.add (id 1500)", "unexpected end of input inside the list that starts at line 2, column 1"},
		{"list command", "(peer.add (addr 198.18.1.3))\n\n  (vnet.list)", "line 3: (vnet.list) is not a configuration command (use peer.add, peer.del, varp.flush, varp.limits, varp.mcaddr, vif.add, vif.del, vnet.add, vnet.del)"},
		{"unknown command", "(vnet.print)", "line 1: (vnet.print) is not a configuration command"},
		{"atom", "peer.add", "line 1: peer.add is not a configuration command"},
	}
	for _, tt := range tests {
		path := writeCommandFile(t, tt.text)
		_, err := ReadCommandFile(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: ReadCommandFile = %v, want an error naming %s and containing %q", tt.name, err, path, tt.want)
		}
	}
	if _, err := ReadCommandFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadCommandFile of a missing file = %v, want fs.ErrNotExist", err)
	}
}

// TestStartupFileAfterState checks that the startup file runs after the
// restored state, that objects the state already created are skipped,
// and that the result is saved.
func TestStartupFileAfterState(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, "(vnet.add (id 1500))\n(peer.add (addr 198.18.1.3))\n")
	startup, err := ReadCommandFile(writeCommandFile(t, `# the original's configuration file
(peer.add (addr 198.18.1.4) (port 1798))
(varp.mcaddr (addr 224.10.0.2))
(vnet.add (id 1500))
(vnet.add (id 1501))
(vif.add (vnet 1502) (vmac 02:00:00:00:00:0a))
(peer.del (addr 198.18.1.3))
`))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	dp := controltest.New()
	srv := listenWithState(t, dp, dir, zap.New(core))
	if err := srv.Restore(startup); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	wantCalls := []string{
		"AddVnet " + id1500 + " vnif1500 none",
		"AddPeer 198.18.1.3 1798",
		"AddPeer 198.18.1.4 1798",
		"SetGroup 224.10.0.2",
		"AddVnet " + id1500 + " vnif1500 none",
		"AddVnet " + id1501 + " vnif1501 none",
		"AddVif 0000:0000:0000:0000:0000:0000:0000:1502 02:00:00:00:00:0a",
		"DeletePeer 198.18.1.3",
	}
	if got := dp.Calls(); !slices.Equal(got, wantCalls) {
		t.Errorf("dataplane calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}
	wantState := []string{
		"(varp.mcaddr (addr 224.10.0.2))",
		"(peer.add (addr 198.18.1.4) (port 1798))",
		"(vnet.add (id " + id1500 + ") (vnetif vnif1500) (security none))",
		"(vnet.add (id " + id1501 + ") (vnetif vnif1501) (security none))",
	}
	if got := stateCommands(t, dir); !slices.Equal(got, wantState) {
		t.Errorf("state after Restore\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantState, "\n"))
	}
	applied := logs.FilterMessage("startup file applied").All()
	if len(applied) != 1 {
		t.Fatalf("%d \"startup file applied\" messages, want 1", len(applied))
	}
	fields := applied[0].ContextMap()
	if fields["applied"] != int64(4) || fields["skipped"] != int64(1) || fields["failed"] != int64(1) {
		t.Errorf("startup file applied with %v, want applied 4, skipped 1, failed 1", fields)
	}
	failed := logs.FilterMessage("startup command failed").All()
	if len(failed) != 1 || failed[0].ContextMap()["line"] != int64(6) {
		t.Errorf("failed startup commands %v, want one at line 6", failed)
	}
}

// TestStartupFileWithoutStateDir checks that -f works when nothing is
// saved.
func TestStartupFileWithoutStateDir(t *testing.T) {
	startup, err := ReadCommandFile(writeCommandFile(t, "(vnet.add (id 1500))"))
	if err != nil {
		t.Fatal(err)
	}
	dp := controltest.New()
	srv, err := Listen(Config{Path: filepath.Join(t.TempDir(), "vnetd"), Dataplane: dp})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Restore(startup); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, want := dp.Calls(), []string{"AddVnet " + id1500 + " vnif1500 none"}; !slices.Equal(got, want) {
		t.Errorf("dataplane calls %q, want %q", got, want)
	}
}

func TestStateDirectoryLocked(t *testing.T) {
	dir := t.TempDir()
	listenWithState(t, controltest.New(), dir, nil)
	_, err := Listen(Config{Path: filepath.Join(t.TempDir(), "vnetd"), Dataplane: controltest.New(), StateDir: dir})
	if err == nil {
		t.Fatal("second Listen on a locked state directory succeeded")
	}
	want := fmt.Sprintf("it is in use by process %d (control.test)", os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}

func TestStateDirectoryUnlockedByClose(t *testing.T) {
	dir := t.TempDir()
	srv := listenWithState(t, controltest.New(), dir, nil)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	listenWithState(t, controltest.New(), dir, nil)
}

func TestOpenRemovesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	leftovers := []string{"." + StateFileName + ".tmp-123", "." + StateFileName + ".bad-20260101T000000Z.tmp-9"}
	for _, name := range append(leftovers, "other.tmp-1") {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("(vnet.add"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	listenWithState(t, controltest.New(), dir, nil)
	for _, name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after open: %v, want it removed", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "other.tmp-1")); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
}

func TestAsidePathUnique(t *testing.T) {
	dir := t.TempDir()
	s, err := openStateStore(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)) }
	var got []string
	for i := 0; i < 3; i++ {
		p, err := s.copyAside([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(p))
	}
	want := []string{StateFileName + ".bad-20260102T020405Z", StateFileName + ".bad-20260102T020405Z.1", StateFileName + ".bad-20260102T020405Z.2"}
	if !slices.Equal(got, want) {
		t.Errorf("copyAside names %v, want %v", got, want)
	}
}

// crashSaveDirEnv names the state directory of the helper process that
// TestStateFileSurvivesKill kills.
const crashSaveDirEnv = "VNETD_TEST_CRASH_SAVE_DIR"

// crashState returns version n of the state that the helper saves: 50
// peers that all have port n, so that a file mixing two versions shows.
func crashState(n int) []byte {
	s := newState()
	for i := 1; i <= 50; i++ {
		s.peers[netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})] = uint16(n)
	}
	return s.encode()
}

// TestStateSaveHelper saves new versions of the state until it is killed.
// It runs only as the helper process of TestStateFileSurvivesKill.
func TestStateSaveHelper(t *testing.T) {
	dir := os.Getenv(crashSaveDirEnv)
	if dir == "" {
		t.Skip("helper process of TestStateFileSurvivesKill")
	}
	store, err := openStateStore(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < 65536; n++ {
		if err := store.save(crashState(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStateFileSurvivesKill kills a process that saves the state in a
// loop, at random moments, and checks that the state file is always one
// complete version and that the directory can be used again at once.
func TestStateFileSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: runs helper processes")
	}
	dir := t.TempDir()
	for round := 0; round < 10; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStateSaveHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashSaveDirEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it save a few versions, then kill it during one.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(dir, StateFileName)); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()

		data, err := os.ReadFile(filepath.Join(dir, StateFileName))
		if err != nil {
			t.Fatalf("round %d: read state file after kill: %v", round, err)
		}
		stmts, err := ParseStatements(data)
		if err != nil {
			t.Fatalf("round %d: state file after kill does not parse: %v\n%s", round, err, data)
		}
		port, _ := stmts[0].Expr.Field("port")
		n, _ := strconv.Atoi(port)
		if want := crashState(n); string(data) != string(want) {
			t.Fatalf("round %d: state file after kill is not version %d:\n%s", round, n, data)
		}
		if n >= 65535 {
			t.Fatalf("round %d: the helper saved every version before it was killed", round)
		}

		// The kernel released the lock with the process, and the next
		// open removes the temporary file of an interrupted save.
		store, err := openStateStore(dir, zap.NewNop())
		if err != nil {
			t.Fatalf("round %d: open state directory after kill: %v", round, err)
		}
		store.close()
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), tempInfix) {
				t.Errorf("round %d: temporary file %s left after open", round, e.Name())
			}
		}
	}
}

// FuzzStateRoundTrip applies arbitrary commands as a restore does, then
// checks that the saved form of the resulting state parses, contains only
// restorable commands, and recreates the same state on a new dataplane.
func FuzzStateRoundTrip(f *testing.F) {
	f.Add([]byte("(vnet.add (id 1500)) (vif.add (vnet 1500) (vmac 02:00:00:00:00:0a)) (peer.add (addr 198.18.1.3) (port 9))"))
	f.Add([]byte("(varp.mcaddr (addr 239.0.0.1)) (vnet.add (id ffff:0:0:0:0:0:0:2) (vnetif a.b-c) (security none)) (vnet.del (id ffff:0:0:0:0:0:0:2))"))
	f.Add([]byte("(peer.add (addr 198.18.1.3)) (peer.del (addr 198.18.1.3)) (vnet.add (id 2) (security conf) (key-file k))"))
	f.Fuzz(func(t *testing.T, input []byte) {
		stmts, _ := ParseStatements(input)
		if len(stmts) > 64 {
			stmts = stmts[:64]
		}
		first := &evaluator{dp: controltest.New(), persist: &persistence{state: newState(), deferred: true, log: zap.NewNop()}}
		for _, st := range stmts {
			first.eval(st.Expr, nil)
		}
		saved := first.persist.state.encode()

		again, err := ParseStatements(saved)
		if err != nil {
			t.Fatalf("saved state does not parse: %v\n%s", err, saved)
		}
		second := &evaluator{dp: controltest.New(), persist: &persistence{state: newState(), deferred: true, log: zap.NewNop()}}
		for _, st := range again {
			head, _ := st.Expr.Head()
			if !slices.Contains(restorable, head) {
				t.Fatalf("saved state contains %s, which a restore rejects:\n%s", st.Source, saved)
			}
			if _, _, cmdErr := second.eval(st.Expr, nil); cmdErr != nil {
				t.Fatalf("restore of %s failed: %s %s\n%s", st.Source, cmdErr.Code, cmdErr.Message, saved)
			}
		}
		if resaved := second.persist.state.encode(); string(resaved) != string(saved) {
			t.Fatalf("restored state saves as\n%s\nwant\n%s", resaved, saved)
		}
	})
}
