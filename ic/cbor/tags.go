package cbor

import "fmt"

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
		major, arg, n, err := Head(data[off:])
		if err != nil {
			return nil
		}
		off += n
		switch major {
		case MajorBytes, MajorText:
			if arg > uint64(len(data)-off) {
				return nil
			}
			off += int(arg)
		case MajorArray, MajorMap:
			if depth+1 >= len(pending) {
				return nil
			}
			count := arg
			if major == MajorMap {
				if count > uint64(len(data)) {
					return nil
				}
				count *= 2
			}
			depth++
			pending[depth] = count
		case MajorTag:
			if arg != SelfDescribeTag {
				return fmt.Errorf("%w: tag %d is not allowed (only the self-describe tag %d)", ErrDecode, arg, SelfDescribeTag)
			}
			pending[depth]++ // the tag's content follows
		}
	}
	return nil
}
