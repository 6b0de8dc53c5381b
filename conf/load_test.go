package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	pinMachine(t)
	dir := t.TempDir()
	f1 := writeIn(t, dir, "a.conf", "[DEFAULT]\nreport_interval = 1\nservice_down_time = 11\nshutdown_timeout = 5\n"+
		"[placement]\nregion_name = one\n")
	f2 := writeIn(t, dir, "b.conf", "[DEFAULT]\nreport_interval = 2\nreport_interval = 3\n[PLACEMENT]\nregion_name = two\n")
	cdir := filepath.Join(dir, "nova.conf.d")
	os.Mkdir(cdir, 0o755)
	writeIn(t, cdir, "20-late.conf", "[DEFAULT]\nservice_down_time = 22\n")
	writeIn(t, cdir, "10-early.conf", "[DEFAULT]\nservice_down_time = 21\nreport_interval = 4\n")
	writeIn(t, cdir, "30-ignored.txt", "[DEFAULT]\nservice_down_time = 99\n")
	writeIn(t, cdir, ".hidden.conf", "[DEFAULT]\nservice_down_time = 98\n")
	os.Mkdir(filepath.Join(cdir, "40-dir.conf"), 0o755)

	tests := []struct {
		name                 string
		src                  Sources
		report, down, shut   int
		region, reportSource string
		files                []string
	}{
		{"one file", Sources{ConfigFiles: []string{f1}}, 1, 11, 5, "one", f1 + ":2", []string{f1}},
		{"later file wins, last repeat wins", Sources{ConfigFiles: []string{f1, f2}}, 3, 11, 5, "two", f2 + ":3",
			[]string{f1, f2}},
		{"order of files matters", Sources{ConfigFiles: []string{f2, f1}}, 1, 11, 5, "one", f1 + ":2",
			[]string{f2, f1}},
		{"dir after files, sorted", Sources{ConfigFiles: []string{f1, f2}, ConfigDirs: []string{cdir}}, 4, 22, 5,
			"two", filepath.Join(cdir, "10-early.conf") + ":3",
			[]string{f1, f2, filepath.Join(cdir, "10-early.conf"), filepath.Join(cdir, "20-late.conf")}},
		{"dir alone", Sources{ConfigDirs: []string{cdir}}, 4, 22, 60, "", filepath.Join(cdir, "10-early.conf") + ":3",
			[]string{filepath.Join(cdir, "10-early.conf"), filepath.Join(cdir, "20-late.conf")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			d := cfg.Default
			if d.ReportInterval != tt.report || d.ServiceDownTime != tt.down || d.ShutdownTimeout != tt.shut {
				t.Errorf("report/down/shutdown = %d/%d/%d, want %d/%d/%d", d.ReportInterval, d.ServiceDownTime,
					d.ShutdownTimeout, tt.report, tt.down, tt.shut)
			}
			if cfg.Placement.RegionName != tt.region {
				t.Errorf("region %q, want %q", cfg.Placement.RegionName, tt.region)
			}
			if got := cfg.Source("DEFAULT", "report_interval"); got != tt.reportSource {
				t.Errorf("Source = %q, want %q", got, tt.reportSource)
			}
			if !slices.Equal(cfg.Files, tt.files) {
				t.Errorf("Files = %v, want %v", cfg.Files, tt.files)
			}
		})
	}
}

func TestDefaultFiles(t *testing.T) {
	pinMachine(t)
	dir := t.TempDir()
	linux := filepath.Join(dir, "etc-nova.conf")
	freebsd := writeIn(t, dir, "usr-local-etc-nova.conf", "[DEFAULT]\nhost = bsd1\n")
	saved := DefaultFiles
	t.Cleanup(func() { DefaultFiles = saved })

	DefaultFiles = []string{linux, freebsd}
	cfg, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Default.Host != "bsd1" || !slices.Equal(cfg.Files, []string{freebsd}) {
		t.Errorf("only the present file is read: host %q files %v", cfg.Default.Host, cfg.Files)
	}
	writeIn(t, dir, "etc-nova.conf", "[DEFAULT]\nhost = linux1\nmy_ip = 10.1.1.1\n")
	cfg, err = Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Default.Host != "bsd1" || cfg.Default.MyIP != "10.1.1.1" {
		t.Errorf("FreeBSD's file is read after Linux's: host %q my_ip %q", cfg.Default.Host, cfg.Default.MyIP)
	}
	DefaultFiles = []string{filepath.Join(dir, "none")}
	cfg, err = Load(Sources{})
	if err != nil || len(cfg.Files) != 0 || cfg.Default.Host != "node1" {
		t.Errorf("no default file: err %v files %v host %q", err, cfg.Files, cfg.Default.Host)
	}
}

