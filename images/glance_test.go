package images

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCatalogEndpoint(t *testing.T) {
	v2 := `[{"type":"network","endpoints":[{"region":"R1","publicURL":"http://net"}]},
	        {"type":"image","name":"glance","endpoints":[
	          {"region":"R1","publicURL":"http://pub1:9292","internalURL":"http://int1:9292/v2","adminURL":"http://adm1"},
	          {"region":"R2","publicURL":"http://pub2/image/v2.1/","internalURL":"http://int2"}]}]`
	v3 := `[{"type":"image","name":"glance","endpoints":[
	          {"interface":"public","region":"R1","region_id":"R1","url":"http://pub3"},
	          {"interface":"internal","region_id":"R9","url":"http://int3/"}]}]`
	tests := []struct {
		name    string
		cat     string
		opts    GlanceOptions
		want    string
		wantErr error
	}{
		{"v2 default prefers internal, strips /v2", v2, GlanceOptions{}, "http://int1:9292/", nil},
		{"v2 public first", v2, GlanceOptions{ValidInterfaces: []string{"public", "internal"}}, "http://pub1:9292/", nil},
		{"v2 region", v2, GlanceOptions{RegionName: "R2", ValidInterfaces: []string{"public"}}, "http://pub2/image/", nil},
		{"v3 internal by region_id", v3, GlanceOptions{RegionName: "R9"}, "http://int3/", nil},
		{"v3 interface with URL suffix", v3, GlanceOptions{ValidInterfaces: []string{"publicURL"}}, "http://pub3/", nil},
		{"admin only missing", v3, GlanceOptions{ValidInterfaces: []string{"admin"}}, "", ErrNoEndpoint},
		{"wrong service name", v2, GlanceOptions{ServiceName: "other"}, "", ErrNoEndpoint},
		{"wrong region", v2, GlanceOptions{RegionName: "R7"}, "", ErrNoEndpoint},
		{"no catalog", "", GlanceOptions{}, "", ErrNoEndpoint},
		{"not a list", `{"image":1}`, GlanceOptions{}, "", ErrNoEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalogEndpointURL(json.RawMessage(tc.cat), &tc.opts)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestClientEndpointChoice(t *testing.T) {
	cat := json.RawMessage(`[{"type":"image","endpoints":[{"interface":"internal","url":"http://cat:9292"}]}]`)
	tests := []struct {
		name string
		opts GlanceOptions
		want string
	}{
		{"catalog", GlanceOptions{}, "http://cat:9292/"},
		{"override wins", GlanceOptions{EndpointOverride: "http://over/v2", APIServers: []string{"http://api"}}, "http://over/"},
		{"api_servers", GlanceOptions{APIServers: []string{"http://api1:9292/v2"}}, "http://api1:9292/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGlance(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			c, err := g.Client(Auth{Token: "t", ServiceCatalog: cat})
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint() != tc.want {
				t.Fatalf("endpoint %q, want %q", c.Endpoint(), tc.want)
			}
		})
	}
	g, _ := NewGlance(GlanceOptions{})
	if _, err := g.Client(Auth{ServiceCatalog: cat}); err == nil {
		t.Fatal("a client without a token was made")
	}
	if _, err := NewGlance(GlanceOptions{APIServers: []string{"glance:9292"}}); err == nil {
		t.Fatal("api_servers entry without scheme accepted")
	}
	if _, err := NewGlance(GlanceOptions{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("missing cafile accepted")
	}
}

func TestGetTranslatesImage(t *testing.T) {
	f := newFakeGlance(t)
	f.addImage("img1", "raw", []byte("hello"))
	f.setMeta("img1", "block_device_mapping", []any{map[string]any{"boot_index": 0}})
	c := f.client(t, nil)
	img, err := c.Get(context.Background(), "img1")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != "img1" || img.Status != "active" || img.DiskFormat != "raw" || img.ContainerFormat != "bare" ||
		img.Size != 5 || img.MinDisk != 1 || img.MinRAM != 64 || img.OSHashAlgo != "sha512" || len(img.OSHashValue) != 128 ||
		img.Checksum != "5d41402abc4b2a76b9719d911017c592" || img.Owner != "p1" || img.Visibility != "public" ||
		img.CreatedAt.IsZero() {
		t.Fatalf("image translated wrongly: %+v", img)
	}
	wantProps := map[string]string{"hw_disk_bus": "virtio", "os_distro": "cirros",
		"block_device_mapping": `[{"boot_index":0}]`}
	if len(img.Properties) != len(wantProps) {
		t.Fatalf("properties %v, want %v", img.Properties, wantProps)
	}
	for k, v := range wantProps {
		if img.Properties[k] != v {
			t.Fatalf("property %s = %q, want %q", k, img.Properties[k], v)
		}
	}
	h := f.headers[len(f.headers)-1]
	if h.Get("X-OpenStack-Request-ID") != "req-42" {
		t.Fatalf("request id header %q", h.Get("X-OpenStack-Request-ID"))
	}
}

func TestErrorsAndRetries(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fakeGlance)
		token     string
		retries   int
		want      error
		wantCalls int64
	}{
		{"404", func(f *fakeGlance) {}, goodToken, 3, ErrNotFound, 1},
		{"401 wrong token", func(f *fakeGlance) { f.addImage("x", "raw", nil) }, "bad", 3, ErrNotAuthorized, 1},
		{"403", func(f *fakeGlance) { f.failNext("GET", "/v2/images/x", 403) }, goodToken, 3, ErrNotAuthorized, 1},
		{"500 not retried", func(f *fakeGlance) { f.failNext("GET", "/v2/images/x", 500) }, goodToken, 3, ErrUnavailable, 1},
		{"503 retried then fine", func(f *fakeGlance) {
			f.addImage("x", "raw", nil)
			f.failNext("GET", "/v2/images/x", 503, 503)
		}, goodToken, 3, nil, 3},
		{"503 until out of retries", func(f *fakeGlance) {
			f.addImage("x", "raw", nil)
			f.failNext("GET", "/v2/images/x", 503, 503, 503)
		}, goodToken, 2, ErrUnavailable, 3},
		{"no retries", func(f *fakeGlance) { f.failNext("GET", "/v2/images/x", 503) }, goodToken, 0, ErrUnavailable, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGlance(t)
			tc.setup(f)
			g, err := NewGlance(GlanceOptions{NumRetries: tc.retries, RetryDelay: 1})
			if err != nil {
				t.Fatal(err)
			}
			c, err := g.Client(Auth{Token: tc.token, ServiceCatalog: f.catalog()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(context.Background(), "x")
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				var ie *Error
				if !errors.As(err, &ie) || ie.ImageID != "x" {
					t.Fatalf("error %v does not name the image", err)
				}
			}
			if got := f.requests.Load(); got != tc.wantCalls {
				t.Fatalf("%d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestAPIServersRotateOnRetry(t *testing.T) {
	bad := newFakeGlance(t)
	good := newFakeGlance(t)
	good.addImage("x", "raw", nil)
	bad.failNext("GET", "/v2/images/x", 503, 503, 503, 503)
	g, err := NewGlance(GlanceOptions{APIServers: []string{bad.srv.URL, good.srv.URL}, NumRetries: 1, RetryDelay: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // whichever server a client starts with, the retry reaches the other
		c, err := g.Client(Auth{Token: goodToken})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(context.Background(), "x"); err != nil {
			t.Fatalf("starting at %s: %v", c.Endpoint(), err)
		}
	}
}

func TestServiceTokenHeader(t *testing.T) {
	f := newFakeGlance(t)
	f.addImage("x", "raw", nil)
	c := f.client(t, func(o *GlanceOptions) {
		o.ServiceToken = func(context.Context) (string, error) { return "svc-token", nil }
		o.UserAgent = "novabsd-compute"
	})
	if _, err := c.Get(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	h := f.headers[len(f.headers)-1]
	if h.Get("X-Service-Token") != "svc-token" || h.Get("X-Auth-Token") != goodToken {
		t.Fatalf("headers %v", h)
	}
	if ua := h.Get("User-Agent"); len(ua) < 15 || ua[:15] != "novabsd-compute" {
		t.Fatalf("user agent %q", ua)
	}
	failing := f.client(t, func(o *GlanceOptions) {
		o.ServiceToken = func(context.Context) (string, error) { return "", errors.New("keystone down") }
		o.NumRetries = 0
	})
	if _, err := failing.Get(context.Background(), "x"); err == nil {
		t.Fatal("request went out without the service token it needed")
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	f := newFakeGlance(t)
	c := f.client(t, nil)
	ctx := context.Background()
	img, err := c.Create(ctx, ImageCreate{Name: "snap", Visibility: "shared", MinRAM: 64, MinDisk: 1,
		Properties: map[string]string{"image_type": "snapshot", "old": "x"}, MemberProject: "p2"})
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != "queued" || img.Properties["image_type"] != "snapshot" || img.MinRAM != 64 {
		t.Fatalf("created %+v", img)
	}
	if got := f.members[img.ID]; len(got) != 1 || got[0] != "p2" {
		t.Fatalf("members %v", got)
	}
	up, err := c.Update(ctx, img.ID, ImageUpdate{Name: "snap2", DiskFormat: "raw", ContainerFormat: "bare",
		Properties:       map[string]string{"image_type": "snapshot", "image_location": "snapshot", "old": "y"},
		RemoveProperties: []string{"absent"}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != "snap2" || up.DiskFormat != "raw" || up.Properties["image_location"] != "snapshot" || up.Properties["old"] != "y" {
		t.Fatalf("updated %+v", up)
	}
	ops := f.patches[len(f.patches)-1]
	want := map[string]string{"/container_format": "replace", "/disk_format": "replace", "/image_location": "add",
		"/name": "replace", "/old": "replace"}
	if len(ops) != len(want) {
		t.Fatalf("patch %v, want ops %v (unchanged image_type and absent removal must not be sent)", ops, want)
	}
	for _, op := range ops {
		if want[op["path"].(string)] != op["op"] {
			t.Fatalf("patch op %v, want %v", op, want)
		}
	}
	if _, err := c.Update(ctx, img.ID, ImageUpdate{RemoveProperties: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.images[img.ID].meta["old"]; ok {
		t.Fatal("property not removed")
	}
	if _, err := c.Update(ctx, img.ID, ImageUpdate{Properties: map[string]string{"size": "1"}}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("setting a schema attribute as a property: %v", err)
	}
	if err := c.Delete(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, img.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.Update(ctx, "nope", ImageUpdate{Name: "n"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of missing image: %v", err)
	}
}

func TestDownloadNoData(t *testing.T) {
	f := newFakeGlance(t)
	f.addImage("x", "raw", []byte("data"))
	f.noData = true
	c := f.client(t, nil)
	img, err := c.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(t.TempDir(), "d")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if _, err := c.DownloadTo(context.Background(), img, tmp, 0); !errors.Is(err, ErrNoData) {
		t.Fatalf("204 download: %v", err)
	}
}
