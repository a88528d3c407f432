package hashtree

import (
	"bytes"
	"strconv"
)

// Status is the outcome of a lookup (spec §"Lookup"). The zero Status is not a valid outcome.
type Status int

// The outcomes of a lookup.
const (
	// Found: the path leads to a value (Lookup) or a subtree (LookupSubtree).
	Found Status = iota + 1
	// Absent: the tree proves that the path is not in the full tree.
	Absent
	// Unknown: the path may lie in a pruned part of the tree; the tree proves nothing about it.
	Unknown
	// Error: the path ends on a Fork or Labeled node (it names a subtree, not a value), or the part
	// of the tree searched is not well-formed (labels not strictly increasing, a Leaf beside other
	// nodes).
	Error
)

// String returns "Found", "Absent", "Unknown" or "Error".
func (s Status) String() string {
	switch s {
	case Found:
		return "Found"
	case Absent:
		return "Absent"
	case Unknown:
		return "Unknown"
	case Error:
		return "Error"
	default:
		return "Status(" + strconv.Itoa(int(s)) + ")"
	}
}

// Result is the outcome of Lookup. Value is set only when Status is Found; it aliases the tree.
type Result struct {
	Status Status
	Value  []byte
}

// Lookup looks up a path of labels in a tree, as lookup_path of the spec:
//
//   - with the path used up, Leaf v gives Found v, Empty gives Absent, Pruned gives Unknown, and a
//     Fork or Labeled node gives Error;
//   - otherwise the label is searched for among the tree's children (the nodes left after
//     flattening its forks, which in a well-formed tree are Labeled nodes in strictly increasing
//     label order): a Labeled node with that label continues the lookup in its subtree; the label
//     is Absent if it falls strictly between two adjacent labeled children, before the first or
//     after the last, if there are no children, or if the only child is a Leaf; it is Unknown if a
//     Pruned child is where it could be.
//
// Lookup does not allocate.
func Lookup(n Node, path ...[]byte) Result {
	for _, label := range path {
		status, sub := findLabel(n, label)
		if status != Found {
			return Result{Status: status}
		}
		n = sub
	}
	switch v := normalize(n).(type) {
	case Leaf:
		return Result{Status: Found, Value: v}
	case Empty:
		return Result{Status: Absent}
	case Pruned:
		return Result{Status: Unknown}
	default:
		return Result{Status: Error}
	}
}

// LookupSubtree follows a path of labels like Lookup and returns the subtree at its end, whatever
// its type, with status Found; otherwise it returns nil and Absent, Unknown or Error.
func LookupSubtree(n Node, path ...[]byte) (Node, Status) {
	for _, label := range path {
		status, sub := findLabel(n, label)
		if status != Found {
			return nil, status
		}
		n = sub
	}
	return normalize(n), Found
}

// LookupString is Lookup with the path given as strings.
func LookupString(n Node, path ...string) Result {
	for _, label := range path {
		status, sub := findLabel(n, []byte(label))
		if status != Found {
			return Result{Status: status}
		}
		n = sub
	}
	return Lookup(n)
}

// Flatten returns the children of a tree: its nodes with forks flattened and Empty nodes dropped
// (flatten_forks of the spec). It allocates the returned slice.
func Flatten(n Node) []Node {
	var out []Node
	var walk func(Node)
	walk = func(n Node) {
		switch v := normalize(n).(type) {
		case Fork:
			walk(v.Left)
			walk(v.Right)
		case Empty:
		default:
			out = append(out, v)
		}
	}
	walk(n)
	return out
}

// Kinds of the previous child seen by finder.
const (
	prevNone = iota
	prevLabeled
	prevPruned
	prevLeaf
)

// finder searches the flattened children of a tree for a label, in order, without building the
// flattened list (find_label of the spec).
type finder struct {
	label     []byte
	prev      int    // kind of the previous child
	lastLabel []byte // label of the last Labeled child seen, if any
	seen      int    // children seen so far
	status    Status // set when the search is decided
	found     Node
}

// findLabel returns Found and the subtree under label, or Absent, Unknown or Error.
func findLabel(n Node, label []byte) (Status, Node) {
	f := finder{label: label}
	if !f.walk(n) {
		switch {
		case f.seen == 0, f.prev == prevLabeled, f.prev == prevLeaf:
			// No children, past the last label, or a lone Leaf (a Leaf beside other children
			// stops the walk with Error).
			f.status = Absent
		default: // prevPruned
			f.status = Unknown
		}
	}
	return f.status, f.found
}

// walk visits the children under n in order; it returns true once the search is decided.
func (f *finder) walk(n Node) bool {
	switch v := n.(type) {
	case Fork:
		return f.walk(v.Left) || f.walk(v.Right)
	case Empty:
		return false
	case Labeled:
		if f.prev == prevLeaf || (f.lastLabel != nil && bytes.Compare(v.Label, f.lastLabel) <= 0) {
			f.status = Error
			return true
		}
		switch c := bytes.Compare(f.label, v.Label); {
		case c == 0:
			f.status, f.found = Found, v.Tree
			return true
		case c < 0:
			if f.prev == prevPruned {
				f.status = Unknown
			} else {
				f.status = Absent
			}
			return true
		}
		f.prev, f.lastLabel = prevLabeled, v.Label
		if f.lastLabel == nil {
			f.lastLabel = []byte{}
		}
		f.seen++
		return false
	case Pruned:
		if f.prev == prevLeaf {
			f.status = Error
			return true
		}
		f.prev = prevPruned
		f.seen++
		return false
	case Leaf:
		if f.seen > 0 {
			f.status = Error
			return true
		}
		f.prev = prevLeaf
		f.seen++
		return false
	default:
		return f.walk(normalize(n))
	}
}
