// Command vn configures and lists virtual networks through vnetd's command
// socket, with the subcommands of the original Xen vnet tool.
//
// Usage:
//
//	vn [--socket PATH] COMMAND [OPTIONS] [ARGS]
//
// Run "vn help -l" for the commands. Exit status: 0 on success, 1 when
// vnetd rejects a command or a local step fails, 2 on usage errors, 3 when
// vnetd cannot be reached.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vnet-xdp/vnet/internal/version"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnreachable = 3
)

// defaultSocket is the socket path when neither --socket nor VNETD_SOCKET
// is set: the original vnetd's path.
const defaultSocket = "/tmp/vnetd"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelpShown ends a subcommand after it printed its help.
var errHelpShown = errors.New("help shown")

// cli is the state of one vn invocation.
type cli struct {
	stdout, stderr io.Writer
	socket         string
	json           bool
	// onFlags, if set, receives each subcommand's flag set before it is
	// parsed, so that the completion scripts can list the options.
	onFlags func(*flag.FlagSet)
}

// subcommand is one entry of the command table.
type subcommand struct {
	name    string
	args    string
	summary string
	// listing subcommands take --json.
	listing bool
	run     func(c *cli, args []string) error
}

// subcommands is filled in init because help refers to it.
var subcommands []subcommand

func init() {
	subcommands = []subcommand{
		{"help", "[-l] [COMMAND]", "List the commands; -l adds what each does. With a COMMAND, show its usage and options.", false, (*cli).help},
		{"vnets", "[-a] [-l] [--json] [VNET...]", "List vnets sorted by id, or only the given ones (by id or device name). -l adds each device's state (up, down, or absent when it is not in vn's network namespace, as when it was moved into a container), MTU, MAC and bridge; -a adds the vifs and VARP entries of the listed vnets.", true, (*cli).vnets},
		{"vnifs", "[--json] [VNET...]", "Show the device of each vnet: state (up, down, or absent when it is not in vn's network namespace), MTU, MAC, bridge and bridge ports.", true, (*cli).vnifs},
		{"vifs", "[--json]", "List the vif table: local MACs that VARP answers for.", true, (*cli).vifs},
		{"vnet-create", "[-s LEVEL] [-k KEYFILE] [-b BRIDGE] [-v VNETIF] VNET", "Create a vnet. -s sets the security level (none, auth or conf), -k the file holding its key (32 or 64 hex digits, the same on every host; without -k vnetd reads vnet-ID.key in its key directory), -v the device name. -b creates the bridge if missing (STP off, forward delay 0) and attaches the vnet's device to it.", false, (*cli).vnetCreate},
		{"vnet-delete", "[-b] VNET", "Delete a vnet, given by id or device name. Its device is first detached from its bridge; -b also deletes the bridge when no other ports remain.", false, (*cli).vnetDelete},
		{"vif-add", "[-i] VNET MAC|IFACE", "Add a local MAC to a vnet's vif table. -i takes the MAC of interface IFACE.", false, (*cli).vifAdd},
		{"vif-delete", "[-i] VNET MAC|IFACE", "Remove a MAC from a vnet's vif table. -i takes the MAC of interface IFACE.", false, (*cli).vifDelete},
		{"peers", "[--json]", "List the unicast peers that group traffic is forwarded to and accepted from.", true, (*cli).peers},
		{"peer-add", "[-p PORT] ADDR", "Add a peer by IPv4 address; -p sets its port (default 1798). Add peers only where multicast does not reach, and on one host per subnet, to avoid forwarding loops.", false, (*cli).peerAdd},
		{"peer-delete", "ADDR", "Remove a peer.", false, (*cli).peerDelete},
		{"varp", "[--json]", "List the VARP parameters and cache.", true, (*cli).varp},
		{"varp-flush", "", "Remove every VARP cache entry that is not probing.", false, (*cli).varpFlush},
		{"bridges", "[-l] [--json]", "List the bridges and their ports; -l adds state, MTU and MAC.", true, (*cli).bridges},
		{"varp-limits", "[--entries N] [--vifs N] [--learn-rate N] [--flood-rate N]", "Set the per-vnet limits: VARP cache entries, local MACs, new VARP entries per second and frames flooded per second (0 for no limit). vn varp shows them.", false, (*cli).varpLimits},
		{"stats", "[--json]", "List the dataplane counters.", true, (*cli).stats},
		{"esp-keys", "[-w FILE] VNET", "Write the ESP security associations of a secure vnet, keys included, as records of Wireshark's esp_sa file (root only). With the file in a Wireshark profile, tshark decrypts and verifies a capture: tshark -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE -r FILE.pcap", false, (*cli).espKeys},
		{"capture", "[-i IFACE] [-d in|out|both] [-c COUNT] [-t SECONDS] [-s BYTES] [-w FILE] [VNET]", "Write the frames of a vnet, or of an underlay interface, as a pcap file to standard output or FILE, from inside the dataplane (tcpdump on the interface does not see frames steered to AF_XDP). Example: vn capture -c 100 1500 | tcpdump -nr -", false, (*cli).capture},
		{"raw", "SXP...", "Send the arguments, joined by spaces, as S-expression commands and print the reply, status expressions included.", false, (*cli).raw},
		{"completion", "bash|zsh", "Print a completion script for the shell. Load it with: source <(vn completion bash).", false, (*cli).completion},
	}
}

