package conf

import "testing"

// BenchmarkLoadFull measures Load of a file that sets every option (parse, interpolation, conversion, binding).
func BenchmarkLoadFull(b *testing.B) {
	for b.Loop() {
		if _, err := Load(Sources{ConfigFiles: []string{"testdata/full.conf"}}); err != nil {
			b.Fatal(err)
		}
	}
}
