package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerCred contains the credentials of a client as the kernel recorded
// them when it connected.
type peerCred struct {
	pid      int32
	uid, gid uint32
	// groups are the supplementary groups.
	groups []uint32
}

// readPeerCred returns the credentials of the process at the other end of
// conn (SO_PEERCRED and SO_PEERGROUPS).
func readPeerCred(conn *net.UnixConn) (peerCred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return peerCred{}, fmt.Errorf("read peer credentials: %w", err)
	}
	var cred peerCred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		u, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			credErr = fmt.Errorf("read SO_PEERCRED: %w", err)
			return
		}
		cred = peerCred{pid: u.Pid, uid: u.Uid, gid: u.Gid}
		if cred.groups, err = peerGroups(int(fd)); err != nil {
			credErr = fmt.Errorf("read SO_PEERGROUPS: %w", err)
		}
	})
	if err == nil {
		err = credErr
	}
	return cred, err
}

// accessPolicy decides which clients may use the command socket: root,
// the user that vnetd runs as, and the members of an optional group.
type accessPolicy struct {
	uid uint32
	// group is the group's name, or "" when no group is configured.
	group string
	gid   uint32
}

// newAccessPolicy returns the policy for the socket group name, a group
// name or number, or "" for none.
func newAccessPolicy(group string) (accessPolicy, error) {
	p := accessPolicy{uid: uint32(os.Geteuid())}
	if group == "" {
		return p, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		var unknown user.UnknownGroupError
		if !errors.As(err, &unknown) {
			return p, fmt.Errorf("look up socket group %q: %w", group, err)
		}
		if g, err = user.LookupGroupId(group); err != nil {
			return p, fmt.Errorf("look up socket group %q: no such group (create it, or give an existing group name or number)", group)
		}
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return p, fmt.Errorf("look up socket group %q: invalid group id %q", group, g.Gid)
	}
	p.group, p.gid = g.Name, uint32(gid)
	return p, nil
}

// socketMode is the mode of the socket file: 0660 when a group may use
// it, else 0600.
func (p accessPolicy) socketMode() os.FileMode {
	if p.group != "" {
		return 0o660
	}
	return 0o600
}

// check returns an error naming the rule unless the client may use the
// socket. The primary and the supplementary groups both count.
func (p accessPolicy) check(c peerCred) error {
	if c.uid == 0 || c.uid == p.uid {
		return nil
	}
	if p.group != "" && (c.gid == p.gid || slices.Contains(c.groups, p.gid)) {
		return nil
	}
	fix := "run the client as root"
	if p.group != "" {
		fix = "add the user to group " + p.group + ", or run the client as root"
	}
	return fmt.Errorf("permission denied for uid %d (pid %d): %s (%s)", c.uid, c.pid, p.rule(), fix)
}

// rule describes who may use the socket.
func (p accessPolicy) rule() string {
	allowed := "root"
	if p.uid != 0 {
		allowed = fmt.Sprintf("root, uid %d that vnetd runs as,", p.uid)
	}
	if p.group != "" {
		return fmt.Sprintf("the command socket accepts only %s and members of group %s", allowed, p.group)
	}
	if p.uid != 0 {
		return fmt.Sprintf("the command socket accepts only root and uid %d that vnetd runs as", p.uid)
	}
	return "the command socket accepts only root"
}
