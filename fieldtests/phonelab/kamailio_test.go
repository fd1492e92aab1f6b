package phonelab

import (
	"os"
	"strings"
	"testing"
)

func TestKamailioConfigFillsTheTemplate(t *testing.T) {
	template, err := os.ReadFile(sipbenchData + "/kamailio.cfg")
	if err != nil {
		t.Fatal(err)
	}
	out, err := KamailioConfig(string(template), "udp:10.77.0.2:5060", "/tmp/bench/kamailio.ctl")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nlisten=udp:10.77.0.2:5060\n", `"unix:/tmp/bench/kamailio.ctl"`} {
		if !strings.Contains(out, want) {
			t.Errorf("filled configuration lacks %q", want)
		}
	}
	if strings.Contains(out, placeholderListen) || strings.Contains(out, placeholderCtlSock) {
		t.Error("a placeholder is left in the filled configuration")
	}
	if len(out) != len(template)-len("LISTENCTLSOCK")+len("udp:10.77.0.2:5060/tmp/bench/kamailio.ctl") {
		t.Error("filling the template changed more than the two placeholders")
	}
}

func TestKamailioConfigRefuses(t *testing.T) {
	const good = "#!KAMAILIO\nlisten=LISTEN\nmodparam(\"ctl\", \"binrpc\", \"unix:CTLSOCK\")\n"
	for name, tc := range map[string]struct{ template, listen, ctl string }{
		"not a kamailio config": {"listen=LISTEN unix:CTLSOCK", "udp:1.2.3.4:5060", "/x"},
		"no listen":             {"#!KAMAILIO\nunix:CTLSOCK\n", "udp:1.2.3.4:5060", "/x"},
		"two listens":           {good + "listen=LISTEN\n", "udp:1.2.3.4:5060", "/x"},
		"no control socket":     {"#!KAMAILIO\nlisten=LISTEN\n", "udp:1.2.3.4:5060", "/x"},
		"quote in a value":      {good, "udp:1.2.3.4:5060", `/x"y`},
		"space in a value":      {good, "udp:1.2.3.4:5060 tcp:x", "/x"},
		"empty value":           {good, "", "/x"},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := KamailioConfig(tc.template, tc.listen, tc.ctl); err == nil {
				t.Fatalf("accepted, giving %q", out)
			}
		})
	}
}
