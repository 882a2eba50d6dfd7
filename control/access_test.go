package control

import (
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vnet-xdp/vnet/control/controltest"
)

func TestAccessPolicyCheck(t *testing.T) {
	root := accessPolicy{uid: 0}
	group := accessPolicy{uid: 0, group: "vnet", gid: 1234}
	user := accessPolicy{uid: 1000, group: "vnet", gid: 1234}
	tests := []struct {
		name    string
		policy  accessPolicy
		cred    peerCred
		message string // "" when accepted
	}{
		{"root", root, peerCred{pid: 7, uid: 0, gid: 0}, ""},
		{"other user", root, peerCred{pid: 7, uid: 1000, gid: 1000}, "permission denied for uid 1000 (pid 7): the command socket accepts only root (run the client as root)"},
		{"root with group", group, peerCred{uid: 0}, ""},
		{"primary group", group, peerCred{uid: 1000, gid: 1234}, ""},
		{"supplementary group", group, peerCred{uid: 1000, gid: 1000, groups: []uint32{27, 1234}}, ""},
		{"not in group", group, peerCred{pid: 9, uid: 1000, gid: 1000, groups: []uint32{27}}, "permission denied for uid 1000 (pid 9): the command socket accepts only root and members of group vnet (add the user to group vnet, or run the client as root)"},
		{"daemon's own user", user, peerCred{uid: 1000, gid: 1000}, ""},
		{"third user", user, peerCred{pid: 3, uid: 1001, gid: 1001}, "the command socket accepts only root, uid 1000 that vnetd runs as, and members of group vnet"},
		{"third user without group", accessPolicy{uid: 1000}, peerCred{uid: 1001}, "the command socket accepts only root and uid 1000 that vnetd runs as"},
	}
	for _, tt := range tests {
		err := tt.policy.check(tt.cred)
		switch {
		case tt.message == "" && err != nil:
			t.Errorf("%s: check(%+v) = %v, want accepted", tt.name, tt.cred, err)
		case tt.message != "" && (err == nil || !strings.Contains(err.Error(), tt.message)):
			t.Errorf("%s: check(%+v) = %v, want an error containing %q", tt.name, tt.cred, err, tt.message)
		}
	}
}

func TestNewAccessPolicy(t *testing.T) {
	p, err := newAccessPolicy("")
	if err != nil || p.group != "" || p.socketMode() != 0o600 {
		t.Errorf("newAccessPolicy(\"\") = %+v, %v, want no group and mode 0600", p, err)
	}
	for _, name := range []string{"root", "0"} {
		p, err := newAccessPolicy(name)
		if err != nil || p.group != "root" || p.gid != 0 || p.socketMode() != 0o660 {
			t.Errorf("newAccessPolicy(%q) = %+v, %v, want group root, gid 0 and mode 0660", name, p, err)
		}
	}
	if _, err := newAccessPolicy("no-such-group-vnetd"); err == nil || !strings.Contains(err.Error(), `look up socket group "no-such-group-vnetd": no such group`) {
		t.Errorf("newAccessPolicy of an unknown group = %v, want a no such group error", err)
	}
}

// TestPeerCredentials checks SO_PEERCRED and SO_PEERGROUPS on a real
// connection from this process.
func TestPeerCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cred, err := readPeerCred(conn)
	if err != nil {
		t.Fatalf("readPeerCred: %v", err)
	}
	if cred.pid != int32(os.Getpid()) || cred.uid != uint32(os.Geteuid()) || cred.gid != uint32(os.Getegid()) {
		t.Errorf("readPeerCred = pid %d uid %d gid %d, want %d %d %d", cred.pid, cred.uid, cred.gid, os.Getpid(), os.Geteuid(), os.Getegid())
	}
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if !slices.Contains(cred.groups, uint32(g)) {
			t.Errorf("readPeerCred groups %v lack this process's group %d", cred.groups, g)
		}
	}
}

// requireRootAndTools skips a test that needs root to change users and the
// named commands.
func requireRootAndTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to run clients as another user")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed", tool)
		}
	}
}

