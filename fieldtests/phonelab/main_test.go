package phonelab

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/fieldtests/radiolink"
	"meshcomm/media"
)

// testbed builds the binary and names the namespaces of this package's tests ("mcpl...", apart
// from the lab package's own "mcft...").
var testbed = lab.NewTestbed("mcpl")

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperNode())
	}
	code := m.Run()
	testbed.Remove()
	os.Exit(code)
}

// labBinary skips the test unless the lab can run here and returns the meshcomm binary.
func labBinary(t *testing.T) string { return testbed.Binary(t) }

// perfect is the lab's default radio: every link up, no delay or loss.
var perfect = radiolink.Link{Up: true}

// newLab starts a cluster of nodes namespaces for the test (see lab.Testbed.Cluster) and the
// phone commands on it.
func newLab(t *testing.T, tag string, nodes int, initial radiolink.Link) (*lab.Cluster, Phone) {
	t.Helper()
	c := testbed.Cluster(t, tag, nodes, initial)
	return c, Phone{Cluster: c, Binary: labBinary(t)}
}

// startThree enrols nodes 1, 2 and 3 of c into one team, starts their daemons and waits until
// they resolve each other.
func startThree(t *testing.T, c *lab.Cluster) map[int]*lab.Process {
	t.Helper()
	enrolAll(t, c, "alpha", 1, 2, 3)
	procs := map[int]*lab.Process{1: start(t, c, 1), 2: start(t, c, 2), 3: start(t, c, 3)}
	waitFor(t, time.Minute, "the three to resolve each other", func() (bool, string) {
		return resolve(c, []int{1, 2, 3}, procs)
	})
	return procs
}

// ext is the extension of the user on node n in these tests.
func ext(n int) string { return strconv.Itoa(100 + n) }

// enrolAll creates team name and enrols nodes ns into it, node n as extension ext(n): the
// laptops of one incident, enrolled from one CA, form one mesh.
func enrolAll(t *testing.T, c *lab.Cluster, name string, ns ...int) *lab.Team {
	t.Helper()
	team, err := c.EnrolAll(name, ext, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return team
}

// start runs the daemon of node n with its extension and args, or fails the test.
func start(t *testing.T, c *lab.Cluster, n int, args ...string) *lab.Process {
	t.Helper()
	p, err := c.StartDaemon(n, append([]string{"--ext", ext(n)}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond (lab.Poll) and fails the test on timeout; it returns the time it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	d, err := lab.Poll(timeout, what, cond)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// resolve reports whether every node in from resolves every daemon in procs (by AoR, to its
// node id).
func resolve(c *lab.Cluster, from []int, procs map[int]*lab.Process) (bool, string) {
	var missing []string
	for _, n := range from {
		for m, p := range procs {
			if m == n {
				continue
			}
			lr, err := c.Lookup(n, p.Ready.AoR, 5*time.Second)
			switch {
			case err != nil:
				missing = append(missing, fmt.Sprintf("node %d: lookup %s: %v", n, p.Ready.AoR, err))
			case !lr.Found || lr.NodeID != p.Ready.NodeID:
				missing = append(missing, fmt.Sprintf("node %d: %s -> found %v node %q", n, p.Ready.AoR, lr.Found, lr.NodeID))
			}
		}
	}
	slices.Sort(missing)
	return len(missing) == 0, strings.Join(missing, "; ")
}

// noLinksAcross reports whether no node of side a is linked to a node of side b.
func noLinksAcross(c *lab.Cluster, procs map[int]*lab.Process, a, b []int) (bool, string) {
	ids := map[string]int{}
	for _, n := range b {
		ids[procs[n].Ready.NodeID] = n
	}
	var across []string
	for _, n := range a {
		peers, err := c.Peers(n)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if m, ok := ids[p.NodeID]; ok {
				across = append(across, fmt.Sprintf("%d-%d", n, m))
			}
		}
	}
	return len(across) == 0, "still linked across: " + strings.Join(across, " ")
}

// writeSpeech writes d of media.SpeechLike at rate Hz, starting offset into the signal (so
// that two directions of a call carry different audio), to a WAV file and returns its samples.
func writeSpeech(t *testing.T, path string, rate int, offset, d time.Duration) []int16 {
	t.Helper()
	all := media.SpeechLike(rate, offset+d)
	pcm := all[int(offset.Seconds()*float64(rate)):]
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, rate, pcm); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return pcm
}

// readWAV reads a 16-bit mono WAV file.
func readWAV(t *testing.T, path string) ([]int16, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pcm, rate
}
