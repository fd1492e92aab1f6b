package mesh

// BatchRecords splits records into groups that each fit one message carrying records (Store,
// Flood, Value): at most maxCount records (and never more than MaxRecordsPerMessage) and an
// encoded size well inside MaxMessageBytes. A record too large for any message on its own gets a
// group of its own, which the codec will refuse.
func BatchRecords(recs []Record, maxCount int) [][]Record {
	if maxCount <= 0 || maxCount > MaxRecordsPerMessage {
		maxCount = MaxRecordsPerMessage
	}
	const budget = MaxMessageBytes - 4096 // room for the message's own fields
	var out [][]Record
	start, size := 0, 0
	for i := range recs {
		s := recordWireSize(&recs[i])
		if i > start && (i-start >= maxCount || size+s > budget) {
			out = append(out, recs[start:i])
			start, size = i, 0
		}
		size += s
	}
	if start < len(recs) {
		out = append(out, recs[start:])
	}
	return out
}

// recordWireSize is the encoded size of one record inside a message.
func recordWireSize(r *Record) int {
	return EncodedSize(&Store{Records: []Record{*r}}) - EncodedSize(&Store{})
}
