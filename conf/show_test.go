package conf

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestShowMasksNastyPasswords: config show hides transport_url passwords holding what ends a URL's host part
// ('/', '?', '#') or separates oslo's hosts; they used to be printed whole.
func TestShowMasksNastyPasswords(t *testing.T) {
	for i, pw := range []string{"pa/ss?x#y", "s/cr3t", "an?ther", "ha#sh", "p@ss", "pa,ss", "x@h1:5672,y", "%zz/w"} {
		t.Run(strconv.Itoa(i), func(t *testing.T) { // not pw: the name is in the temporary directory's
			for _, url := range []string{
				"rabbit://nova:" + pw + "@ctl:5672/nova",
				"rabbit://nova:" + pw + "@h1:5672,nova:" + pw + "@h2:5672/nova",
			} {
				cfg, err := Load(Sources{ConfigFiles: []string{writeTemp(t, "n.conf", "[DEFAULT]\ntransport_url = "+url+"\n")}})
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := cfg.WriteShow(&buf); err != nil {
					t.Fatal(err)
				}
				line := ""
				for _, l := range strings.Split(buf.String(), "\n") {
					if strings.HasPrefix(l, "transport_url = rabbit://nova:****@") {
						line = l
					}
				}
				if line == "" || strings.Contains(buf.String(), pw) {
					t.Fatalf("show of %s: transport_url line %q; the password must be masked:\n%s", url, line, buf.String())
				}
			}
		})
	}
}

func TestWriteShow(t *testing.T) {
	pinMachine(t)
	cfg, err := Load(Sources{ConfigFiles: []string{"testdata/full.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := cfg.WriteShow(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "# testdata/full.conf:4\n") {
		t.Error("show lacks the source of transport_url")
	}
	for _, secret := range []string{"s3cret", "pass word", "nova-secret", "ks-secret", "n0t1fy"} {
		if strings.Contains(out, secret) {
			t.Errorf("show prints the secret %q", secret)
		}
	}
	for _, re := range []string{
		"transport_url = rabbit://nova:****@10.0.0.2:5672,nova:****@10.0.0.3:5672/nova",
		"password = ****",
		"transport_url = rabbit://notify:****@10.0.0.4:5672/",
		"host = compute-1.example.org",
		"instances_path = /var/db/nova/guests",
		"driver = messagingv2",
		"driver = log",
		"retriable_status_codes = 502,503,504",
		"[oslo_messaging_rabbit]\n",
	} {
		if !strings.Contains(out, re) {
			t.Errorf("show lacks %q", re)
		}
	}
	empty, err := Load(Sources{ConfigFiles: []string{writeTemp(t, "e.conf", "")}})
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	empty.WriteShow(&buf)
	for _, want := range []string{"host = node1", "# default", "password = <None>", "transport_url = rabbit://  "} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("default show lacks %q", want)
		}
	}
}
