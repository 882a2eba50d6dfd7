package control

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Key sizes that vnet.add accepts: pre-shared keys of 16 or 32 bytes,
// given as 32 or 64 hex digits.
const (
	minKeyBytes = 16
	maxKeyBytes = 32
)

// maxKeyFileName is the longest key file name, NAME_MAX on Linux.
const maxKeyFileName = 255

// keyStore keeps vnet keys as files in a directory, so that the state
// file refers to a key by file name and never contains key material.
// Each file contains the key in hex and a newline, and has mode 0600.
type keyStore struct {
	dir string
}

// parseKey decodes a key given in hex. Its errors never contain the text,
// which may be most of a secret.
func parseKey(text string) ([]byte, error) {
	n := len(text)
	if n != 2*minKeyBytes && n != 2*maxKeyBytes {
		return nil, fmt.Errorf("invalid key: it has %d characters (use %d or %d hex digits, a %d- or %d-byte key)", n, 2*minKeyBytes, 2*maxKeyBytes, minKeyBytes, maxKeyBytes)
	}
	key, err := hex.DecodeString(text)
	if err != nil {
		return nil, errors.New("invalid key: it contains a character that is not a hex digit (use 0-9 and a-f)")
	}
	return key, nil
}

// checkKeyFileName accepts a plain file name in the key directory:
// letters, digits, '.', '_' and '-', not starting with '.'. Paths are
// rejected so that a command cannot name a file elsewhere.
func checkKeyFileName(name string) error {
	if name == "" || len(name) > maxKeyFileName {
		return fmt.Errorf("invalid key file name %q: it has %d characters (use 1 to %d)", name, len(name), maxKeyFileName)
	}
	if name[0] == '.' {
		return fmt.Errorf("invalid key file name %q: it starts with '.' (name a file in the key directory)", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("invalid key file name %q: character %s is not allowed (name a file in the key directory with letters, digits, '_', '.' and '-')", name, printable(c))
		}
	}
	return nil
}

// keyFileName returns the file name under which save stores the key of
// vnet id, such as vnet-0000-0000-0000-0000-0000-0000-0000-1500.key.
func keyFileName(id wire.VnetID) string {
	return "vnet-" + strings.ReplaceAll(id.String(), ":", "-") + ".key"
}

// save writes the key of vnet id to its file, readable by the owner only,
// and returns the file name for the state file.
func (k keyStore) save(id wire.VnetID, key []byte) (string, error) {
	if err := os.MkdirAll(k.dir, 0o700); err != nil {
		return "", fmt.Errorf("create key directory %s: %w", k.dir, err)
	}
	name := keyFileName(id)
	text := hex.EncodeToString(key) + "\n"
	if err := writeFileAtomic(k.dir, name, []byte(text)); err != nil {
		return "", fmt.Errorf("save key of vnet %s: %w", id, err)
	}
	return name, nil
}

// load reads the key in file name of the key directory. The file must be
// a regular file owned by this process's user and not accessible to
// group or others, as save creates it.
func (k keyStore) load(name string) ([]byte, error) {
	if err := checkKeyFileName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(k.dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open key file %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("check key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %#o (make it readable by its owner only: chmod 600 %s)", path, perm, path)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("key file %s is owned by uid %d, not by uid %d that vnetd runs as (chown it)", path, st.Uid, os.Geteuid())
	}

	// A key file is a few dozen bytes; the limit only bounds what a wrong
	// file costs.
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	// White space, such as the line breaks of xxd -p, is not part of
	// the key.
	key, err := parseKey(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
