//go:build unix && !linux

package launcher

// fionread is the ioctl that tells the bytes waiting in a pipe.
const fionread = 0x4004667f // FIONREAD: _IOR('f', 127, int) on the BSDs and macOS
