package conf

import (
	"net"
	"os"
	"path/filepath"
)

// Machine-dependent defaults. Variables so tests can pin them.
var (
	hostname      = osHostname
	primaryIPv4   = func() string { return sourceIPv4("8.8.8.8:80") }
	installPrefix = exePrefix
	processName   = func() string { return filepath.Base(os.Args[0]) }
)

// osHostname is Python's socket.gethostname(): the kernel's host name as set, short or fully qualified.
func osHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// sourceIPv4 is the idea of oslo_utils.netutils.get_my_ipv4: "connect" a UDP socket to a public address, which
// sends nothing but makes the kernel pick the route and so the source address; without a route, 127.0.0.1.
func sourceIPv4(target string) string {
	c, err := net.Dial("udp4", target)
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil && !a.IP.IsUnspecified() {
		return a.IP.String()
	}
	return "127.0.0.1"
}

// exePrefix is the directory above the one holding the running executable (/usr/local for /usr/local/bin/novabsd),
// the counterpart of Nova's pybasedir (the directory holding the nova package).
func exePrefix() string {
	exe, err := os.Executable()
	if err != nil {
		return "/usr/local"
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(filepath.Dir(exe))
}

// envOrNil returns the variable's value, or nil (None) when it is unset or empty.
func envOrNil(name string) any {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return nil
}
