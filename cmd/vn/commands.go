package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/vnet-xdp/vnet/control"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printSources writes expressions as vnetd sent them, one after another.
func (c *cli) printSources(sources []string) {
	for _, s := range sources {
		fmt.Fprintln(c.stdout, s)
	}
}

// listing runs a list command and prints its reply as text, or as JSON
// grouped by block head.
func (c *cli) listing(name, cmd string, args []string, singles, arrays []string) error {
	if err := parse(c.flags(name), args, 0, 0); err != nil {
		return err
	}
	r, err := c.call(command(cmd))
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(groupBlocks(r.exprs, singles, arrays))
	}
	c.printSources(r.sources)
	return nil
}

func (c *cli) vifs(args []string) error {
	return c.listing("vifs", "vif.list", args, []string{"viftable"}, []string{"vif"})
}

func (c *cli) peers(args []string) error {
	return c.listing("peers", "peer.list", args, nil, []string{"vnet_peer"})
}

func (c *cli) varp(args []string) error {
	return c.listing("varp", "varp.list", args, []string{"varp"}, []string{"ventry"})
}

func (c *cli) stats(args []string) error {
	return c.listing("stats", "stats.list", args, nil, []string{"stats"})
}

// vnetRow is one line of vnet.list.
type vnetRow struct {
	expr   control.Expr
	source string
	id     wire.VnetID
	device string
}

func vnetRows(r reply) ([]vnetRow, error) {
	rows := make([]vnetRow, 0, len(r.exprs))
	for i, e := range r.exprs {
		if head, _ := e.Head(); head != "vnet" {
			continue
		}
		idText, _ := e.Field("id")
		id, err := wire.ParseVnetID(idText)
		if err != nil {
			return nil, fmt.Errorf("read vnet list: %w", err)
		}
		device, _ := e.Field("vnetif")
		rows = append(rows, vnetRow{expr: e, source: r.sources[i], id: id, device: device})
	}
	return rows, nil
}

// matches reports whether arg names the vnet, by id in either text form
// or by device name.
func (v vnetRow) matches(arg string) bool {
	if id, err := wire.ParseVnetID(arg); err == nil && id == v.id {
		return true
	}
	return v.device != "" && v.device == arg
}

// selectVnets returns the rows that args name, in list order, or all rows
// when args is empty. An argument that names no vnet is an error.
func selectVnets(rows []vnetRow, args []string) ([]vnetRow, error) {
	if len(args) == 0 {
		return rows, nil
	}
	for _, arg := range args {
		found := false
		for _, row := range rows {
			found = found || row.matches(arg)
		}
		if !found {
			return nil, fmt.Errorf("vnet %s not found (vn vnets lists the vnets)", arg)
		}
	}
	var selected []vnetRow
	for _, row := range rows {
		for _, arg := range args {
			if row.matches(arg) {
				selected = append(selected, row)
				break
			}
		}
	}
	return selected, nil
}

// resolveVnet returns the one vnet arg names. An id match wins over a
// device name match.
func resolveVnet(rows []vnetRow, arg string) (vnetRow, error) {
	if id, err := wire.ParseVnetID(arg); err == nil {
		for _, row := range rows {
			if row.id == id {
				return row, nil
			}
		}
	}
	for _, row := range rows {
		if row.device != "" && row.device == arg {
			return row, nil
		}
	}
	return vnetRow{}, fmt.Errorf("vnet %s not found (vn vnets lists the vnets)", arg)
}

// listVnets runs vnet.list on cl.
// findVnet lists the vnets and returns the one arg names.
func findVnet(cl *client, arg string) (vnetRow, error) {
	rows, err := listVnets(cl)
	if err != nil {
		return vnetRow{}, err
	}
	return resolveVnet(rows, arg)
}

func listVnets(cl *client) ([]vnetRow, error) {
	r, err := cl.do(command("vnet.list"))
	if err != nil {
		return nil, err
	}
	return vnetRows(r)
}

