package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"meshcomm/node"
)

func init() {
	subcommands["call"] = subcommand{summary: "call a user: meshcomm call EXT [--play WAV] [--record WAV] [--duration D] [--json]",
		run: func(args []string) int { return runCall(args, os.Stdout, os.Stderr) }}
	subcommands["msg"] = subcommand{summary: "send a text message: meshcomm msg EXT TEXT (kept in the mesh until they are back)",
		run: func(args []string) int { return runMsg(args, os.Stdout, os.Stderr) }}
	subcommands["messages"] = subcommand{summary: "list received and sent messages with their state",
		run: func(args []string) int { return runMessages(args, os.Stdout, os.Stderr) }}
	subcommands["presence"] = subcommand{summary: "meshcomm presence set STATE [TEXT] | presence get EXT",
		run: func(args []string) int { return runPresence(args, os.Stdout, os.Stderr) }}
	subcommands["voicemail"] = subcommand{summary: "meshcomm voicemail list | voicemail play REF --out FILE",
		run: func(args []string) int { return runVoicemail(args, os.Stdout, os.Stderr) }}
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func runCall(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("call", "call EXT|sip:EXT@TEAM [--play WAV] [--record WAV] [--duration D] [--via NODEID|overlay] [--voicemail] [--json]", stderr)
	cf := newClientFlags(fs, true)
	play := fs.String("play", "", "WAV file (16-bit mono) to send into the call")
	record := fs.String("record", "", "WAV file to record what arrives into")
	duration := fs.Duration("duration", 0, "hang up this long after the answer (default: when --play ends, else 10s)")
	via := fs.String("via", "", "send the INVITE through this peer (node id), or through the linked peer closest to the callee's resource (\"overlay\"): the overlay-routed mode")
	voicemail := fs.Bool("voicemail", false, "if nobody answers, leave --play as a voice message")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	cl, ok := dial("call", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	var res node.CallResult
	err := cl.Call(context.Background(), node.MethodCall, node.CallParams{Target: pos[0], Play: absPath(*play),
		Record: absPath(*record), DurationMs: int(duration.Milliseconds()), Via: *via, Voicemail: *voicemail}, &res)
	if err != nil {
		return fail(stderr, "call", err)
	}
	if *cf.json {
		err = printJSON(stdout, res)
	} else {
		_, err = fmt.Fprintf(stdout, "%s   SIP %d   setup %.1f ms\n  CODEC %s   SENT %d   RECEIVED %d   LOST %d\n",
			strings.ToUpper(res.Result), res.SIPStatus, res.SetupMs, res.Codec, res.PacketsSent, res.PacketsReceived, res.PacketsLost)
		if err == nil && res.Voicemail != "" {
			_, err = fmt.Fprintf(stdout, "  VOICEMAIL %s\n", res.Voicemail)
		}
	}
	if err != nil {
		return fail(stderr, "call", err)
	}
	if res.Result != "answered" {
		return 1
	}
	return 0
}

func runMsg(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("msg", "msg EXT|sip:EXT@TEAM TEXT... [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	pos, code, ok := parseArgs(fs, args, 2, -1)
	if !ok {
		return code
	}
	cl, ok := dial("msg", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res node.MessageResult
	if err := cl.Call(ctx, node.MethodMessage, node.MessageParams{Target: pos[0], Text: strings.Join(pos[1:], " ")}, &res); err != nil {
		return fail(stderr, "msg", err)
	}
	var err error
	if *cf.json {
		err = printJSON(stdout, res)
	} else {
		_, err = fmt.Fprintf(stdout, "%s   to %s   (%s)\n", strings.ToUpper(res.State), res.To, res.ID)
	}
	if err != nil {
		return fail(stderr, "msg", err)
	}
	return 0
}

func runMessages(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("messages", "messages [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	res, ok := fetchMessages("messages", *cf.data, stderr)
	if !ok {
		return 1
	}
	var err error
	if *cf.json {
		err = printJSON(stdout, res)
	} else {
		err = writeMessages(stdout, res)
	}
	if err != nil {
		return fail(stderr, "messages", err)
	}
	return 0
}

func fetchMessages(name, data string, stderr io.Writer) (node.MessagesResult, bool) {
	var res node.MessagesResult
	cl, ok := dial(name, data, stderr)
	if !ok {
		return res, false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Call(ctx, node.MethodMessages, nil, &res); err != nil {
		fail(stderr, name, err)
		return res, false
	}
	return res, true
}

func writeMessages(w io.Writer, res node.MessagesResult) error {
	fmt.Fprintf(w, "INBOX (%d)\n", len(res.Inbox))
	for _, m := range res.Inbox {
		body := m.Text
		if m.Kind == "voicemail" {
			body = fmt.Sprintf("[voicemail %d bytes]  %s", m.AudioBytes, m.Ref)
		}
		fmt.Fprintf(w, "  %s  %-22s %s\n", m.ReceivedAt.Local().Format("15:04:05"), m.From, body)
	}
	fmt.Fprintf(w, "SENT (%d)\n", len(res.Outbox))
	for _, m := range res.Outbox {
		_, err := fmt.Fprintf(w, "  %s  %-22s %-10s %s\n", m.SentAt.Local().Format("15:04:05"), m.To, strings.ToUpper(m.State), m.Text)
		if err != nil {
			return err
		}
	}
	return nil
}

func runPresence(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("presence", "presence set available|busy|on-scene|off-duty [TEXT...] | get EXT | watch EXT... | list  [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	pos, code, ok := parseArgs(fs, args, 1, -1)
	if !ok {
		return code
	}
	cl, ok := dial("presence", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if pos[0] == "list" || pos[0] == "watch" {
		var list []node.PresenceInfo
		var err error
		if pos[0] == "list" {
			err = cl.Call(ctx, node.MethodPresenceList, nil, &list)
		} else {
			err = cl.Call(ctx, node.MethodPresenceWatch, node.PresenceWatchParams{Targets: pos[1:]}, &list)
		}
		if err != nil {
			return fail(stderr, "presence", err)
		}
		if *cf.json {
			err = printJSON(stdout, list)
		} else {
			err = writeRoster(stdout, list)
		}
		if err != nil {
			return fail(stderr, "presence", err)
		}
		return 0
	}
	if len(pos) < 2 {
		fmt.Fprintf(stderr, "meshcomm presence %s: missing argument\n", pos[0])
		return 2
	}
	var res node.PresenceInfo
	var err error
	switch pos[0] {
	case "set":
		err = cl.Call(ctx, node.MethodPresenceSet, node.PresenceParams{State: pos[1], Text: strings.Join(pos[2:], " ")}, &res)
	case "get":
		err = cl.Call(ctx, node.MethodPresenceGet, node.PresenceGetParams{Target: pos[1]}, &res)
	default:
		fmt.Fprintf(stderr, "meshcomm presence: %q is not set, get, watch or list\n", pos[0])
		return 2
	}
	if err != nil {
		return fail(stderr, "presence", err)
	}
	if *cf.json {
		err = printJSON(stdout, res)
	} else if res.Known {
		_, err = fmt.Fprintf(stdout, "%s   %s   %s\n", res.AoR, strings.ToUpper(res.State), res.Text)
	} else {
		_, err = fmt.Fprintf(stdout, "%s   UNKNOWN\n", res.AoR)
	}
	if err != nil {
		return fail(stderr, "presence", err)
	}
	return 0
}

func runVoicemail(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("voicemail", "voicemail list | voicemail play REF --out FILE  [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	out := fs.String("out", "", "file to write the voicemail's audio to (play)")
	pos, code, ok := parseArgs(fs, args, 1, 2)
	if !ok {
		return code
	}
	switch pos[0] {
	case "list":
		res, ok := fetchMessages("voicemail", *cf.data, stderr)
		if !ok {
			return 1
		}
		var vms []node.InboxMessage
		for _, m := range res.Inbox {
			if m.Kind == "voicemail" {
				vms = append(vms, m)
			}
		}
		if *cf.json {
			if vms == nil {
				vms = []node.InboxMessage{}
			}
			if err := printJSON(stdout, vms); err != nil {
				return fail(stderr, "voicemail", err)
			}
			return 0
		}
		fmt.Fprintf(stdout, "VOICEMAIL (%d)\n", len(vms))
		for _, m := range vms {
			fmt.Fprintf(stdout, "  %s  %-22s %6d bytes  %s\n", m.ReceivedAt.Local().Format("15:04:05"), m.From, m.AudioBytes, m.Ref)
		}
		return 0
	case "play":
		if len(pos) < 2 || *out == "" {
			fmt.Fprintln(stderr, "meshcomm voicemail play: give the voicemail's REF (from voicemail list) and --out FILE")
			return 2
		}
		cl, ok := dial("voicemail", *cf.data, stderr)
		if !ok {
			return 1
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var res node.InboxMessage
		if err := cl.Call(ctx, node.MethodVoicemailPlay, node.VoicemailPlayParams{Ref: pos[1], Out: absPath(*out)}, &res); err != nil {
			return fail(stderr, "voicemail", err)
		}
		if *cf.json {
			if err := printJSON(stdout, res); err != nil {
				return fail(stderr, "voicemail", err)
			}
		} else {
			fmt.Fprintf(stdout, "WROTE %s   %d bytes of %s from %s\n", *out, res.AudioBytes, res.MediaType, res.From)
		}
		return 0
	}
	fmt.Fprintf(stderr, "meshcomm voicemail: %q is neither list nor play\n", pos[0])
	return 2
}

func writeRoster(w io.Writer, list []node.PresenceInfo) error {
	fmt.Fprintf(w, "ROSTER (%d)\n", len(list))
	for _, p := range list {
		state := "UNKNOWN"
		if p.Known {
			state = strings.ToUpper(p.State)
		}
		if _, err := fmt.Fprintf(w, "  %-24s %-10s %s\n", p.AoR, state, p.Text); err != nil {
			return err
		}
	}
	return nil
}
