package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	got := String("vnetd")
	if !strings.HasPrefix(got, "vnetd ") || !strings.HasSuffix(got, runtime.Version()+")") {
		t.Errorf("String(vnetd) = %q, want \"vnetd VERSION (..., %s)\"", got, runtime.Version())
	}
}