// sharedDir returns a new directory that other users can traverse, for a
// socket that clients of another user connect to.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vnetd-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// clientAs sends (varp.flush) to the socket with socat running as uid
// 65534 with the given setpriv group options, and returns its output.
func clientAs(t *testing.T, path string, groupArgs ...string) (string, error) {
	t.Helper()
	args := append([]string{"--reuid=65534"}, groupArgs...)
	args = append(args, "socat", "-t", "5", "-", "UNIX-CONNECT:"+path)
	cmd := exec.Command("setpriv", args...)
	cmd.Stdin = strings.NewReader("(varp.flush)\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSocketGroupOwnerAndMode(t *testing.T) {
	requireRootAndTools(t)
	_, path := startServer(t, Config{SocketGroup: "daemon"})
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o660 {
		t.Errorf("socket mode %#o, want 0660", perm)
	}
	st := info.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || st.Gid != 1 {
		t.Errorf("socket owner %d:%d, want 0:1 (root:daemon)", st.Uid, st.Gid)
	}
}

// TestSocketAccessByGroup runs clients as another user: members of the
// socket group, by primary or supplementary group, are served, and others
// cannot connect.
func TestSocketAccessByGroup(t *testing.T) {
	requireRootAndTools(t, "setpriv", "socat")
	path := filepath.Join(sharedDir(t), "vnetd")
	startServer(t, Config{Path: path, SocketGroup: "daemon"})

	for _, groupArgs := range [][]string{
		{"--regid=1", "--clear-groups"},
		{"--regid=65534", "--groups=1"},
	} {
		out, err := clientAs(t, path, groupArgs...)
		if err != nil || out != "(ok)\n" {
			t.Errorf("client with %v: %v, output %q, want (ok)", groupArgs, err, out)
		}
	}
	out, err := clientAs(t, path, "--regid=65534", "--clear-groups")
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("client outside the group: %v, output %q, want connect to fail with permission denied", err, out)
	}
}

// TestPeerCredentialsChecked makes the socket file writable by everyone,
// as a mistaken chmod would, and checks that the server still rejects
// clients by their credentials, naming the rule.
func TestPeerCredentialsChecked(t *testing.T) {
	requireRootAndTools(t, "setpriv", "socat")
	for _, tt := range []struct {
		group string
		want  string
	}{
		{"", "the command socket accepts only root (run the client as root)"},
		{"daemon", "the command socket accepts only root and members of group daemon (add the user to group daemon, or run the client as root)"},
	} {
		path := filepath.Join(sharedDir(t), "vnetd")
		startServer(t, Config{Path: path, SocketGroup: tt.group})
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		out, _ := clientAs(t, path, "--regid=65534", "--clear-groups")
		want := `(error (code EACCES) (message "permission denied for uid 65534 (pid `
		if !strings.HasPrefix(out, want) || !strings.Contains(out, tt.want) {
			t.Errorf("group %q: client output %q, want an EACCES error containing %q", tt.group, out, tt.want)
		}
		if strings.Contains(out, "(ok)") {
			t.Errorf("group %q: rejected client's command ran: %q", tt.group, out)
		}
	}
}

func TestListenUnknownSocketGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vnetd")
	_, err := Listen(Config{Path: path, Dataplane: controltest.New(), SocketGroup: "no-such-group-vnetd"})
	if err == nil || !strings.Contains(err.Error(), "no such group") {
		t.Errorf("Listen with an unknown group = %v, want a no such group error", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file after the failed Listen: %v, want none", err)
	}
}

// TestSocketModeIgnoresUmask checks the socket mode under a permissive
// umask.
func TestSocketModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	_, path := startServer(t, Config{})
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Type() != fs.ModeSocket || info.Mode().Perm() != 0o600 {
		t.Errorf("socket %v, want a socket with mode 0600", info.Mode())
	}
}

// TestClientReadsServerPid checks the check that names the process
// holding a live socket, with a server in this process.
func TestClientReadsServerPid(t *testing.T) {
	_, path := startServer(t, Config{})
	conn := dial(t, path)
	cred, err := readPeerCred(conn)
	if err != nil {
		t.Fatal(err)
	}
	if cred.pid != int32(os.Getpid()) {
		t.Errorf("server pid %d, want %d", cred.pid, os.Getpid())
	}
}