func (c *cli) vnets(args []string) error {
	fs := c.flags("vnets")
	var all, long bool
	fs.BoolVar(&all, "a", false, "also list the vifs and VARP entries of the listed vnets")
	fs.BoolVar(&all, "all", false, "same as -a")
	fs.BoolVar(&long, "l", false, "also show each vnet device's state, MTU, MAC and bridge")
	fs.BoolVar(&long, "long", false, "same as -l")
	if err := parse(fs, args, 0, -1); err != nil {
		return err
	}

	cl, err := c.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	rows, err := listVnets(cl)
	if err != nil {
		return err
	}
	selected, err := selectVnets(rows, fs.Args())
	if err != nil {
		return err
	}

	var vifs, ventries reply
	if all {
		r, err := cl.do(command("vif.list"))
		if err != nil {
			return err
		}
		vifs = blocksOfVnets(r, "vif", selected)
		r, err = cl.do(command("varp.list"))
		if err != nil {
			return err
		}
		ventries = blocksOfVnets(r, "ventry", selected)
	}

	devices := make([]*deviceInfo, len(selected))
	if long {
		for i, row := range selected {
			if row.device == "" {
				continue
			}
			info, err := lookupDevice(row.device)
			if err != nil {
				return err
			}
			devices[i] = &info
		}
	}

	if c.json {
		vnets := make([]object, 0, len(selected))
		for i, row := range selected {
			o := blockObject(row.expr)
			if devices[i] != nil {
				o.set("device", devices[i].object())
			}
			vnets = append(vnets, o)
		}
		out := object{{"vnet", vnets}}
		if all {
			out = append(out, member{"vif", blockObjects(vifs.exprs)}, member{"ventry", blockObjects(ventries.exprs)})
		}
		return c.printJSON(out)
	}

	for i, row := range selected {
		fmt.Fprintln(c.stdout, row.source)
		if devices[i] != nil {
			fmt.Fprintln(c.stdout, devices[i].expr("vnif"))
		}
	}
	c.printSources(vifs.sources)
	c.printSources(ventries.sources)
	return nil
}

// blocksOfVnets returns the blocks headed head whose (vnet ...) field names
// one of the rows.
func blocksOfVnets(r reply, head string, rows []vnetRow) reply {
	var out reply
	for i, e := range r.exprs {
		if h, _ := e.Head(); h != head {
			continue
		}
		text, _ := e.Field("vnet")
		id, err := wire.ParseVnetID(text)
		if err != nil {
			continue
		}
		for _, row := range rows {
			if row.id == id {
				out.exprs = append(out.exprs, e)
				out.sources = append(out.sources, r.sources[i])
				break
			}
		}
	}
	return out
}

func (c *cli) vnifs(args []string) error {
	fs := c.flags("vnifs")
	if err := parse(fs, args, 0, -1); err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	rows, err := listVnets(cl)
	cl.close()
	if err != nil {
		return err
	}
	selected, err := selectVnets(rows, fs.Args())
	if err != nil {
		return err
	}

	var devices []object
	for _, row := range selected {
		if row.device == "" {
			continue
		}
		info, err := lookupDevice(row.device)
		if err != nil {
			return err
		}
		if c.json {
			o := info.object()
			o = append(object{{"vnet", row.id.String()}}, o...)
			devices = append(devices, o)
			continue
		}
		fmt.Fprintln(c.stdout, info.expr("vnif"))
	}
	if c.json {
		if devices == nil {
			devices = []object{}
		}
		return c.printJSON(object{{"vnif", devices}})
	}
	return nil
}

func (c *cli) bridges(args []string) error {
	fs := c.flags("bridges")
	var long bool
	fs.BoolVar(&long, "l", false, "also show each bridge's state, MTU and MAC")
	fs.BoolVar(&long, "long", false, "same as -l")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	bridges, err := listBridges()
	if err != nil {
		return err
	}

	list := make([]object, 0, len(bridges))
	for _, b := range bridges {
		ports := b.ports
		if ports == nil {
			ports = []string{}
		}
		if c.json {
			o := object{{"name", b.name}}
			if long {
				o = append(o, member{"state", b.adminState()}, member{"oper_state", b.operState}, member{"mtu", b.mtu}, member{"mac", b.mac})
			}
			list = append(list, append(o, member{"ports", ports}))
			continue
		}
		elems := []control.Expr{control.Atom("bridge"), field("name", b.name)}
		if long {
			elems = append(elems, field("state", b.adminState()), field("oper_state", b.operState),
				field("mtu", fmt.Sprint(b.mtu)), field("mac", b.mac))
		}
		portList := []control.Expr{control.Atom("ports")}
		for _, p := range b.ports {
			portList = append(portList, control.Atom(p))
		}
		elems = append(elems, control.List(portList...))
		fmt.Fprintln(c.stdout, control.List(elems...))
	}
	if c.json {
		return c.printJSON(object{{"bridge", list}})
	}
	return nil
}

