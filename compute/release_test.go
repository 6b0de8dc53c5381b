package compute

import (
	"errors"
	"testing"
)

func TestReleaseForServiceVersion(t *testing.T) {
	tests := []struct {
		version int
		want    string
		wantErr bool
	}{
		{67, "", true},
		{68, "2025.1", false},
		{70, "2025.1", false}, // Flamingo-era development versions promise no more than 2025.1
		{72, "2026.1", false},
		{73, "2026.1", false},
		{74, "2026.2", false},
		{75, "", true},
	}
	for _, tt := range tests {
		r, err := ReleaseForServiceVersion(tt.version)
		var re *ReleaseError
		if tt.wantErr {
			if !errors.As(err, &re) {
				t.Errorf("%d: err = %v, want ReleaseError", tt.version, err)
			}
			continue
		}
		if err != nil || r.Name != tt.want {
			t.Errorf("%d: got %q, %v; want %q", tt.version, r.Name, err, tt.want)
		}
	}
}

func TestReleaseByName(t *testing.T) {
	for _, s := range []string{"2026.1", "gazpacho", "GAZPACHO", "72"} {
		if r, err := ReleaseByName(s); err != nil || r.ServiceVersion != 72 {
			t.Errorf("ReleaseByName(%q) = %+v, %v", s, r, err)
		}
	}
	if _, err := ReleaseByName("zed"); err == nil {
		t.Error("zed accepted")
	}
}

func TestReleaseObjectVersions(t *testing.T) {
	tests := []struct{ release, object, want string }{
		{"2025.1", "ImageMetaProps", "1.39"},
		{"2026.1", "ImageMetaProps", "1.42"},
		{"2026.2", "ImageMetaProps", "1.44"},
		{"2025.1", "Instance", "2.8"},
		{"2026.2", "ShareMappingList", "1.1"},
	}
	for _, tt := range tests {
		r, _ := ReleaseByName(tt.release)
		if got := r.ObjectVersion(tt.object); got != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.release, tt.object, got, tt.want)
		}
	}
	r, _ := ReleaseByName("2026.1")
	m := r.Manifest("Service", "ComputeNode", "HVSpec", "PciDevicePoolList", "PciDevicePool")
	want := map[string]string{"Service": "1.22", "ComputeNode": "1.19", "HVSpec": "1.2", "PciDevicePoolList": "1.1", "PciDevicePool": "1.1"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("manifest[%s] = %q, want %q", k, m[k], v)
		}
	}
}
