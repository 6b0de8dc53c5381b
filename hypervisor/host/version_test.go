package host

import "testing"

func TestParseQEMUVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022", 7002022, false},
		{"QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1)", 10000002, false},
		{"QEMU emulator version 9.2.90 (v9.2.0-rc0)", 9002090, false},
		{"QEMU emulator version 8.2.0", 8002000, false},
		{"QEMU emulator version 6.1", 6001000, false},
		{"QEMU emulator version 2.11.1(Debian 1:2.11+dfsg-1ubuntu7.41)", 2011001, false},
		{"qemu: command not found", 0, true},
		{"QEMU emulator version x.y", 0, true},
		{"QEMU emulator version ", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseQEMUVersion(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseQEMUVersion(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestOSRelDateVersion(t *testing.T) {
	tests := []struct {
		in      int
		want    int
		wantErr bool
	}{
		{1403000, 14003000, false},
		{1402000, 14002000, false},
		{1500068, 15000068, false},
		{1301000, 13001000, false},
		{1403, 0, true},
		{0, 0, true},
	}
	for _, tt := range tests {
		got, err := OSRelDateVersion(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("OSRelDateVersion(%d) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	// A newer FreeBSD must weigh higher than an older one.
	a, _ := OSRelDateVersion(1403000)
	b, _ := OSRelDateVersion(1500068)
	if a >= b {
		t.Errorf("14.3 (%d) not below 15.0 (%d)", a, b)
	}
}

func TestNovaArch(t *testing.T) {
	for in, want := range map[string]string{
		"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64",
		"i386": "i686", "AMD64": "x86_64", "riscv64": "riscv64", "sparc64": "sparc64",
	} {
		if got := NovaArch(in); got != want {
			t.Errorf("NovaArch(%q) = %q, want %q", in, got, want)
		}
	}
}
