package cbor

import (
	"encoding/binary"
	"fmt"
)

// checkTags walks one or more CBOR data items and refuses every tag other than SelfDescribeTag.
// It trusts nothing: lengths are checked against the input, and nesting is bounded by MaxNesting.
// Malformed input that it cannot walk is left for the decoder to report.
func checkTags(data []byte) error {
	// pending counts the items still to read at each open level.
	var pending [MaxNesting + 2]uint64
	depth := 0
	pending[0] = 1
	for off := 0; off < len(data); {
		for depth > 0 && pending[depth] == 0 {
			depth--
		}
		if pending[depth] == 0 {
			return nil // one complete item at top level; trailing bytes are the decoder's to refuse
		}
		pending[depth]--
		major, arg, n, ok := head(data[off:])
		if !ok {
			return nil
		}
		off += n
		switch major {
		case 2, 3: // byte and text strings
			if arg > uint64(len(data)-off) {
				return nil
			}
			off += int(arg)
		case 4, 5: // arrays and maps
			if depth+1 >= len(pending) {
				return nil
			}
			count := arg
			if major == 5 {
				if count > uint64(len(data)) {
					return nil
				}
				count *= 2
			}
			depth++
			pending[depth] = count
		case 6:
			if arg != SelfDescribeTag {
				return fmt.Errorf("%w: tag %d is not allowed (only the self-describe tag %d)", ErrDecode, arg, SelfDescribeTag)
			}
			pending[depth]++ // the tag's content follows
		}
	}
	return nil
}

// head decodes the head of a data item: its major type, argument and length in bytes.
func head(b []byte) (major byte, arg uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, 0, false
	}
	major, info := b[0]>>5, b[0]&0x1f
	switch {
	case info < 24:
		return major, uint64(info), 1, true
	case info == 24 && len(b) >= 2:
		return major, uint64(b[1]), 2, true
	case info == 25 && len(b) >= 3:
		return major, uint64(binary.BigEndian.Uint16(b[1:])), 3, true
	case info == 26 && len(b) >= 5:
		return major, uint64(binary.BigEndian.Uint32(b[1:])), 5, true
	case info == 27 && len(b) >= 9:
		return major, binary.BigEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, 0, false
}
