package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// stubVN writes a vn script into a new directory that prints canned vnet
// and peer lists and records its arguments in the file args there. It
// returns the directory.
func stubVN(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
echo "$@" >> "$(dirname "$0")/args"
for a in "$@"; do
	case $a in
	vnets)
		echo '(vnet (id 0000:0000:0000:0000:0000:0000:0000:0001) (vnetif ) (security none) (header 0))'
		echo '(vnet (id 0000:0000:0000:0000:0000:0000:0000:1500) (vnetif vnif1500) (security none) (header 64))'
		echo '(vnet (id 0000:0000:0000:0000:0000:0000:0001:2a00) (vnetif vnblue) (security none) (header 64))'
		exit 0 ;;
	peers)
		printf '(vnet_peer\n  (addr 198.18.1.3)\n  (port 1798)\n  (tx_packets 0)\n  (rx_packets 0)\n)\n'
		exit 0 ;;
	esac
done
`
	if err := os.WriteFile(filepath.Join(dir, "vn"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// completionCases are command lines, with the word being completed last,
// and words that its completions must and must not contain.
var completionCases = []struct {
	line    []string
	want    []string
	notWant []string
}{
	{[]string{"vn", ""}, []string{"vnets", "vnet-create", "completion", "--socket"}, nil},
	{[]string{"vn", "vnet-c"}, []string{"vnet-create"}, []string{"vnets"}},
	{[]string{"vn", "--socket", "/tmp/s", "pe"}, []string{"peers", "peer-add", "peer-delete"}, []string{"vnets"}},
	{[]string{"vn", "vnets", "-"}, []string{"-a", "--all", "-l", "--long", "--json", "--socket", "--help"}, []string{"-s"}},
	{[]string{"vn", "vnet-create", "--"}, []string{"--security", "--bridge", "--vnetif"}, []string{"--json"}},
	{[]string{"vn", "vnet-create", "-s", ""}, []string{"none", "auth", "conf"}, nil},
	{[]string{"vn", "vnet-create", "-k", "main_t"}, []string{"main_test.go"}, []string{"none"}},
	{[]string{"vn", "capture", "-w", "capture_t"}, []string{"capture_test.go"}, nil},
	{[]string{"vn", "vnet_create", "--security", "c"}, []string{"conf"}, []string{"none"}},
	{[]string{"vn", "vnets", ""}, []string{"vnif1500", "vnblue"}, nil},
	{[]string{"vn", "--socket", "/tmp/s", "vnets", ""}, []string{"vnif1500", "vnblue"}, nil},
	{[]string{"vn", "vnets", "vnif1500", "vnb"}, []string{"vnblue"}, []string{"vnif1500"}},
	{[]string{"vn", "vnet-delete", "-b", ""}, []string{"vnif1500", "vnblue"}, nil},
	{[]string{"vn", "vnet-delete", "vnif1500", ""}, nil, []string{"vnblue"}},
	{[]string{"vn", "vif-add", "-i", "vnblue", ""}, []string{"lo"}, []string{"vnblue"}},
	{[]string{"vn", "peer-delete", ""}, []string{"198.18.1.3"}, nil},
	{[]string{"vn", "peer-add", "-p", ""}, nil, []string{"198.18.1.3", "vnblue"}},
	{[]string{"vn", "completion", ""}, []string{"bash", "zsh"}, nil},
	{[]string{"vn", "help", "vnet"}, []string{"vnets", "vnet-create", "vnet-delete"}, []string{"peers"}},
}

func checkCompletions(t *testing.T, shell string, line []string, got, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s completion of %q = %q, want it to contain %q", shell, line, got, w)
		}
	}
	for _, w := range notWant {
		if slices.Contains(got, w) {
			t.Errorf("%s completion of %q = %q, want it without %q", shell, line, got, w)
		}
	}
}

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vn."+shell)
	out := mustVN(t, "", "completion", shell)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompletionScriptsParse(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s is not installed; its script is not checked", shell)
			continue
		}
		script := completionScript(t, shell)
		if out, err := exec.Command(shell, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n on the %s completion script: %v\n%s", shell, shell, err, out)
		}
	}
	r := vn(t, "", "completion", "fish")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown shell "fish" (use bash or zsh)`) {
		t.Errorf("vn completion fish: exit %d, stderr %q, want a usage error", r.code, r.stderr)
	}
}

