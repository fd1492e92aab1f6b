package mesh

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false,
	"rewrite the checked-in seed corpora under testdata/fuzz from sampleMessages")

func FuzzDecode(f *testing.F) {
	// The checked-in corpus holds one valid frame of every type; these add the edge cases.
	f.Add([]byte{})
	f.Add([]byte{WireVersion})
	f.Add([]byte{2, byte(TypePing)})
	f.Add([]byte{WireVersion, 0})
	f.Add(frame(TypeNodes, uv(1), uv(MaxContacts)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message with an error: %v", err)
			}
			if WireErrorReason(err) == "other" {
				t.Fatalf("Decode error wraps none of the codec's sentinels: %v", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("a decoded %T does not re-encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("encoding is not canonical: %x re-encodes as %x", b, again)
		}
		if size := EncodedSize(m); size != len(b) {
			t.Fatalf("EncodedSize = %d for a %d-byte frame", size, len(b))
		}
		m2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("second decode: %v; equal = %v", err, reflect.DeepEqual(m, m2))
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{WireVersion})
	f.Add(append([]byte{WireVersion}, validRawRecord().bytes()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := DecodeRecord(b)
		if err != nil {
			if WireErrorReason(err) == "other" {
				t.Fatalf("DecodeRecord error wraps none of the codec's sentinels: %v", err)
			}
			return
		}
		again, err := EncodeRecord(&rec)
		if err != nil {
			t.Fatalf("a decoded record does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("record encoding is not canonical: %x re-encodes as %x", b, again)
		}
		rec2, err := DecodeRecord(again)
		if err != nil || !reflect.DeepEqual(rec, rec2) {
			t.Fatalf("second decode: %v; equal = %v", err, reflect.DeepEqual(rec, rec2))
		}
	})
}

// seedCorpora are the files the fuzz targets start from: one frame of every message type, and a
// few records.
func seedCorpora(t *testing.T) map[string]map[string][]byte {
	frames := map[string][]byte{}
	for _, m := range sampleMessages(t) {
		frames[strings.ToLower(msgTypeName(m.Type()))] = mustEncode(t, m)
	}
	records := map[string][]byte{}
	for name, rec := range map[string]Record{
		"registration": signedRecord(t, 101),
		"tombstone":    {Resource: idOf(9), Kind: KindPresence, Version: 7, Expiry: -5, Deleted: true},
		"empty":        {},
	} {
		b, err := EncodeRecord(&rec)
		if err != nil {
			t.Fatal(err)
		}
		records[name] = b
	}
	return map[string]map[string][]byte{"FuzzDecode": frames, "FuzzDecodeRecord": records}
}

func corpusFile(b []byte) string { return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b) }

// readCorpusFile parses a one-argument file of the Go fuzzing corpus format.
func readCorpusFile(text string) ([]byte, error) {
	header, arg, ok := strings.Cut(strings.TrimSpace(text), "\n")
	if !ok || header != "go test fuzz v1" || !strings.HasPrefix(arg, "[]byte(") || !strings.HasSuffix(arg, ")") {
		return nil, fmt.Errorf("not a one-argument []byte corpus file")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(arg, "[]byte("), ")"))
	return []byte(s), err
}

// TestSeedCorpusIsCurrent checks that the checked-in corpora hold exactly the frames of
// sampleMessages (so one valid frame of every type), and rewrites them with -update-corpus.
func TestSeedCorpusIsCurrent(t *testing.T) {
	for target, files := range seedCorpora(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(corpusFile(b)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, want := range files {
			text, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%v (run go test ./mesh/ -run TestSeedCorpusIsCurrent -update-corpus)", err)
				continue
			}
			got, err := readCorpusFile(string(text))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%s is stale (%v): run go test ./mesh/ -run TestSeedCorpusIsCurrent -update-corpus",
					target, name, err)
			}
		}
	}
}
