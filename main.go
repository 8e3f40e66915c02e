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
