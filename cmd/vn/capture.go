package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/control"
)

// capture streams frames from inside the dataplane as a pcap file, to a
// file or to standard output for tcpdump -r - or tshark -r -.
func (c *cli) capture(args []string) error {
	fs := c.flags("capture")
	var iface, direction, file string
	var count, snaplen int
	var duration float64
	fs.StringVar(&iface, "i", "", "capture the underlay `interface` IFACE instead of a vnet")
	fs.StringVar(&direction, "d", "both", "`direction`: in (arriving), out (leaving) or both")
	fs.IntVar(&count, "c", 0, "stop after `count` frames (default: no limit)")
	fs.Float64Var(&duration, "t", 0, "stop after `seconds` (default: no limit)")
	fs.IntVar(&snaplen, "s", 0, "keep the first `bytes` of each frame (default: whole frames)")
	fs.StringVar(&file, "w", "-", "write the pcap to `file`; - is standard output")
	if err := parse(fs, args, 0, 1); err != nil {
		return err
	}
	if (iface == "") == (fs.NArg() == 0) {
		return usagef("capture: give either a VNET or -i IFACE")
	}
	if file == "-" && isTerminal(c.stdout) {
		return usagef("capture: the pcap is binary; give -w FILE, or pipe it to a reader, as in vn capture ... | tcpdump -nr -")
	}

	cl, err := c.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	cmd := []control.Expr{field("direction", direction)}
	if iface != "" {
		cmd = append(cmd, field("iface", iface))
	} else {
		row, err := findVnet(cl, fs.Arg(0))
		if err != nil {
			return err
		}
		cmd = append(cmd, field("vnet", row.id.String()))
	}
	if count > 0 {
		cmd = append(cmd, field("count", strconv.Itoa(count)))
	}
	if duration > 0 {
		cmd = append(cmd, field("duration", strconv.FormatFloat(duration, 'f', -1, 64)))
	}
	if snaplen > 0 {
		cmd = append(cmd, field("snaplen", strconv.Itoa(snaplen)))
	}

	var out io.Writer = c.stdout
	if file != "-" {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		defer f.Close()
		out = f
	}

	if _, err := cl.conn.Write(append(control.AppendExpr(nil, command("capture", cmd...)), '\n')); err != nil {
		return &unreachableError{path: cl.path, err: err}
	}
	// The status line comes first; the pcap stream follows (ok) and
	// lasts until vnetd closes the connection.
	r := bufio.NewReader(cl.conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return &unreachableError{path: cl.path, err: fmt.Errorf("read capture status: %w", err)}
	}
	exprs, err := control.ParseAll(line)
	if err != nil || len(exprs) != 1 {
		return fmt.Errorf("capture: unexpected reply %q from vnetd", line)
	}
	if isStatus, statusErr := control.ParseStatus(exprs[0]); !isStatus {
		return fmt.Errorf("capture: unexpected reply %q from vnetd", line)
	} else if statusErr != nil {
		return statusErr
	}
	// A capture without limits runs until interrupted; clear the
	// connection's reply deadline.
	cl.conn.SetDeadline(time.Time{})
	if _, err := io.Copy(out, r); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// varpLimits sets the per-vnet limits on tables and rates.
func (c *cli) varpLimits(args []string) error {
	fs := c.flags("varp-limits")
	var entries, vifs, learn, flood string
	fs.StringVar(&entries, "entries", "", "maximum VARP cache entries per vnet (`number`)")
	fs.StringVar(&vifs, "vifs", "", "maximum local MACs per vnet (`number`)")
	fs.StringVar(&learn, "learn-rate", "", "maximum new or changed VARP entries per second per vnet (`number`, 0 for no limit)")
	fs.StringVar(&flood, "flood-rate", "", "maximum frames per second per vnet sent to the group (`number`, 0 for no limit)")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	var fields []control.Expr
	for _, f := range []struct{ name, value string }{
		{"entries", entries}, {"vifs", vifs}, {"learn_rate", learn}, {"flood_rate", flood},
	} {
		if f.value != "" {
			fields = append(fields, field(f.name, f.value))
		}
	}
	if len(fields) == 0 {
		return usagef("varp-limits: give at least one of --entries, --vifs, --learn-rate, --flood-rate")
	}
	_, err := c.call(command("varp.limits", fields...))
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// espKeys writes the ESP SAs of a secure vnet in the format of
// Wireshark's esp_sa file, for decrypting a capture of the vnet.
func (c *cli) espKeys(args []string) error {
	fs := c.flags("esp-keys")
	var file string
	fs.StringVar(&file, "w", "-", "write the SAs to `file` (mode 0600); - is standard output")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	row, err := findVnet(cl, fs.Arg(0))
	if err != nil {
		return err
	}
	r, err := cl.do(command("vnet.keys", field("id", row.id.String())))
	if err != nil {
		return err
	}
	var out []byte
	for _, e := range r.exprs {
		if head, ok := e.Head(); !ok || head != "esp_sa" || len(e.Elems()) != 2 {
			return fmt.Errorf("esp-keys: unexpected reply %s from vnetd", e)
		}
		out = append(out, e.Elems()[1].Text()...)
		out = append(out, '\n')
	}
	if file == "-" {
		_, err = c.stdout.Write(out)
		return err
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		return fmt.Errorf("esp-keys: %w", err)
	}
	return nil
}
