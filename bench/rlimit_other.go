//go:build !unix

package bench

// raiseFileLimit returns 0: the limit of open files is not known on this system.
func raiseFileLimit() uint64 { return 0 }

// raiseFileLimitTo returns 0: the limit of open files is not known on this system.
func raiseFileLimitTo(uint64) uint64 { return 0 }
