package conf

import (
	"bytes"
	"strings"
	"testing"
)

func TestMaskTransportURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rabbit://user:pass@host:5672/", "rabbit://user:****@host:5672/"},
		{"rabbit://a:p1@h1:5672,b:p2@h2:5672/vhost?ssl=1", "rabbit://a:****@h1:5672,b:****@h2:5672/vhost?ssl=1"},
		{"rabbit://user@host/", "rabbit://user@host/"},
		{"rabbit://", "rabbit://"},
		{"rabbit://u:p@ss@host/", "rabbit://u:****@host/"},
		{"not a url with secret", "****"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskTransportURL(tt.in); got != tt.want {
			t.Errorf("MaskTransportURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
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
