//go:build unix

package bench

import "syscall"

// raiseFileLimit raises the soft limit of open files to the hard limit, and returns the limit.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		}
	}
	return l.Cur
}

// raiseFileLimitTo raises the limit of open files to at least need where it can: the soft limit
// to the hard one, and, when the hard limit is lower than need, both to need (which a process
// with CAP_SYS_RESOURCE, root, may do, up to the kernel's fs.nr_open). Processes the bench starts
// (the gateway, the replica) inherit the raised limits. It returns the soft limit in force.
func raiseFileLimitTo(need uint64) uint64 {
	limit := raiseFileLimit()
	if limit == 0 || limit >= need {
		return limit
	}
	l := syscall.Rlimit{Cur: need, Max: need}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return limit
	}
	return raiseFileLimit()
}
