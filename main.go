// Command rtsync is a real-time messaging server and the tools to use and
// measure it, in one binary. See the cmd package for the commands.
package main

import (
	"os"

	"github.com/rtsync/rtsync/cmd"
	"github.com/rtsync/rtsync/internal/iostreams"
)

func main() {
	err := cmd.Execute(iostreams.System(), os.Args[1:])
	os.Exit(cmd.ExitCode(err))
}
