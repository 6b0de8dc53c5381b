package host

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// LinuxCPUInfo is what /proc/cpuinfo says about the first processor.
type LinuxCPUInfo struct {
	Vendor       string
	Model        string
	Features     []string
	PhysAddrBits int
	Processors   int
}

// ParseLinuxCPUInfo reads /proc/cpuinfo of an x86_64 or aarch64 host.
func ParseLinuxCPUInfo(text string) (LinuxCPUInfo, error) {
	var info LinuxCPUInfo
	var flags []string
	var implementer, part = -1, -1
	seenFlags := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "processor":
			info.Processors++
		case "vendor_id":
			if info.Vendor == "" {
				info.Vendor = x86Vendor(value)
			}
		case "model name":
			if info.Model == "" {
				info.Model = collapseSpaces(value)
			}
		case "flags", "Features":
			// Every processor repeats the list; the first is the boot CPU's.
			if !seenFlags {
				flags = strings.Fields(value)
				seenFlags = true
			}
		case "address sizes":
			// "39 bits physical, 48 bits virtual"
			if info.PhysAddrBits == 0 {
				f := strings.Fields(value)
				if len(f) > 0 {
					n, err := strconv.Atoi(f[0])
					if err != nil {
						return info, &ParseError{Source: "/proc/cpuinfo address sizes", Value: value, Err: err}
					}
					info.PhysAddrBits = n
				}
			}
		case "CPU implementer":
			if implementer < 0 {
				n, err := strconv.ParseInt(value, 0, 32)
				if err != nil {
					return info, &ParseError{Source: "/proc/cpuinfo CPU implementer", Value: value, Err: err}
				}
				implementer = int(n)
			}
		case "CPU part":
			if part < 0 {
				n, err := strconv.ParseInt(value, 0, 32)
				if err != nil {
					return info, &ParseError{Source: "/proc/cpuinfo CPU part", Value: value, Err: err}
				}
				part = int(n)
			}
		}
	}
	if info.Processors == 0 {
		return info, &ParseError{Source: "/proc/cpuinfo", Err: fmt.Errorf("no processor entries")}
	}
	if implementer >= 0 && info.Vendor == "" {
		info.Vendor = armImplementers[implementer]
		if info.Vendor == "" {
			info.Vendor = fmt.Sprintf("0x%02x", implementer)
		}
		if info.Model == "" {
			if name, ok := armParts[part]; ok && implementer == 0x41 {
				info.Model = name
			} else if part >= 0 {
				info.Model = fmt.Sprintf("0x%03x", part)
			}
		}
	}
	info.Features = normalizeFeatures(flags)
	return info, nil
}

// LinuxMemInfo holds the /proc/meminfo values the compute node reports.
type LinuxMemInfo struct {
	TotalMB int64
	// FreeMB is MemFree + Buffers + Cached, as Nova's libvirt driver counts
	// available memory.
	FreeMB int64
}

// ParseLinuxMemInfo reads /proc/meminfo.
func ParseLinuxMemInfo(text string) (LinuxMemInfo, error) {
	kb := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return LinuxMemInfo{}, &ParseError{Source: "/proc/meminfo " + key, Value: value, Err: err}
		}
		kb[key] = n
	}
	total, ok := kb["MemTotal"]
	if !ok {
		return LinuxMemInfo{}, &ParseError{Source: "/proc/meminfo", Err: fmt.Errorf("no MemTotal")}
	}
	return LinuxMemInfo{
		TotalMB: total / 1024,
		FreeMB:  (kb["MemFree"] + kb["Buffers"] + kb["Cached"]) / 1024,
	}, nil
}

// LinuxCPUTopology is one online CPU's place, from
// /sys/devices/system/cpu/cpuN/topology.
type LinuxCPUTopology struct {
	PackageID int
	CoreID    int
}

// LinuxTopology derives sockets, cores per socket and threads per core from
// the online CPUs' package and core ids.
func LinuxTopology(cpus []LinuxCPUTopology) Topology {
	if len(cpus) == 0 {
		return Topology{Sockets: 1, Cores: 1, Threads: 1}
	}
	type core struct{ pkg, id int }
	threads := map[core]int{}
	packages := map[int]struct{}{}
	for _, c := range cpus {
		threads[core{c.PackageID, c.CoreID}]++
		packages[c.PackageID] = struct{}{}
	}
	maxThreads := 1
	for _, n := range threads {
		maxThreads = max(maxThreads, n)
	}
	sockets := len(packages)
	cores := max(1, len(threads)/sockets)
	return Topology{Sockets: sockets, Cores: cores, Threads: maxThreads}
}

// ParseUptime reads /proc/uptime ("12345.67 2345.89") in seconds.
func ParseUptime(text string) (float64, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return 0, &ParseError{Source: "/proc/uptime", Err: fmt.Errorf("empty")}
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, &ParseError{Source: "/proc/uptime", Value: text, Err: err}
	}
	return v, nil
}
