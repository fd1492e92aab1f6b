// Package phonelab is the field lab of meshcomm's phone: real meshcomm daemons in network
// namespaces over the radio-link emulator (package lab's harness), driven through the command
// line a responder uses (`meshcomm call`, `msg`, `messages`, `voicemail`), and measured against
// a conventional SIP server (Kamailio from Debian, with sipp from Debian's sip-tester as the
// phones). It holds the harness for the phone commands (Phone), the parser of sipp's response
// time files (ParseRTT), the audio check (MatchAudio: cross-correlation of what was played with
// what was recorded), the Kamailio configuration it runs, and, in its tests, the phone field
// tests and the benchmarks.
//
// # The field tests
//
// Like package lab's, they need root, ip(8) and /dev/net/tun, and skip elsewhere with the
// reason; each asserts the outcome:
//
//   - TestCallTwoRadioHopsWithAudio: a call between laptops two radio hops apart carries audio
//     both ways, proven by cross-correlating each recording with what the other side played;
//   - TestMessageToLaptopOutOfReach: a message to a laptop out of range is stored in the
//     overlay and delivered when it comes back (a long and a brief outage);
//   - TestVoicemailForOfflineUser: an unanswered call leaves a voice message, sealed to the
//     callee's certificate, played after the callee returns;
//   - TestPartitionHealDeliversMessageAndVoicemail: both across a partition and its heal.
//
// # The benchmark against Kamailio
//
// Env-gated, printing figures and asserting only that every call was answered:
//
//	MESHCOMM_BENCH=1 go test -count=1 -run Bench -v -timeout 30m ./fieldtests/phonelab/
//
// TestBenchCallSetup measures call setup, dial to 200 OK, on the same three laptops with 10 ms
// radio hops: meshcomm in flood mode from X to Y, against sipp on X calling through Kamailio
// (registrar and proxy) on S to sipp on Y, 50 calls each after 3 uncounted; then "relay", where
// X and Y do not hear each other and meshcomm routes through S as Kamailio does; then DHT mode
// on 16 laptops whose overlay switches at 4 nodes (the daemon switches at 64, and 64 daemons do
// not fit this machine's two cores: at 32 and 64 the mesh never settled within 3 minutes, the
// machine's load average above 30), node 1 calling the others in turn so that each call looks
// its callee up in the DHT. TestBenchKamailioRegistrations measures the REGISTERs per second
// Kamailio accepts from sipp. Figures from one run on the 2-core machine (commit 1b7c3c1), a
// 10,000-node simulation busy on one core meanwhile:
//
//	in range, flood mode     meshcomm X->Y median 23.3 ms, p95 27.4 ms
//	                         Kamailio X->S->Y median 44.0 ms, p95 52.0 ms   ratio 0.53  target <= 1.0
//	relay, flood mode        meshcomm X->S->Y median 46.7 ms, p95 51.5 ms
//	                         Kamailio X->S->Y median 44.0 ms, p95 48.0 ms   ratio 1.06
//	DHT mode, 16 nodes       meshcomm median 45.9 ms, p95 80.1 ms           ratio 1.04 (to the relay
//	                         lookups: 0 rounds x35, 1 x12, 2 x3             Kamailio median)
//	Kamailio registrar       11,352 REGISTERs/s (sipp and Kamailio on the same cores)
//
// DHT mode at 64 nodes comes from the simulator over the same 10 ms links (`meshcomm sim
// --nodes 64 --scenario steady --duration 3m --latency 10ms --json`): a lookup takes one round
// at the median (21.7 ms) and two at the 99th percentile (44.5 ms). Added to the in-range
// setup (23.3 ms), that is a median of about 45 ms, a ratio of about 1.03 against Kamailio
// (target <= 1.3); a call that needs two rounds takes about 68 ms (1.5). In the relay case a
// meshcomm hop costs about 2 ms of processing more than Kamailio's (three Go daemons and the
// emulator on two busy cores against one C proxy): the path is the same, two radio hops each
// way.
package phonelab
