package launcher

import "golang.org/x/sys/unix"

// fionread is the ioctl that tells the bytes waiting in a pipe (FIONREAD,
// which Linux names TIOCINQ).
const fionread = unix.TIOCINQ
