package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rtsync/rtsync/server/store/disk"
)

// TestStoreScripts runs the scripts of 'rtsync store' in testdata/store:
// the real binary against stores the test makes, holds and damages.
func TestStoreScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/store",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkstore":     cmdMkstore,
			"holdstore":   cmdHoldstore,
			"damagestore": cmdDamagestore,
			"exitcode":    cmdExitCode,
		},
	})
}

// cmdMkstore makes a store in DIR with N messages over three rooms and
// one offline direct message.
func cmdMkstore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkstore DIR N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	s, err := disk.Open(ts.MkAbs(args[0]), disk.Options{})
	ts.Check(err)
	now := time.Now().UnixMilli()
	for i := range n {
		_, _, c, err := s.Append(fmt.Sprintf("room%d", i%3), now, []byte(`{"uid":"u"}`), fmt.Appendf(nil, `"message %d"`, i))
		ts.Check(err)
		ts.Check(c.Wait())
	}
	_, c, err := s.InboxAppend("bob", now, []byte(`{"uid":"u"}`), []byte(`"hi"`))
	ts.Check(err)
	ts.Check(c.Wait())
	ts.Check(s.Close())
}

// cmdHoldstore opens the store in DIR, as a running server would, until
// the script ends.
func cmdHoldstore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdstore DIR")
	}
	s, err := disk.Open(ts.MkAbs(args[0]), disk.Options{})
	ts.Check(err)
	ts.Defer(func() { s.Close() })
}

// cmdDamagestore flips bytes in the middle of the store's table files.
func cmdDamagestore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: damagestore DIR")
	}
	tables, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "*.sst"))
	ts.Check(err)
	if len(tables) == 0 {
		ts.Fatalf("no table files in %s", args[0])
	}
	for _, f := range tables {
		b, err := os.ReadFile(f)
		ts.Check(err)
		for i := len(b) / 4; i < len(b)/2; i++ {
			b[i] ^= 0x5a
		}
		ts.Check(os.WriteFile(f, b, 0o600))
	}
}
