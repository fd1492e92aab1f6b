// Command meshcomm turns field laptops into a self-organising voice and text network: one binary
// that is the overlay peer, the SIP user agent, the simulator and the command line that drives
// them.
package main

import (
	"fmt"
	"os"
	"sort"
)

// subcommand is one verb of the command line.
type subcommand struct {
	summary string
	run     func(args []string) int
}

var subcommands = map[string]subcommand{}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: meshcomm COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, subcommands[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := subcommands[os.Args[1]]
	if !ok {
		if os.Args[1] != "help" && os.Args[1] != "-h" && os.Args[1] != "--help" {
			fmt.Fprintf(os.Stderr, "meshcomm: unknown command %q\n\n", os.Args[1])
		}
		usage()
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}
