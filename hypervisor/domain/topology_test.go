package domain

import (
	"errors"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
)

func TestBestTopology(t *testing.T) {
	tests := []struct {
		name    string
		vcpus   int
		extra   map[string]string
		image   map[string]string
		threads bool
		want    Topology
		wantErr string // property named in the error
	}{
		{name: "sockets first", vcpus: 8, threads: true, want: Topology{8, 1, 1}},
		{name: "flavor sockets", vcpus: 8, extra: map[string]string{"hw:cpu_sockets": "2"}, threads: true, want: Topology{2, 4, 1}},
		{name: "flavor limits force threads", vcpus: 8, extra: map[string]string{"hw:cpu_max_sockets": "2", "hw:cpu_max_cores": "2"}, threads: true, want: Topology{2, 2, 2}},
		{name: "image pref threads", vcpus: 4, image: map[string]string{"hw_cpu_threads": "2"}, threads: true, want: Topology{2, 1, 2}},
		{name: "image pref replaces flavor pref", vcpus: 4, extra: map[string]string{"hw:cpu_sockets": "4"}, image: map[string]string{"hw_cpu_cores": "4"}, threads: true, want: Topology{1, 4, 1}},
		{name: "image limit lowers flavor pref", vcpus: 4, extra: map[string]string{"hw:cpu_sockets": "4"}, image: map[string]string{"hw_cpu_max_sockets": "2"}, threads: true, want: Topology{2, 2, 1}},
		{name: "image max above flavor max", vcpus: 4, extra: map[string]string{"hw:cpu_max_sockets": "2"}, image: map[string]string{"hw_cpu_max_sockets": "4"}, wantErr: "hw_cpu_max_sockets"},
		{name: "image pref above max", vcpus: 4, extra: map[string]string{"hw:cpu_max_cores": "2"}, image: map[string]string{"hw_cpu_cores": "4"}, wantErr: "hw_cpu_cores"},
		{name: "impossible without threads", vcpus: 4, extra: map[string]string{"hw:cpu_max_sockets": "1", "hw:cpu_max_cores": "2"}, wantErr: "vcpus"},
		{name: "non-integer", vcpus: 2, extra: map[string]string{"hw:cpu_sockets": "two"}, wantErr: "hw:cpu_sockets"},
		{name: "one vcpu", vcpus: 1, threads: true, want: Topology{1, 1, 1}},
		{name: "sixteen, max threads 1", vcpus: 16, extra: map[string]string{"hw:cpu_max_sockets": "4"}, threads: true, want: Topology{4, 4, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BestTopology(tt.vcpus, Props{Image: tt.image, Extra: tt.extra}, tt.threads)
			if tt.wantErr != "" {
				var pe *hypervisor.PropertyError
				if !errors.As(err, &pe) || pe.Property != tt.wantErr || !errors.Is(err, hypervisor.ErrInvalidProperty) {
					t.Fatalf("got %v, %v; want PropertyError on %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if got.VCPUs() != tt.vcpus {
				t.Fatalf("topology %+v holds %d vcpus, want %d", got, got.VCPUs(), tt.vcpus)
			}
		})
	}
}
