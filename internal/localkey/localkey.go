package localkey

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// EnvFile names the environment variable that overrides DefaultPath for
// serve and the tools alike (serve's --api-key-file flag reads it too).
const EnvFile = "RTSYNC_API_KEY_FILE"

// keyBytes is the key's entropy; it is written as unpadded base64url.
const keyBytes = 32

// DefaultPath returns where the key is kept: $RTSYNC_API_KEY_FILE, or
// api-key in the rtsync folder of the user's config directory
// ($XDG_CONFIG_HOME or ~/.config on Linux).
func DefaultPath(lookupEnv func(string) (string, bool)) (string, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if p, ok := lookupEnv(EnvFile); ok && p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user's config directory for the API key file: %w; set %s or --api-key-file", err, EnvFile)
	}
	return filepath.Join(dir, "rtsync", "api-key"), nil
}

// Load reads the key kept at path. A missing file is fs.ErrNotExist.
func Load(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("API key file %s is empty; delete it and rtsync serve makes a new key", path)
	}
	return key, nil
}

// LoadOrCreate returns the key kept at path, creating the file (and its
// folder, 0700) with a new random key when there is none. created says
// whether this call made it. A file that others may read is refused: a
// key anyone on the machine can read protects nothing.
func LoadOrCreate(path string) (key string, created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create the folder of the API key file: %w; set --api-key or --api-key-file", err)
	}
	for range 50 {
		key, err = Load(path)
		if err == nil {
			if err := checkPrivate(path); err != nil {
				return "", false, err
			}
			return key, false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, fmt.Errorf("read the API key: %w", err)
		}
		key, err = create(path)
		if err == nil {
			return key, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", false, fmt.Errorf("create the API key file: %w; set --api-key or --api-key-file", err)
		}
		// Another process is writing it; its key is complete once the
		// file is renamed into place, so read again.
		time.Sleep(10 * time.Millisecond)
	}
	return "", false, fmt.Errorf("API key file %s: could not read or create it", path)
}

// create writes a new key to a temporary file and links it into place, so
// that a reader never sees a half-written key and two creators never both
// win.
func create(path string) (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := base64.RawURLEncoding.EncodeToString(b)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".api-key-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// Link fails with EEXIST when another process won.
	if err := os.Link(tmp.Name(), path); err != nil {
		return "", err
	}
	return key, nil
}

// checkPrivate refuses a key file that users other than its owner may
// read or write.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("API key file %s may be read by other users (mode %04o); run chmod 600 %s", path, perm, path)
	}
	return nil
}