func (c *cli) vnetCreate(args []string) error {
	fs := c.flags("vnet-create")
	var security, bridge, vnetif, keyPath string
	fs.StringVar(&security, "s", "", "security `level`: none, auth or conf (default none)")
	fs.StringVar(&security, "security", "", "same as -s")
	fs.StringVar(&bridge, "b", "", "`bridge` to create if missing and attach the vnet's device to")
	fs.StringVar(&bridge, "bridge", "", "same as -b")
	fs.StringVar(&vnetif, "v", "", "`name` of the vnet's device (default vnif and the id's last field)")
	fs.StringVar(&vnetif, "vnetif", "", "same as -v")
	fs.StringVar(&keyPath, "k", "", "`file` holding the vnet's key in hex (- for standard input; default: vnetd's key directory)")
	fs.StringVar(&keyPath, "key", "", "same as -k")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	idText := fs.Arg(0)

	cmd := []control.Expr{field("id", idText)}
	if vnetif != "" {
		cmd = append(cmd, field("vnetif", vnetif))
	}
	if security != "" {
		cmd = append(cmd, field("security", security))
	}
	if keyPath != "" {
		key, err := readKey(keyPath)
		if err != nil {
			return err
		}
		cmd = append(cmd, field("key", key))
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	if _, err := cl.do(command("vnet.add", cmd...)); err != nil {
		return err
	}
	if bridge == "" {
		return nil
	}

	row, err := findVnet(cl, idText)
	if err != nil {
		return fmt.Errorf("vnet %s was created but is missing from vnet.list: %w", idText, err)
	}
	if row.device == "" {
		return fmt.Errorf("vnet %s was created without a device, so it cannot join bridge %s", row.id, bridge)
	}
	err = attachToBridge(row.device, bridge)
	if errors.Is(err, errDeviceElsewhere) {
		// vn runs in another namespace than vnetd: nothing here can
		// attach the device, so the vnet is taken back.
		if _, derr := cl.do(command("vnet.del", field("id", row.id.String()))); derr != nil {
			return fmt.Errorf("vnet %s was created, but %w; deleting it again failed: %v", row.id, err, derr)
		}
		return fmt.Errorf("vnet %s not created: %w", row.id, err)
	}
	if err != nil {
		return fmt.Errorf("vnet %s was created, but %w (attach device %s by hand, or run vn vnet-delete %s)", row.id, err, row.device, idText)
	}
	return nil
}

// maxKeyText bounds the key file vn reads: a 256-bit key is 64 hex digits,
// and comments are not part of the format.
const maxKeyText = 4096

// readKey returns the hex key in the file at path, or on standard input for
// "-", with white space removed. vnetd checks the digits.
func readKey(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("read key: %w", err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return "", fmt.Errorf("read key: %w", err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			return "", fmt.Errorf("key file %s has mode %#o, so others may read the key (make it readable by its owner only: chmod 600 %s)", path, perm, path)
		}
		r = f
	}
	text, err := io.ReadAll(io.LimitReader(r, maxKeyText+1))
	if err != nil {
		return "", fmt.Errorf("read key from %s: %w", path, err)
	}
	if len(text) > maxKeyText {
		return "", fmt.Errorf("read key from %s: more than %d bytes; the file should hold 32 or 64 hex digits", path, maxKeyText)
	}
	key := strings.Join(strings.Fields(string(text)), "")
	if key == "" {
		return "", fmt.Errorf("read key from %s: the file is empty; it should hold 32 or 64 hex digits", path)
	}
	return key, nil
}

func (c *cli) vnetDelete(args []string) error {
	fs := c.flags("vnet-delete")
	var deleteBridge bool
	fs.BoolVar(&deleteBridge, "b", false, "also delete the bridge the vnet's device is attached to, if it has no other ports")
	fs.BoolVar(&deleteBridge, "bridge", false, "same as -b")
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

	if row.device != "" {
		res, err := detachFromBridge(row.device, deleteBridge)
		if err != nil {
			return fmt.Errorf("vnet %s not deleted: %w", row.id, err)
		}
		switch {
		case !deleteBridge:
		case !res.devicePresent:
			fmt.Fprintf(c.stderr, "vn: device %s is not in this network namespace; no bridge deleted\n", row.device)
		case res.bridge == "":
			fmt.Fprintf(c.stderr, "vn: device %s is not attached to a bridge; no bridge deleted\n", row.device)
		case !res.bridgeDeleted:
			fmt.Fprintf(c.stderr, "vn: bridge %s still has ports %s; not deleted\n", res.bridge, strings.Join(res.remaining, ", "))
		}
	}
	_, err = cl.do(command("vnet.del", field("id", row.id.String())))
	return err
}

func (c *cli) vifAdd(args []string) error    { return c.vifChange("vif-add", "vif.add", args) }
func (c *cli) vifDelete(args []string) error { return c.vifChange("vif-delete", "vif.del", args) }

func (c *cli) vifChange(name, cmd string, args []string) error {
	fs := c.flags(name)
	var byInterface bool
	fs.BoolVar(&byInterface, "i", false, "the second argument is an interface whose MAC address is used")
	fs.BoolVar(&byInterface, "interface", false, "same as -i")
	if err := parse(fs, args, 2, 2); err != nil {
		return err
	}
	vnetArg, mac := fs.Arg(0), fs.Arg(1)
	if byInterface {
		var err error
		if mac, err = interfaceMAC(mac); err != nil {
			return err
		}
	}

	cl, err := c.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	vnet := vnetArg
	if id, err := wire.ParseVnetID(vnetArg); err == nil {
		vnet = id.String()
	} else {
		row, err := findVnet(cl, vnetArg)
		if err != nil {
			return err
		}
		vnet = row.id.String()
	}
	_, err = cl.do(command(cmd, field("vnet", vnet), field("vmac", mac)))
	return err
}

func (c *cli) peerAdd(args []string) error {
	fs := c.flags("peer-add")
	var port string
	fs.StringVar(&port, "p", "", "UDP `port` of the peer, 1 to 65535 (default 1798)")
	fs.StringVar(&port, "port", "", "same as -p")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	cmd := []control.Expr{field("addr", fs.Arg(0))}
	if port != "" {
		cmd = append(cmd, field("port", port))
	}
	_, err := c.call(command("peer.add", cmd...))
	return err
}

func (c *cli) peerDelete(args []string) error {
	fs := c.flags("peer-delete")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	_, err := c.call(command("peer.del", field("addr", fs.Arg(0))))
	return err
}

func (c *cli) varpFlush(args []string) error {
	if err := parse(c.flags("varp-flush"), args, 0, 0); err != nil {
		return err
	}
	_, err := c.call(command("varp.flush"))
	return err
}

// raw sends the arguments as typed, prints every expression of the reply,
// status expressions included, and fails if any status is an error.
func (c *cli) raw(args []string) error {
	fs := c.flags("raw")
	if err := parse(fs, args, 1, -1); err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	text := strings.Join(fs.Args(), " ") + "\n"
	if _, err := io.WriteString(cl.conn, text); err != nil {
		return &unreachableError{path: cl.path, err: err}
	}
	if err := cl.conn.CloseWrite(); err != nil {
		return &unreachableError{path: cl.path, err: err}
	}

	var firstErr error
	for {
		e, src, err := cl.decoder.Decode()
		if errors.Is(err, io.EOF) {
			return firstErr
		}
		if err != nil {
			var syntax *control.SyntaxError
			switch {
			case errors.As(err, &syntax):
				return fmt.Errorf("read reply from vnetd at %s: %w", cl.path, err)
			case firstErr != nil && errors.Is(err, syscall.ECONNRESET):
				// vnetd closes the connection after a syntax error
				// without reading the rest of the input.
				return firstErr
			}
			return &unreachableError{path: cl.path, err: err}
		}
		fmt.Fprintln(c.stdout, string(src))
		if _, statusErr := control.ParseStatus(e); statusErr != nil && firstErr == nil {
			firstErr = statusErr
		}
	}
}
