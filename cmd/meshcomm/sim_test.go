package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSimPrintsOneJSONObject(t *testing.T) {
	var out, errs bytes.Buffer
	code := runSim([]string{"--nodes", "12", "--scenario", "merge", "--seed", "3", "--duration", "20s",
		"--loss", "0.05", "--latency", "5ms", "--jitter", "1ms", "--json"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	if m["scenario"] != "merge" || m["nodes"] != 12.0 || m["seed"] != 3.0 || m["loss"] != 0.05 || m["latency_ms"] != 5.0 {
		t.Errorf("flags not reflected in the output: %s", out.String())
	}
}

func TestSimPrintsASummary(t *testing.T) {
	var out, errs bytes.Buffer
	if code := runSim([]string{"--nodes", "10", "--duration", "15s"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"scenario steady: 10 nodes", "lookups:", "records lost:", "converged after:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSimRefusesBadUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--scenario", "nonsense"}, 1, "unknown scenario"},
		{[]string{"--loss", "1.5"}, 1, "loss"},
		{[]string{"--nodes", "ten"}, 2, "invalid value"},
		{[]string{"extra"}, 2, "unexpected argument"},
	} {
		var out, errs bytes.Buffer
		if code := runSim(c.args, &out, &errs); code != c.code || !strings.Contains(errs.String(), c.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs.String(), c.code, c.says)
		}
	}
}
