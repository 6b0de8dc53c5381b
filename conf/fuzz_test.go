package conf

import (
	"os"
	"testing"
)

// FuzzParse runs arbitrary bytes through the parser and the whole resolution (interpolation, conversion, binding):
// it must return a config or one *Error, never panic.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"[DEFAULT]\nhost = h\nstate_path = $pybasedir/x\n",
		"[placement]\npassword = a$$b\nauth_url = ${DEFAULT.my_ip}\n",
		"[DEFAULT]\nlog_dir = $log_dir\n",
		"[oslo_messaging_notifications]\ndriver = a\ndriver = b\n",
		"[glance]\nretriable_status_codes = 1,2,\n[compute]\nimage_type_exclude_list = a, b\n",
		"[DEFAULT]\nreport_interval = \n  5\n\n[x\n",
		"  a\n=\n[]\n",
		"[DEFAULT]\r\nhost=\"h\"\rmy_ip: '1.2.3.4'\n",
		"[DEFAULT]\nhost = ${\n$$${host}\\$\x00\xff",
	}
	if data, err := os.ReadFile("testdata/full.conf"); err == nil {
		seeds = append(seeds, string(data))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	pinMachine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := parseINI("fuzz.conf", data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parse error of type %T", err)
			}
			return
		}
		cfg, err := resolveAll([]string{"fuzz.conf"}, []*parsedFile{pf})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("load error of type %T: %v", err, err)
			}
			return
		}
		if err := cfg.WriteShow(discard{}); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
