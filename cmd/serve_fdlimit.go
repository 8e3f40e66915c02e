package cmd

import (
	"fmt"
	"log/slog"
)

// fdReserve is the open files serve keeps for what is not a client
// connection: listeners, hook and API connections, the process's own files,
// and the connection a full server accepts only to refuse with 4011.
const fdReserve = 64

// fdLimitAdvice says what happens when maxConns connections need more files
// than the process may open (limit), and how to fix it; "" when they fit.
// Past the limit accept fails with EMFILE: a client waits and times out
// instead of getting close 4011, and the server stops accepting anyone.
func fdLimitAdvice(maxConns int, limit uint64) string {
	switch {
	case limit <= fdReserve:
		return fmt.Sprintf("this process may open only %d files; raise the limit (ulimit -n) to serve clients", limit)
	case uint64(maxConns)+fdReserve <= limit:
		return ""
	}
	fit := limit - fdReserve
	return fmt.Sprintf("--max-conns %d is more than this process may open (%d files): past about %d connections accept fails and clients time out instead of getting close 4011; set --max-conns %d or raise the limit (ulimit -n)",
		maxConns, limit, fit, fit)
}

// fitOpenFiles returns the max-conns to serve with. A default that needs
// more files than the process may open is lowered to what fits, so a full
// server refuses with 4011 rather than failing at accept; a value the user
// set is kept, with a warning.
func fitOpenFiles(log *slog.Logger, maxConns int, userSet bool) int {
	limit, ok := openFileLimit()
	if !ok {
		return maxConns
	}
	advice := fdLimitAdvice(maxConns, limit)
	switch {
	case advice == "":
		return maxConns
	case !userSet && limit > fdReserve:
		fit := int(limit - fdReserve)
		log.Info("max connections lowered to fit the open-file limit; raise the limit (ulimit -n) to serve more", "max_conns", fit, "open_file_limit", limit)
		return fit
	default:
		log.Warn(advice, "max_conns", maxConns, "open_file_limit", limit)
		return maxConns
	}
}