// TestBashCompletion calls the completion function as bash does, with a
// stub vn that lists vnets and peers.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("skipped: bash is not installed")
	}
	script := completionScript(t, "bash")
	stub := stubVN(t)
	for _, tt := range completionCases {
		words := make([]string, len(tt.line))
		for i, w := range tt.line {
			words[i] = "'" + w + "'"
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(words, " ") + ")\n" +
			"COMP_CWORD=" + strconv.Itoa(len(tt.line)-1) + "\n_vn\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+stub+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("bash completion of %q: %v\n%s", tt.line, err, out)
			continue
		}
		checkCompletions(t, "bash", tt.line, strings.Fields(string(out)), tt.want, tt.notWant)
	}

	// The --socket of the command line reaches the vn that lists vnets.
	args, err := os.ReadFile(filepath.Join(stub, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args), "--socket /tmp/s vnets\n") {
		t.Errorf("stub vn was called with %q, want a call with --socket /tmp/s vnets", args)
	}
}

// TestZshCompletion calls the completion function with compadd,
// _describe and _files replaced by functions that print their
// candidates.
func TestZshCompletion(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("skipped: zsh is not installed")
	}
	script := completionScript(t, "zsh")
	stub := stubVN(t)
	for _, tt := range completionCases {
		words := make([]string, len(tt.line))
		for i, w := range tt.line {
			words[i] = "'" + w + "'"
		}
		prog := `compdef() { : }
compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }
_describe() { local name; for name in ${(P)${@[-1]}}; do print -- ${name%%:*}; done }
_files() { print -l -- * }
source ` + script + `
words=(` + strings.Join(words, " ") + `)
CURRENT=` + strconv.Itoa(len(tt.line)) + `
_vn
`
		cmd := exec.Command("zsh", "-f", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+stub+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("zsh completion of %q: %v\n%s", tt.line, err, out)
			continue
		}
		// compadd offers every candidate; zsh filters by the prefix.
		var got []string
		prefix := tt.line[len(tt.line)-1]
		for _, w := range strings.Fields(string(out)) {
			if strings.HasPrefix(w, prefix) {
				got = append(got, w)
			}
		}
		checkCompletions(t, "zsh", tt.line, got, tt.want, tt.notWant)
	}
}

// TestCompletionOptions checks the options that the scripts offer for a
// few subcommands against the flags those subcommands define.
func TestCompletionOptions(t *testing.T) {
	byName := map[string]completionCommand{}
	for _, cc := range completionCommands() {
		byName[cc.Name] = cc
	}
	if len(byName) != len(subcommands) {
		t.Errorf("completion covers %d commands, want all %d", len(byName), len(subcommands))
	}
	tests := []struct {
		name           string
		options, value []string
	}{
		{"vnets", []string{"--all", "--help", "--json", "--long", "--socket", "-a", "-l"}, []string{"--socket"}},
		{"vnet-create", []string{"--bridge", "--help", "--key", "--security", "--socket", "--vnetif", "-b", "-k", "-s", "-v"}, []string{"-b", "--bridge", "-k", "--key", "-s", "--security", "--socket", "-v", "--vnetif"}},
		{"vnet-delete", []string{"--bridge", "--help", "--socket", "-b"}, []string{"--socket"}},
		{"peer-add", []string{"--help", "--port", "--socket", "-p"}, []string{"-p", "--port", "--socket"}},
	}
	for _, tt := range tests {
		cc := byName[tt.name]
		if !slices.Equal(cc.Options, tt.options) {
			t.Errorf("%s options = %q, want %q", tt.name, cc.Options, tt.options)
		}
		if !slices.Equal(cc.Valued, tt.value) {
			t.Errorf("%s options with values = %q, want %q", tt.name, cc.Valued, tt.value)
		}
	}
}
