package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"meshcomm/sim"
)

func init() {
	subcommands["sim"] = subcommand{
		summary: "simulate many overlay peers in virtual time (scenarios: " + strings.Join(sim.Scenarios, ", ") + ")",
		run:     func(args []string) int { return runSim(args, os.Stdout, os.Stderr) },
	}
}

// runSim is `meshcomm sim`: it runs one deterministic simulation and prints its measurements.
// It returns the process exit code: 0, 1 when the run fails, 2 for bad usage.
func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: meshcomm sim [flags]\n\nRuns one seeded scenario in virtual time and prints what it measured (see docs/simulator.md).\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg sim.Config
	asJSON := fs.Bool("json", false, "print one JSON object instead of a summary")
	fs.IntVar(&cfg.Nodes, "nodes", sim.DefaultNodes, "number of nodes (merge: split between two teams)")
	fs.StringVar(&cfg.Scenario, "scenario", sim.ScenarioSteady, "one of: "+strings.Join(sim.Scenarios, ", "))
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of every random choice (same seed, same result)")
	fs.Float64Var(&cfg.Loss, "loss", 0, "probability that a message is lost, in [0, 1)")
	fs.DurationVar(&cfg.Latency, "latency", sim.DefaultLatency, "one-way latency of every message")
	fs.DurationVar(&cfg.Jitter, "jitter", sim.DefaultJitter, "extra latency, uniform in [0, jitter]")
	fs.DurationVar(&cfg.Duration, "duration", sim.DefaultDuration, "virtual length of the scenario")
	fs.DurationVar(&cfg.Session, "session", sim.DefaultSession, "churn: median session length")
	fs.Float64Var(&cfg.LookupRate, "lookup-rate", 0, "workload lookups per virtual second (0: about 5000 per run)")
	fs.BoolVar(&cfg.Wire, "wire", false, "encode and decode every message through the wire codec (slower)")
	fs.IntVar(&cfg.Workers, "workers", 0, "goroutines that run the simulated cores (0: one per processor); the result does not depend on it")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile at the end of the run to this file")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "meshcomm sim: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "meshcomm sim: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			f, err := os.Create(*memProfile)
			if err != nil {
				fmt.Fprintf(stderr, "meshcomm sim: %v\n", err)
				return
			}
			defer f.Close()
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				fmt.Fprintf(stderr, "meshcomm sim: %v\n", err)
			}
		}()
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "meshcomm sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	res, err := sim.Run(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "meshcomm sim: %v\n", err)
		return 1
	}
	if *asJSON {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "meshcomm sim: %v\n", err)
		return 1
	}
	return 0
}
