package cmd

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rtsync/rtsync/internal/cliconf"
	"github.com/rtsync/rtsync/server"
	"github.com/rtsync/rtsync/server/broker/redisbroker"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/disk"
)

// Where serve keeps history and offline inboxes: --store, --data-dir,
// --fsync, and the retention flags that go with them.

// serveStoreFlags are serve's storage settings.
type serveStoreFlags struct {
	Kind        string
	DataDir     string
	Fsync       string
	RoomHistory []string
	// Redis, when set, makes this node one of a cluster: history,
	// inboxes and delivery between nodes go through it.
	Redis       string
	RedisPrefix string
	// kindSet is true when --store was given (it conflicts with
	// --redis).
	kindSet bool
}

func (f *serveStoreFlags) register(fs *pflag.FlagSet, s *server.Config, d server.Config) {
	cliconf.ChoiceVar(fs, &f.Kind, "store", "disk", "where history and offline messages live: disk keeps them under --data-dir across restarts, memory keeps nothing past the process", "disk", "memory")
	fs.StringVar(&f.DataDir, "data-dir", defaultDataDir, "`directory` of the disk store (made if missing; one server at a time)")
	cliconf.ChoiceVar(fs, &f.Fsync, "fsync", disk.FsyncBatch, "when a publish is acknowledged: batch after a sync shared by the publishes waiting (group commit), always after a sync of its own, off once written to the OS (survives a crash of rtsync, not of the machine)", disk.FsyncBatch, disk.FsyncAlways, disk.FsyncOff)
	fs.StringVar(&f.Redis, "redis", "", "cluster mode: every node on this Redis is one server (rooms, users, history, offline messages, the HTTP API), as `URL` redis://[user:password@]host:port/db, rediss:// for TLS; keep a password out of the command line with RTSYNC_REDIS or the config file")
	fs.StringVar(&f.RedisPrefix, "redis-prefix", redisbroker.DefaultPrefix, "start of every Redis key and channel; clusters with different prefixes share a Redis without meeting")
	fs.StringSliceVar(&f.RoomHistory, "room-history", nil, "per-room retention overriding --history-size and --history-ttl, as `PATTERN=SIZE[/TTL]` (comma-separated, first match wins): news.*=5000/72h,tmp.*=0")
	fs.IntVar(&s.InboxMax, "inbox-max", d.InboxMax, "direct messages kept for one offline user; past it the oldest go")
	fs.DurationVar(&s.InboxTTL, "inbox-ttl", d.InboxTTL, "how long a direct message waits for its offline user")
}

// parseRoomHistory reads --room-history values.
func parseRoomHistory(vals []string) ([]server.RoomHistory, error) {
	var out []server.RoomHistory
	for _, v := range vals {
		pattern, rest, ok := strings.Cut(v, "=")
		if !ok || pattern == "" || rest == "" {
			return nil, fmt.Errorf("--room-history %q: want PATTERN=SIZE or PATTERN=SIZE/TTL, such as news.*=5000/72h", v)
		}
		sizeText, ttlText, hasTTL := strings.Cut(rest, "/")
		size, err := strconv.Atoi(sizeText)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("--room-history %q: size %q must be a whole number of messages, 0 or more", v, sizeText)
		}
		rh := server.RoomHistory{Rooms: pattern, Size: size}
		if hasTTL {
			if rh.TTL, err = time.ParseDuration(ttlText); err != nil || rh.TTL <= 0 {
				return nil, fmt.Errorf("--room-history %q: ttl %q must be a duration with a unit, such as 72h", v, ttlText)
			}
		}
		out = append(out, rh)
	}
	return out, nil
}

// check rejects storage settings before anything is opened.
func (f *serveStoreFlags) check(c server.Config) error {
	var errs []error
	if c.InboxMax < 1 {
		errs = append(errs, fmt.Errorf("--inbox-max must be at least 1, got %d", c.InboxMax))
	}
	if c.InboxTTL <= 0 {
		errs = append(errs, fmt.Errorf("--inbox-ttl must be more than 0, got %s", c.InboxTTL))
	}
	if f.Redis != "" && f.kindSet {
		errs = append(errs, fmt.Errorf("--store %s and --redis do not go together: with --redis, history and offline messages live in Redis; drop --store", f.Kind))
	}
	if f.Redis == "" && f.Kind == "disk" && strings.TrimSpace(f.DataDir) == "" {
		errs = append(errs, errors.New("--data-dir must name a directory (or use --store memory)"))
	}
	if _, err := parseRoomHistory(f.RoomHistory); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// apply sets the store of cfg: nil OpenStore (memory), the disk store,
// or, with --redis, the Redis broker and its store. It connects to Redis
// at once: an unreachable Redis is an error here. The caller closes
// cfg.Broker if the server does not start.
func (f *serveStoreFlags) apply(cfg *server.Config, log *slog.Logger) error {
	rh, err := parseRoomHistory(f.RoomHistory)
	if err != nil {
		return err
	}
	cfg.RoomHistory = rh
	if f.Redis != "" {
		b, err := redisbroker.Open(f.Redis, redisbroker.Options{Prefix: f.RedisPrefix, Node: cfg.Node, Logger: log})
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		cfg.Node = b.Node()
		cfg.Broker = b
		cfg.OpenStore = b.Store
		nodes, _ := b.Nodes()
		log.Info("cluster mode: history, offline messages and delivery between nodes go through Redis", "redis", b.Addr(), "prefix", f.RedisPrefix, "node", b.Node(), "nodes_live", len(nodes))
		return nil
	}
	if f.Kind != "disk" {
		log.Warn("history and offline messages are kept in memory (--store memory): a restart loses them, and clients are told their recovery is incomplete")
		return nil
	}
	dir, fsync := f.DataDir, f.Fsync
	cfg.OpenStore = func(opts store.Options) (store.Store, error) {
		st, err := disk.Open(dir, disk.Options{Options: opts, Fsync: fsync, Logf: func(format string, args ...any) {
			log.Warn(fmt.Sprintf(format, args...), "data_dir", dir)
		}})
		if err != nil {
			return nil, err
		}
		abs, _ := filepath.Abs(dir)
		ss := st.Stats()
		log.Info("history and offline messages on disk", "data_dir", abs, "fsync", fsync, "rooms", ss.Rooms, "messages", ss.Messages, "inbox_messages", ss.InboxMessages, "disk_bytes", ss.DiskBytes)
		return st, nil
	}
	return nil
}
