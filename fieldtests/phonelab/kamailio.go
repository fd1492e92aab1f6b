package phonelab

import (
	"errors"
	"fmt"
	"strings"
)

// Placeholders of the Kamailio configuration template (fieldtests/sipbench/testdata/kamailio.cfg),
// with the text around them that makes them unambiguous (the template's comments name them too).
const (
	placeholderListen  = "listen=LISTEN"
	placeholderCtlSock = "unix:CTLSOCK"
)

// KamailioConfig fills the benchmark's Kamailio configuration template: in "listen=LISTEN",
// LISTEN becomes the socket Kamailio listens on (e.g. "udp:10.77.0.2:5060"), and in
// "unix:CTLSOCK", CTLSOCK becomes the path of its control socket. Each must occur exactly
// once, and the values may hold neither quotes nor white space (they end up inside the
// configuration's syntax).
func KamailioConfig(template, listen, ctlSock string) (string, error) {
	for _, v := range []string{listen, ctlSock} {
		if v == "" || strings.ContainsAny(v, "\"' \t\r\n") {
			return "", fmt.Errorf("kamailio config: value %q is empty or holds quotes or white space", v)
		}
	}
	if !strings.HasPrefix(template, "#!KAMAILIO") {
		return "", errors.New("kamailio config: template does not start with #!KAMAILIO")
	}
	for _, p := range []string{placeholderListen, placeholderCtlSock} {
		if n := strings.Count(template, p); n != 1 {
			return "", fmt.Errorf("kamailio config: placeholder %s occurs %d times, want once", p, n)
		}
	}
	out := strings.Replace(template, placeholderListen, "listen="+listen, 1)
	return strings.Replace(out, placeholderCtlSock, "unix:"+ctlSock, 1), nil
}