func findSubcommand(name string) (*subcommand, bool) {
	name = strings.ReplaceAll(name, "_", "-")
	for i := range subcommands {
		if subcommands[i].name == name {
			return &subcommands[i], true
		}
	}
	return nil, false
}

// run executes vn with the given arguments and returns the exit status.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdout: stdout, stderr: stderr, socket: getenv("VNETD_SOCKET")}
	if c.socket == "" {
		c.socket = defaultSocket
	}

	global := flag.NewFlagSet("vn", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.StringVar(&c.socket, "socket", c.socket, "")
	showVersion := global.Bool("version", false, "")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(stdout, false)
			return exitOK
		}
		return c.fail(usagef("%v", err))
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("vn"))
		return exitOK
	}
	if global.NArg() == 0 {
		c.printUsage(stderr, false)
		return exitUsage
	}

	sub, ok := findSubcommand(global.Arg(0))
	if !ok {
		return c.fail(usagef("unknown command %q (run vn help for the list)", global.Arg(0)))
	}
	return c.fail(sub.run(c, global.Args()[1:]))
}

// fail prints err, if any, and returns the exit status for it.
func (c *cli) fail(err error) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	fmt.Fprintf(c.stderr, "vn: %v\n", err)

	var usage *usageError
	var unreachable *unreachableError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(c.stderr, "Run vn help -l for usage.")
		return exitUsage
	case errors.As(err, &unreachable):
		return exitUnreachable
	}
	return exitFailed
}

// flags returns the flag set of subcommand name, with --socket and, for
// listings, --json.
func (c *cli) flags(name string) *flag.FlagSet {
	sub, _ := findSubcommand(name)
	fs := flag.NewFlagSet("vn "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.socket, "socket", c.socket, "path of vnetd's command socket")
	if sub.listing {
		fs.BoolVar(&c.json, "json", false, "print the reply as JSON")
	}
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage: %s\n\n%s\n\nOptions:\n", strings.TrimSpace("vn "+sub.name+" "+sub.args), sub.summary)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if c.onFlags != nil {
		c.onFlags(fs)
	}
	return fs
}

// parse parses a subcommand's arguments and checks their count, from min
// to max (-1 for no maximum).
func parse(fs *flag.FlagSet, args []string, min, max int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// Parse has already called fs.Usage.
			return errHelpShown
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	n := fs.NArg()
	switch {
	case n < min:
		return usagef("%s: missing argument (%d given, %d needed)", fs.Name(), n, min)
	case max >= 0 && n > max:
		return usagef("%s: too many arguments (%d given, at most %d allowed): %s", fs.Name(), n, max, strings.Join(fs.Args()[max:], " "))
	}
	return nil
}

func (c *cli) printUsage(w io.Writer, long bool) {
	fmt.Fprintln(w, "Usage: vn [--socket PATH] COMMAND [OPTIONS] [ARGS]")
	fmt.Fprintln(w, "       vn --version")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "--socket sets the path of vnetd's command socket (default $VNETD_SOCKET, else %s).\n", defaultSocket)
	fmt.Fprintln(w, "Every command takes --socket and --help. Listings take --json. '-' and '_' are interchangeable in command names.")
	fmt.Fprintln(w, "VNET is a vnet id, one hex field such as 1500 or eight colon-separated fields, or the vnet's device name.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, sub := range subcommands {
		if long {
			fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(sub.name+" "+sub.args), sub.summary)
		} else {
			fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-12s %s", sub.name, sub.args), " "))
		}
	}
}

func (c *cli) help(args []string) error {
	fs := c.flags("help")
	var long bool
	fs.BoolVar(&long, "l", false, "also describe each command")
	fs.BoolVar(&long, "long", false, "same as -l")
	if err := parse(fs, args, 0, 1); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		c.printUsage(c.stdout, long)
		return nil
	}
	sub, ok := findSubcommand(fs.Arg(0))
	if !ok {
		return usagef("unknown command %q (run vn help for the list)", fs.Arg(0))
	}
	err := sub.run(c, []string{"--help"})
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}
