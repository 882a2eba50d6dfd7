// Package version describes the build of a vnet program, from the
// information the Go toolchain records in the binary.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Revision is the version control revision, for builds without the
// toolchain's own record (-buildvcs=false). The Makefile sets it with
// -ldflags "-X github.com/vnet-xdp/vnet/internal/version.Revision=REV".
var Revision string

// String returns a line such as "vnetd v1.2.0 (revision 0123abcd4567,
// go1.26.8)": the module version, the version control revision the
// binary was built from, with "+changes" when the working tree had
// changes, and the Go version.
func String(program string) string {
	version, revision, modified := "unknown", "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		version = info.Main.Version
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if revision == "" && Revision != "" {
		revision, modified = strings.TrimSuffix(Revision, "-dirty"), strings.HasSuffix(Revision, "-dirty")
	}
	var details []string
	if revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		if modified {
			revision += "+changes"
		}
		details = append(details, "revision "+revision)
	}
	details = append(details, runtime.Version())
	return program + " " + version + " (" + strings.Join(details, ", ") + ")"
}
