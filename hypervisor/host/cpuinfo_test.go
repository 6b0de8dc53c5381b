package host

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCPUInfoJSON(t *testing.T) {
	sys, dmesg := loadFreeBSD(t, "freebsd-15.0-arm64")
	arm, err := ParseFreeBSD(sys, dmesg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sys, dmesg = loadFreeBSD(t, "freebsd-14.3-amd64-intel")
	intel, err := ParseFreeBSD(sys, dmesg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	intel.CPU.Features = []string{"sse2", "vmx"}

	tests := []struct {
		name string
		h    *Host
		want string
	}{
		{"arm64 with address width", arm, `{"arch":"aarch64","model":"Neoverse-N1","vendor":"ARM",` +
			`"topology":{"cells":1,"sockets":1,"cores":80,"threads":1},"maxphysaddr":{"mode":"emulate","bits":40},` +
			`"features":["aes","asimd","asimddp","asimdhp","asimdrdm","atomics","cpuid","crc32","dcpop","fp","fphp","lrcpc","pmull","sha1","sha2"]}`},
		{"intel without address width", intel, `{"arch":"x86_64","model":"Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz",` +
			`"vendor":"Intel","topology":{"cells":2,"sockets":2,"cores":12,"threads":2},"features":["sse2","vmx"]}`},
		{"no features is an empty list", &Host{Arch: "x86_64"}, `{"arch":"x86_64","model":"","vendor":"",` +
			`"topology":{"cells":1,"sockets":0,"cores":0,"threads":0},"features":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CPUInfoJSON(tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
	if _, err := CPUInfoJSON(&Host{}); err == nil {
		t.Error("host without architecture accepted")
	}
}
