package pubsub

import (
	"encoding/binary"
	"strings"
)

// The Redis backend sends each Message as one Redis PUBLISH payload in a
// compact binary frame, so Event, ID and Origin cross processes along with
// the data:
//
//	magic   4 bytes  0x00 'p' 'g' 0x01 (the last byte is the version)
//	event   uvarint length, then that many bytes
//	id      uvarint length, then that many bytes
//	origin  uvarint length, then that many bytes
//	data    the rest of the payload, as is
//
// Lengths are unsigned varints as in encoding/binary. A payload that does
// not start with the magic, or does not parse, was published by something
// else than pagi (redis-cli, another service): it is delivered verbatim as
// Message.Data with no Event, ID or Origin. No text payload starts with a
// NUL byte, so foreign text messages are never mistaken for frames.
const frameMagic = "\x00pg\x01"

// encodeFrame returns the wire form of msg (its Channel is not included:
// Redis carries it).
func encodeFrame(msg Message) []byte {
	n := len(frameMagic) + 3*binary.MaxVarintLen64 + len(msg.Event) + len(msg.ID) + len(msg.Origin) + len(msg.Data)
	b := make([]byte, 0, n)
	b = append(b, frameMagic...)
	for _, s := range [...]string{msg.Event, msg.ID, msg.Origin} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, msg.Data...)
}

// decodeFrame turns a payload received on channel back into a Message.
func decodeFrame(channel, payload string) Message {
	msg := Message{Channel: channel}
	if !strings.HasPrefix(payload, frameMagic) {
		msg.Data = []byte(payload)
		return msg
	}
	rest := payload[len(frameMagic):]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint([]byte(rest[:min(len(rest), binary.MaxVarintLen64)]))
		if k <= 0 || n > uint64(len(rest)-k) {
			msg.Data = []byte(payload) // not a frame after all
			return msg
		}
		fields[i] = rest[k : k+int(n)]
		rest = rest[k+int(n):]
	}
	msg.Event, msg.ID, msg.Origin = fields[0], fields[1], fields[2]
	msg.Data = []byte(rest)
	return msg
}
