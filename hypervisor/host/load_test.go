package host

import (
	"encoding/binary"
	"testing"
)

func TestLinuxLoadAverage(t *testing.T) {
	// sysinfo loads are avenrun << 5; /proc/loadavg adds FIXED_1/200 and truncates to hundredths.
	for _, tc := range []struct {
		avenrun uint64 // FSHIFT 11 fixed point
		want    float64
	}{
		{0, 0}, {2048, 1}, {2048*5 + 1024, 5.5}, {20, 0.01}, {10, 0}, {11, 0.01}, {2038, 1}, {2037, 0.99},
	} {
		if got := LinuxLoadAverage(tc.avenrun << 5); got != tc.want {
			t.Errorf("LinuxLoadAverage(%d<<5) = %v, want %v", tc.avenrun, got, tc.want)
		}
	}
}

func TestCountUtmpUsers(t *testing.T) {
	rec := func(typ int16, user string) []byte {
		b := make([]byte, utmpRecordSize)
		binary.NativeEndian.PutUint16(b, uint16(typ))
		copy(b[utmpUserOffset:], user)
		return b
	}
	var file []byte
	file = append(file, rec(2, "reboot")...)      // BOOT_TIME
	file = append(file, rec(6, "LOGIN")...)       // LOGIN_PROCESS
	file = append(file, rec(7, "alice")...)       // USER_PROCESS
	file = append(file, rec(7, "")...)            // USER_PROCESS without a user: not counted
	file = append(file, rec(8, "bob")...)         // DEAD_PROCESS
	file = append(file, rec(7, "bob")...)         // USER_PROCESS
	file = append(file, rec(7, "carol")[:100]...) // truncated record: ignored
	if got := CountUtmpUsers(file); got != 2 {
		t.Errorf("CountUtmpUsers = %d, want 2", got)
	}
	if got := CountUtmpUsers(nil); got != 0 {
		t.Errorf("CountUtmpUsers(empty) = %d", got)
	}
}

func TestCountUtxUsers(t *testing.T) {
	rec := func(typ byte) []byte { b := make([]byte, futxRecordSize); b[0] = typ; return b }
	var file []byte
	for _, typ := range []byte{1, 4, 4, 6, 7, 4} {
		file = append(file, rec(typ)...)
	}
	if got := CountUtxUsers(append(file, 4, 0, 0)); got != 3 {
		t.Errorf("CountUtxUsers = %d, want 3", got)
	}
}

func TestParseFreeBSDLoadavg(t *testing.T) {
	raw := make([]byte, 24)
	for i, v := range []uint32{2048, 1024, 3072} {
		binary.NativeEndian.PutUint32(raw[4*i:], v)
	}
	binary.NativeEndian.PutUint64(raw[16:], 2048)
	got, err := ParseFreeBSDLoadavg(raw)
	if err != nil || got != [3]float64{1, 0.5, 1.5} {
		t.Errorf("ParseFreeBSDLoadavg = %v, %v", got, err)
	}
	if _, err := ParseFreeBSDLoadavg(raw[:20]); err == nil {
		t.Error("short vm.loadavg accepted")
	}
	if _, err := ParseFreeBSDLoadavg(make([]byte, 24)); err == nil {
		t.Error("fscale 0 accepted")
	}
}
