package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Names of the files in the state directory.
const (
	StateFileName = "state.sxp"
	// lockFileName is locked with flock(2) while a vnetd uses the
	// directory, and contains that vnetd's process id.
	lockFileName = "state.lock"
	// badSuffix and a UTC time name a state file that was set aside
	// because it could not be restored completely.
	badSuffix = ".bad-"
	// tempPrefix and tempInfix mark the temporary files that become the
	// state file, or a copy of it, by rename.
	tempPrefix = "." + StateFileName
	tempInfix  = ".tmp-"
)

// stateStore writes and reads the state file of one state directory,
// which it holds locked against other vnetd processes.
type stateStore struct {
	dir  string
	path string
	lock *os.File
	log  *zap.Logger
	// now returns the time for the names of set-aside files; tests
	// replace it.
	now func() time.Time
}

// openStateStore creates the state directory if needed (mode 0700),
// locks it and removes temporary files that an interrupted save left
// behind.
func openStateStore(dir string, log *zap.Logger) (*stateStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	lockPath := filepath.Join(dir, lockFileName)
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state lock %s: %w", lockPath, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := lockHolder(lock)
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock state directory %s: it is in use by %s (stop that vnetd or choose another state directory)", dir, holder)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
	// The process id only serves the error message of the next vnetd. The
	// lock itself is the flock, which the kernel releases when this
	// process ends in any way.
	if err := lock.Truncate(0); err == nil {
		lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}

	s := &stateStore{dir: dir, path: filepath.Join(dir, StateFileName), lock: lock, log: log, now: time.Now}
	s.removeTempFiles()
	return s, nil
}

// lockHolder describes the process whose id the lock file contains.
func lockHolder(lock *os.File) string {
	b := make([]byte, 32)
	n, _ := lock.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return "another process"
	}
	return describeProcess(int32(pid))
}

// describeProcess returns "process PID (NAME)", or "process PID" when its
// name cannot be read.
func describeProcess(pid int32) string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("process %d", pid)
	}
	return fmt.Sprintf("process %d (%s)", pid, strings.TrimSpace(string(comm)))
}

func (s *stateStore) removeTempFiles() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn("list state directory failed", zap.String("dir", s.dir), zap.Error(err))
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !strings.Contains(e.Name(), tempInfix) {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		if err := os.Remove(path); err != nil {
			s.log.Warn("remove temporary state file failed", zap.String("file", path), zap.Error(err))
			continue
		}
		s.log.Info("removed temporary state file of an interrupted save", zap.String("file", path))
	}
}

// read returns the content of the state file, or nil and no error when
// there is none.
func (s *stateStore) read() ([]byte, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file %s: %w", s.path, err)
	}
	return data, nil
}

// save replaces the state file with data so that a crash at any moment
// leaves either the old or the new file. It writes a temporary file in
// the same directory, syncs it, renames it over the state file and syncs
// the directory.
func (s *stateStore) save(data []byte) error {
	return writeFileAtomic(s.dir, StateFileName, data)
}

// writeFileAtomic replaces dir/name with data, mode 0600, by a synced
// temporary file and a rename, then syncs dir so that the rename is on
// disk.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	// CreateTemp already uses mode 0600; the chmod makes it independent
	// of that detail.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("set mode of %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}

	final := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp.Name(), final, err)
	}
	if err := syncDir(dir); err != nil {
		// The new file is in place; only its durability across a power
		// loss is in doubt.
		return fmt.Errorf("sync directory %s after replacing %s: %w", dir, name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// setAside renames the state file to state.sxp.bad-TIME, so that a file
// that cannot be restored is kept for the operator, and returns the new
// path.
func (s *stateStore) setAside() (string, error) {
	aside, err := s.asidePath()
	if err != nil {
		return "", err
	}
	if err := os.Rename(s.path, aside); err != nil {
		return "", fmt.Errorf("set state file %s aside: %w", s.path, err)
	}
	if err := syncDir(s.dir); err != nil {
		return aside, fmt.Errorf("sync state directory %s: %w", s.dir, err)
	}
	return aside, nil
}

// copyAside writes data to a new state.sxp.bad-TIME file and returns its
// path, for a state file that parsed but whose commands did not all
// apply: the file itself is rewritten with what did apply.
func (s *stateStore) copyAside(data []byte) (string, error) {
	aside, err := s.asidePath()
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(s.dir, filepath.Base(aside), data); err != nil {
		return "", fmt.Errorf("keep a copy of state file %s: %w", s.path, err)
	}
	return aside, nil
}

// asidePath returns an unused name state.sxp.bad-TIME[.N] in the state
// directory, with TIME in UTC such as 20261204T203109Z.
func (s *stateStore) asidePath() (string, error) {
	base := s.path + badSuffix + s.now().UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		p := base
		if i > 0 {
			p = base + "." + strconv.Itoa(i)
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("set state file %s aside: %s and 99 numbered variants exist (remove old ones)", s.path, base)
}

// close releases the lock of the state directory.
func (s *stateStore) close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}
