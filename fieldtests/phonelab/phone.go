package phonelab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/node"
)

// Limits of the phone commands run from the host.
const (
	// CommandTimeout bounds a phone command other than a call.
	CommandTimeout = 30 * time.Second
	// CallSlack is how much longer than its --duration a call may take: ringing, a voicemail
	// left after no answer, hanging up. An INVITE to a node that stopped answering may wait for
	// SIP's transaction timeout (32 s) before it fails.
	CallSlack = 60 * time.Second
	// maxOutput bounds what one command may print.
	maxOutput = 1 << 20
)

// Phone drives the phone of the daemons in a lab (calls, messages, voicemail) through the
// meshcomm command line on the host, as lab.Cluster does for the overlay commands.
type Phone struct {
	Cluster *lab.Cluster
	Binary  string // the meshcomm binary the cluster runs
}

// CallOptions are the flags of one `meshcomm call`. Paths are read and written by the
// calling daemon, so they must be absolute.
type CallOptions struct {
	Play      string
	Record    string
	Duration  time.Duration
	Via       string // a peer's node id: the INVITE goes through it
	Voicemail bool
}

// Call runs `meshcomm call TARGET ... --json` at node n. A call that was not answered is a
// result (Result says why), not an error.
func (p Phone) Call(n int, target string, o CallOptions) (node.CallResult, error) {
	args := []string{"call", target}
	if o.Play != "" {
		args = append(args, "--play", o.Play)
	}
	if o.Record != "" {
		args = append(args, "--record", o.Record)
	}
	if o.Duration > 0 {
		args = append(args, "--duration", o.Duration.String())
	}
	if o.Via != "" {
		args = append(args, "--via", o.Via)
	}
	if o.Voicemail {
		args = append(args, "--voicemail")
	}
	var res node.CallResult
	err := p.runJSON(n, o.Duration+CallSlack, &res, args...)
	return res, err
}

// Send runs `meshcomm msg TARGET TEXT --json` at node n.
func (p Phone) Send(n int, target, text string) (node.MessageResult, error) {
	var res node.MessageResult
	err := p.runJSON(n, CommandTimeout, &res, "msg", target, text)
	return res, err
}

// Messages runs `meshcomm messages --json` at node n.
func (p Phone) Messages(n int) (node.MessagesResult, error) {
	var res node.MessagesResult
	err := p.runJSON(n, CommandTimeout, &res, "messages")
	return res, err
}

// Voicemails runs `meshcomm voicemail list --json` at node n.
func (p Phone) Voicemails(n int) ([]node.InboxMessage, error) {
	var res []node.InboxMessage
	err := p.runJSON(n, CommandTimeout, &res, "voicemail", "list")
	return res, err
}

// PlayVoicemail runs `meshcomm voicemail play REF --out OUT --json` at node n (OUT absolute:
// the daemon writes it).
func (p Phone) PlayVoicemail(n int, ref, out string) (node.InboxMessage, error) {
	var res node.InboxMessage
	err := p.runJSON(n, CommandTimeout, &res, "voicemail", "play", ref, "--out", out)
	return res, err
}

// runJSON runs a client command against node n's daemon with --json and decodes its output
// into v. Exit status 1 with output is a result (a call not answered); any other failure is an
// error carrying stderr.
func (p Phone) runJSON(n int, timeout time.Duration, v any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append(args, "--json", "--data", p.Cluster.DataDir(n))
	cmd := exec.CommandContext(ctx, p.Binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &boundedWriter{&stdout}, &boundedWriter{&stderr}
	err := cmd.Run()
	name := "meshcomm " + strings.Join(args[:min(2, len(args))], " ")
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: no answer within %v: %s", name, timeout, strings.TrimSpace(stderr.String()))
	case errors.As(err, &ee) && (ee.ExitCode() != 1 || stdout.Len() == 0):
		return fmt.Errorf("%s: exit %d: %s", name, ee.ExitCode(), strings.TrimSpace(stderr.String()))
	case err != nil && !errors.As(err, &ee):
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%s: output is not the expected JSON: %w: %.300q", name, err, stdout.Bytes())
	}
	return nil
}

// boundedWriter keeps at most maxOutput bytes and drops the rest (a runaway command cannot
// exhaust the test's memory; the JSON then fails to decode, with the reason shown).
type boundedWriter struct{ b *bytes.Buffer }

func (w *boundedWriter) Write(p []byte) (int, error) {
	if room := maxOutput - w.b.Len(); room > 0 {
		w.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
