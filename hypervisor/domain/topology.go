package domain

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
)

// Topology is a guest CPU layout; Sockets*Cores*Threads is the vCPU count.
type Topology struct {
	Sockets, Cores, Threads int
}

// VCPUs returns the number of vCPUs the topology holds.
func (t Topology) VCPUs() int { return t.Sockets * t.Cores * t.Threads }

// noLimit stands for an unset maximum, as Nova does.
const noLimit = 65536

// intProp reads a non-negative integer from m[key]; absent is 0.
func intProp(m map[string]string, key string) (int, error) {
	s, ok := m[key]
	if !ok || strings.TrimSpace(s) == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, &hypervisor.PropertyError{Property: key, Value: s, Reason: "must be a non-negative integer"}
	}
	return n, nil
}

// flavorImage reads "hw:NAME" from the extra specs and "hw_NAME" from the
// image properties.
func flavorImage(p Props, name string) (flavor, image int, err error) {
	if flavor, err = intProp(p.Extra, "hw:"+name); err != nil {
		return 0, 0, err
	}
	image, err = intProp(p.Image, "hw_"+name)
	return flavor, image, err
}

// BestTopology picks the CPU topology for vcpus following Nova's rules
// (nova/virt/hardware.py): image limits may only lower the flavor's; an
// image's preferred values replace the flavor's entirely; among the
// topologies within the limits, the one matching most preferred values
// wins, ties broken by most sockets*cores, then sockets, then threads.
func BestTopology(vcpus int, p Props, allowThreads bool) (Topology, error) {
	if vcpus < 1 {
		return Topology{}, &hypervisor.PropertyError{Property: "vcpus", Value: strconv.Itoa(vcpus), Reason: "must be at least 1"}
	}
	var fmax, imax, fpref, ipref [3]int
	for i, n := range [3]string{"sockets", "cores", "threads"} {
		var err error
		if fmax[i], imax[i], err = flavorImage(p, "cpu_max_"+n); err != nil {
			return Topology{}, err
		}
		if fpref[i], ipref[i], err = flavorImage(p, "cpu_"+n); err != nil {
			return Topology{}, err
		}
	}
	names := [3]string{"sockets", "cores", "threads"}
	var limit [3]int
	for i := range limit {
		if fmax[i] != 0 && imax[i] > fmax[i] {
			return Topology{}, &hypervisor.PropertyError{
				Property: "hw_cpu_max_" + names[i], Value: strconv.Itoa(imax[i]),
				Reason: fmt.Sprintf("exceeds flavor hw:cpu_max_%s=%d", names[i], fmax[i]),
			}
		}
		limit[i] = firstNonZero(imax[i], fmax[i], noLimit)
	}
	// A flavor preference beyond the image-lowered limits is dropped,
	// an image preference beyond them is an error.
	for i := range fpref {
		if fpref[i] > limit[i] {
			fpref = [3]int{}
			break
		}
	}
	for i := range ipref {
		if ipref[i] > limit[i] {
			return Topology{}, &hypervisor.PropertyError{
				Property: "hw_cpu_" + names[i], Value: strconv.Itoa(ipref[i]),
				Reason: fmt.Sprintf("exceeds the maximum of %d %s", limit[i], names[i]),
			}
		}
	}
	want := fpref
	if ipref != [3]int{} {
		want = ipref
	}

	maxS, maxC, maxT := min(vcpus, limit[0]), min(vcpus, limit[1]), min(vcpus, limit[2])
	if !allowThreads {
		maxT = 1
	}
	var possible []Topology
	for s := 1; s <= maxS; s++ {
		for c := 1; c <= maxC; c++ {
			for t := 1; t <= maxT; t++ {
				if s*c*t == vcpus {
					possible = append(possible, Topology{s, c, t})
				}
			}
		}
	}
	if len(possible) == 0 {
		return Topology{}, &hypervisor.PropertyError{
			Property: "vcpus", Value: strconv.Itoa(vcpus),
			Reason: fmt.Sprintf("no topology fits within %d sockets, %d cores, %d threads", maxS, maxC, maxT),
		}
	}
	sort.SliceStable(possible, func(i, j int) bool {
		a, b := possible[i], possible[j]
		if sa, sb := score(a, want), score(b, want); sa != sb {
			return sa > sb
		}
		if a.Sockets*a.Cores != b.Sockets*b.Cores {
			return a.Sockets*a.Cores > b.Sockets*b.Cores
		}
		if a.Sockets != b.Sockets {
			return a.Sockets > b.Sockets
		}
		return a.Threads > b.Threads
	})
	return possible[0], nil
}

func score(t Topology, want [3]int) int {
	n := 0
	if want[0] != 0 && t.Sockets == want[0] {
		n++
	}
	if want[1] != 0 && t.Cores == want[1] {
		n++
	}
	if want[2] != 0 && t.Threads == want[2] {
		n++
	}
	return n
}

func firstNonZero(v ...int) int {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}