func TestDeprecatedNames(t *testing.T) {
	pinMachine(t)
	tests := []struct {
		name, conf string
		get        func(*Config) any
		want       any
		deprecated int
	}{
		{"old name in same group", "[DEFAULT]\nlogfile = /var/log/a.log\n",
			func(c *Config) any { return c.Default.LogFile }, "/var/log/a.log", 1},
		{"current name beats old one in the same file", "[DEFAULT]\nlog_file = new\nlogfile = old\n",
			func(c *Config) any { return c.Default.LogFile }, "new", 0},
		{"old group and name", "[DEFAULT]\nimage_cache_manager_interval = 60\n",
			func(c *Config) any { return c.ImageCache.ManagerInterval }, 60, 1},
		{"old group, same name", "[DEFAULT]\nnovncproxy_base_url = http://h:6080/x\n",
			func(c *Config) any { return c.VNC.NoVNCProxyBaseURL }, "http://h:6080/x", 1},
		{"old group from another service", "[libvirt]\nremove_unused_resized_minimum_age_seconds = 7\n",
			func(c *Config) any { return c.ImageCache.RemoveUnusedResizedMinimumAgeSeconds }, 7, 1},
		{"DEFAULT vnc_enabled", "[DEFAULT]\nvnc_enabled = false\n",
			func(c *Config) any { return c.VNC.Enabled }, false, 1},
		{"ksa user_name", "[placement]\nuser_name = nova\n",
			func(c *Config) any { return c.Placement.Username }, "nova", 1},
		{"glance [ssl] ca_file", "[ssl]\nca_file = /ca.pem\n",
			func(c *Config) any { return c.Glance.CAFile }, "/ca.pem", 1},
		{"pci passthrough_whitelist", "[pci]\npassthrough_whitelist = {\"vendor_id\": \"10de\"}\n",
			func(c *Config) any { return c.PCI.DeviceSpec }, []string{`{"vendor_id": "10de"}`}, 1},
		{"DEFAULT pci_passthrough_whitelist", "[DEFAULT]\npci_passthrough_whitelist = {}\n",
			func(c *Config) any { return c.PCI.DeviceSpec }, []string{"{}"}, 1},
		{"DEFAULT pci_alias", "[DEFAULT]\npci_alias = {\"name\": \"a\"}\n",
			func(c *Config) any { return c.PCI.Alias }, []string{`{"name": "a"}`}, 1},
		{"current name", "[vnc]\nenabled = false\n", func(c *Config) any { return c.VNC.Enabled }, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Sources{ConfigFiles: []string{writeTemp(t, "n.conf", tt.conf)}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if len(cfg.Deprecated) != tt.deprecated {
				t.Errorf("Deprecated = %+v, want %d entries", cfg.Deprecated, tt.deprecated)
			}
			if len(cfg.Unknown) != 0 {
				t.Errorf("Unknown = %+v", cfg.Unknown)
			}
		})
	}
	// A newer file's old name beats an older file's current name (oslo searches file by file).
	dir := t.TempDir()
	a := writeIn(t, dir, "a.conf", "[image_cache]\nmanager_interval = 1\n")
	b := writeIn(t, dir, "b.conf", "[DEFAULT]\nimage_cache_manager_interval = 2\n")
	cfg, err := Load(Sources{ConfigFiles: []string{a, b}})
	if err != nil || cfg.ImageCache.ManagerInterval != 2 {
		t.Errorf("newer file's deprecated name: %v %v", err, cfg.ImageCache.ManagerInterval)
	}
	if got, want := cfg.Deprecated, []DeprecatedUse{{Location{b, 2, "DEFAULT", "image_cache_manager_interval"},
		Name{"image_cache", "manager_interval"}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Deprecated = %+v, want %+v", got, want)
	}
}

func TestMultiValued(t *testing.T) {
	pinMachine(t)
	dir := t.TempDir()
	a := writeIn(t, dir, "a.conf", "[oslo_messaging_notifications]\ndriver = a1\ndriver = a2\n")
	b := writeIn(t, dir, "b.conf", "[oslo_messaging_notifications]\ndriver = b1\ntopics = x\ntopics = y\n")
	cfg, err := Load(Sources{ConfigFiles: []string{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "a2", "b1"}; !slices.Equal(cfg.Notifications.Driver, want) {
		t.Errorf("driver = %v, want %v (every occurrence, oldest file first)", cfg.Notifications.Driver, want)
	}
	if want := []string{"y"}; !slices.Equal(cfg.Notifications.Topics, want) {
		t.Errorf("topics = %v, want %v (not multi-valued: last wins)", cfg.Notifications.Topics, want)
	}
	if got, want := cfg.Source("oslo_messaging_notifications", "driver"), a+":2, "+a+":3, "+b+":2"; got != want {
		t.Errorf("Source = %q, want %q", got, want)
	}
}

func TestInterpolation(t *testing.T) {
	pinMachine(t)
	tests := []struct {
		name, conf string
		get        func(*Config) any
		want       any
	}{
		{"bare name", "[DEFAULT]\nstate_path = /s\ninstances_path = $state_path/i\n",
			func(c *Config) any { return c.Default.InstancesPath }, "/s/i"},
		{"braces", "[DEFAULT]\nstate_path = /s\ninstances_path = ${state_path}x\n",
			func(c *Config) any { return c.Default.InstancesPath }, "/sx"},
		{"default refers to a file value", "[DEFAULT]\nstate_path = /var/db/nova\n",
			func(c *Config) any { return c.Default.InstancesPath }, "/var/db/nova/instances"},
		{"chained defaults", "[DEFAULT]\npybasedir = /p\n",
			func(c *Config) any { return c.Default.InstancesPath }, "/p/instances"},
		{"cross group", "[placement]\nauth_url = http://k:5000/v3\n[service_user]\nauth_url = ${placement.auth_url}\n",
			func(c *Config) any { return c.ServiceUser.AuthURL }, "http://k:5000/v3"},
		{"dotted without braces", "[placement]\nregion_name = r1\n[glance]\nregion_name = $placement.region_name\n",
			func(c *Config) any { return c.Glance.RegionName }, "r1"},
		{"bare name falls back to DEFAULT", "[DEFAULT]\nhost = h7\n[oslo_messaging_rabbit]\nhostname = q-$host\n",
			func(c *Config) any { return c.Rabbit.Hostname }, "q-h7"},
		{"own group first", "[glance]\nregion_name = g\nservice_name = $region_name\n",
			func(c *Config) any { return c.Glance.ServiceName }, "g"},
		{"DEFAULT spelt out", "[glance]\nservice_name = ${DEFAULT.control_exchange}\n",
			func(c *Config) any { return c.Glance.ServiceName }, "nova"},
		{"typed values rendered as Python does", "[glance]\nservice_name = $num_retries/$insecure/$valid_interfaces\n",
			func(c *Config) any { return c.Glance.ServiceName }, "3/False/['internal', 'public']"},
		{"None renders empty", "[glance]\nservice_name = x${region_name}y\n",
			func(c *Config) any { return c.Glance.ServiceName }, "xy"},
		{"$$ escape", "[placement]\npassword = pa$$word\n", func(c *Config) any { return c.Placement.Password },
			"pa$word"},
		{"backslash escape", `[placement]` + "\npassword = pa\\$word\n",
			func(c *Config) any { return c.Placement.Password }, "pa$word"},
		{"lone $ kept", "[placement]\npassword = a$ b$\n", func(c *Config) any { return c.Placement.Password },
			"a$ b$"},
		{"$ before non-name kept", "[placement]\npassword = $1${\n",
			func(c *Config) any { return c.Placement.Password }, "$1${"},
		{"reference converted to target type", "[DEFAULT]\nreport_interval = 7\nservice_down_time = $report_interval\n",
			func(c *Config) any { return c.Default.ServiceDownTime }, 7},
		{"deprecated name referenced", "[DEFAULT]\nlog_file = a.log\nlog_dir = /l/${logfile}\n",
			func(c *Config) any { return c.Default.LogDir }, "/l/a.log"},
		{"list items interpolated", "[compute]\nimage_type_exclude_list = $host,iso\n",
			func(c *Config) any { return c.Compute.ImageTypeExcludeList }, []string{"node1", "iso"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Sources{ConfigFiles: []string{writeTemp(t, "n.conf", tt.conf)}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestLoadErrors covers every error path of Load with its exact message.
func TestLoadErrors(t *testing.T) {
	pinMachine(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.conf")
	conf := func(name, text string) string { return writeIn(t, dir, name, text) }
	notDir := conf("plain.conf", "")
	tests := []struct {
		name string
		src  Sources
		want string
		err  error // wrapped cause, if any
	}{
		{"missing file", Sources{ConfigFiles: []string{missing}},
			missing + ": cannot read config file: no such file or directory", fs.ErrNotExist},
		{"directory given as file", Sources{ConfigFiles: []string{dir}},
			dir + ": cannot read config file: is a directory", nil},
		{"missing dir", Sources{ConfigDirs: []string{missing}},
			missing + ": cannot read config directory: no such file or directory", fs.ErrNotExist},
		{"file given as dir", Sources{ConfigDirs: []string{notDir}},
			notDir + ": cannot read config directory: not a directory", nil},
		{"malformed line", Sources{ConfigFiles: []string{conf("m.conf", "[DEFAULT]\nhost\n")}},
			dir + `/m.conf:2: [DEFAULT]: no '=' or ':' in assignment: "host"`, nil},
		{"wrong type", Sources{ConfigFiles: []string{conf("t.conf", "[DEFAULT]\n\nreport_interval = soon\n")}},
			dir + `/t.conf:3: [DEFAULT] report_interval: "soon" is not an integer`, nil},
		{"below minimum", Sources{ConfigFiles: []string{conf("r.conf", "[DEFAULT]\nreserved_host_cpus = -1\n")}},
			dir + "/r.conf:2: [DEFAULT] reserved_host_cpus: -1 is less than the minimum 0", nil},
		{"above maximum", Sources{ConfigFiles: []string{conf("x.conf",
			"[oslo_messaging_rabbit]\nkombu_reconnect_delay = 5\n")}},
			dir + "/x.conf:2: [oslo_messaging_rabbit] kombu_reconnect_delay: 5.0 is greater than the maximum 4.5", nil},
		{"bad bool under deprecated name", Sources{ConfigFiles: []string{conf("b.conf", "[DEFAULT]\nvnc_enabled = si\n")}},
			dir + `/b.conf:2: [DEFAULT] vnc_enabled: "si" is not a boolean (use true/false, yes/no, on/off or 1/0)`, nil},
		{"bad choice", Sources{ConfigFiles: []string{conf("c.conf", "[qemu]\naccel = hvf\n")}},
			dir + `/c.conf:2: [qemu] accel: "hvf" is not one of: auto, kvm, tcg`, nil},
		{"bad host", Sources{ConfigFiles: []string{conf("h.conf", "[DEFAULT]\nhost = bad host\n")}},
			dir + `/h.conf:2: [DEFAULT] host: "bad host" is not a valid IP address or host name`, nil},
		{"port range", Sources{ConfigFiles: []string{conf("p.conf", "[bhyve]\nvnc_port_max = 70000\n")}},
			dir + "/p.conf:2: [bhyve] vnc_port_max: 70000 is greater than the maximum 65535", nil},
		{"unknown reference", Sources{ConfigFiles: []string{conf("u.conf", "[DEFAULT]\nlog_dir = $nosuch/x\n")}},
			dir + "/u.conf:2: [DEFAULT] log_dir: reference $nosuch: no such option (write $$ for a literal $)", nil},
		{"unknown group reference", Sources{ConfigFiles: []string{conf("g.conf", "[DEFAULT]\nlog_dir = ${nosuch.x}\n")}},
			dir + "/g.conf:2: [DEFAULT] log_dir: reference ${nosuch.x}: no such group [nosuch] (write $$ for a literal $)",
			nil},
		{"unknown option in group", Sources{ConfigFiles: []string{conf("o.conf", "[DEFAULT]\nlog_dir = $vnc.nosuch\n")}},
			dir + "/o.conf:2: [DEFAULT] log_dir: reference $vnc.nosuch: no option nosuch in [vnc] (write $$ for a literal $)",
			nil},
		{"secret reference hidden", Sources{ConfigFiles: []string{conf("s.conf", "[placement]\npassword = ab$cd\n")}},
			dir + "/s.conf:2: [placement] password: reference in a secret value: no such option (write $$ for a literal $)",
			nil},
		{"self reference", Sources{ConfigFiles: []string{conf("y.conf", "[DEFAULT]\nlog_dir = $log_dir\n")}},
			dir + "/y.conf:2: [DEFAULT] log_dir: cyclic reference: [DEFAULT] log_dir -> [DEFAULT] log_dir", nil},
		{"cycle through defaults", Sources{ConfigFiles: []string{conf("z.conf", "[DEFAULT]\npybasedir = $instances_path\n")}},
			dir + "/z.conf:2: [DEFAULT] pybasedir: cyclic reference: [DEFAULT] pybasedir -> [DEFAULT] instances_path -> " +
				"[DEFAULT] state_path -> [DEFAULT] pybasedir", nil},
		{"cross-group cycle", Sources{ConfigFiles: []string{conf("w.conf",
			"[glance]\nregion_name = ${placement.region_name}\n[placement]\nregion_name = ${glance.region_name}\n")}},
			dir + "/w.conf:2: [glance] region_name: cyclic reference: [glance] region_name -> [placement] region_name -> " +
				"[glance] region_name", nil},
		{"bad value reached through a reference", Sources{ConfigFiles: []string{conf("v.conf",
			"[DEFAULT]\nhost = $my_ip\nmy_ip = a b\n")}},
			dir + `/v.conf:2: [DEFAULT] host: "a b" is not a valid IP address or host name`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.src)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg.Default)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a *conf.Error", err)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n %q\nwant\n %q", err.Error(), tt.want)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("error does not wrap %v", tt.err)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	pinMachine(t)
	p := writeTemp(t, "e.conf", "[Glance]\nnum_retries = -3\n")
	_, err := Load(Sources{ConfigFiles: []string{p}})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	want := Error{File: p, Line: 2, Group: "glance", Option: "num_retries", Reason: "-3 is less than the minimum 0"}
	if *ce != want {
		t.Errorf("got %+v, want %+v", *ce, want)
	}
	// A default that does not pass its type names the option and says it is the default.
	hostname = func() string { return "bad host" }
	_, err = Load(Sources{ConfigFiles: []string{writeTemp(t, "d.conf", "")}})
	if err == nil || err.Error() != `[DEFAULT] host: default value: "bad host" is not a valid IP address or host name` {
		t.Errorf("bad default: %v", err)
	}
}

func TestOverriddenBadValueIgnored(t *testing.T) {
	pinMachine(t)
	dir := t.TempDir()
	a := writeIn(t, dir, "a.conf", "[DEFAULT]\nreport_interval = soon\n")
	b := writeIn(t, dir, "b.conf", "[DEFAULT]\nreport_interval = 5\n")
	cfg, err := Load(Sources{ConfigFiles: []string{a, b}})
	if err != nil || cfg.Default.ReportInterval != 5 {
		t.Fatalf("as in oslo only the winning value is converted: %v %d", err, cfg.Default.ReportInterval)
	}
}

func TestEmptyNumberKeepsDefault(t *testing.T) {
	pinMachine(t)
	p := writeTemp(t, "e.conf", "[DEFAULT]\nreserved_host_memory_mb =\ncpu_allocation_ratio =\n")
	cfg, err := Load(Sources{ConfigFiles: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Default.ReservedHostMemoryMB != 512 || cfg.Default.CPUAllocationRatio != nil {
		t.Errorf("got %d %v", cfg.Default.ReservedHostMemoryMB, cfg.Default.CPUAllocationRatio)
	}
	if got := cfg.Source("DEFAULT", "reserved_host_memory_mb"); got != p+":2" {
		t.Errorf("Source = %q", got)
	}
}

func TestUnknown(t *testing.T) {
	pinMachine(t)
	p := writeTemp(t, "u.conf", "[DEFAULT]\nhost = h\nHost = H\nwsgi_log_format = x\n[database]\nconnection = mysql://\n"+
		"[placement]\nversion = 1\n")
	cfg, err := Load(Sources{ConfigFiles: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Location{{p, 3, "DEFAULT", "Host"}, {p, 4, "DEFAULT", "wsgi_log_format"}, {p, 6, "database", "connection"},
		{p, 8, "placement", "version"}}
	if !reflect.DeepEqual(cfg.Unknown, want) {
		t.Errorf("Unknown = %+v\nwant %+v", cfg.Unknown, want)
	}
	if cfg.Default.Host != "h" {
		t.Errorf("option names are case-sensitive: host %q", cfg.Default.Host)
	}
	if cfg.Source("nosuch", "x") != "" || cfg.Source("DEFAULT", "debug") != "default" {
		t.Error("Source of an undeclared option should be empty, of an unset one \"default\"")
	}
	if !strings.HasSuffix(cfg.Source("DEFAULT", "host"), "u.conf:2") {
		t.Errorf("Source(host) = %q", cfg.Source("DEFAULT", "host"))
	}
}

func TestExpansionBounded(t *testing.T) {
	pinMachine(t)
	// Each option repeats the next one 16 times: 16^6 copies of "x" would be 16 MiB.
	var b strings.Builder
	b.WriteString("[placement]\n")
	names := []string{"auth_url", "system_scope", "domain_id", "domain_name", "project_id", "project_name", "trust_id"}
	for i, n := range names[:len(names)-1] {
		b.WriteString(n + " = " + strings.Repeat("$"+names[i+1], 16) + "\n")
	}
	b.WriteString(names[len(names)-1] + " = x\n")
	p := writeTemp(t, "bomb.conf", b.String())
	_, err := Load(Sources{ConfigFiles: []string{p}})
	if err == nil || !strings.HasSuffix(err.Error(), "value is longer than 1 MiB after interpolation") {
		t.Fatalf("got %v", err)
	}
}
