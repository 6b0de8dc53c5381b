package images

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeGlance behaves as the Glance v2 API documents for the calls nova-compute
// makes: image GET, image list GET (filters, sorting, paging), file GET
// (chunked), file PUT, PATCH with the v2.1 json-patch media type, POST, member
// POST and DELETE, with 401 for a wrong token and injectable failures.
type fakeGlance struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	images  map[string]*fakeImage
	fail    map[string][]int // "METHOD path" -> statuses to answer first, in order
	patches [][]map[string]any
	members map[string][]string
	headers []http.Header // every request's headers

	downloads atomic.Int64 // file GETs that started sending data
	requests  atomic.Int64
	// gate, when set (hold), holds file GETs until release.
	gate     chan struct{}
	gateOnce *sync.Once
	// breakOnce, when set, cuts the first file GET after half the data.
	breakOnce atomic.Bool
	// noData answers 204 to file GETs.
	noData bool
	// prefix, when set, is the path Glance is served under (devstack's
	// "/image"); requests outside it are 404s.
	prefix string
	// limitMax is Glance's api_limit_max: the most images one list page
	// holds, whatever limit is asked for. 1000 when zero.
	limitMax int
	// lists are the query parameters of every list GET, failed ones too, in order.
	lists []url.Values
}

type fakeImage struct {
	meta map[string]any
	data []byte
	// upload results
	uploaded      int64
	uploadSHA256  string
	contentLength string
	contentType   string
}

const goodToken = "user-token"

func newFakeGlance(t *testing.T) *fakeGlance {
	f := &fakeGlance{t: t, images: map[string]*fakeImage{}, fail: map[string][]int{}, members: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// addImage registers an active image holding data with Glance's hashes.
func (f *fakeGlance) addImage(id, diskFormat string, data []byte) map[string]any {
	s := sha512.Sum512(data)
	m := md5.Sum(data)
	meta := map[string]any{
		"id": id, "name": "img-" + id, "status": "active", "disk_format": diskFormat, "container_format": "bare",
		"size": len(data), "virtual_size": nil, "checksum": hex.EncodeToString(m[:]), "os_hash_algo": "sha512",
		"os_hash_value": hex.EncodeToString(s[:]), "min_disk": 1, "min_ram": 64, "owner": "p1",
		"visibility": "public", "protected": false, "os_hidden": false, "tags": []string{},
		"created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:06Z",
		"self": "/v2/images/" + id, "file": "/v2/images/" + id + "/file", "schema": "/v2/schemas/image",
		"hw_disk_bus": "virtio", "os_distro": "cirros",
	}
	f.mu.Lock()
	f.images[id] = &fakeImage{meta: meta, data: data}
	f.mu.Unlock()
	return meta
}

func (f *fakeGlance) setMeta(id, k string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v == nil {
		delete(f.images[id].meta, k)
		return
	}
	f.images[id].meta[k] = v
}

func (f *fakeGlance) failNext(method, path string, statuses ...int) {
	f.mu.Lock()
	f.fail[method+" "+path] = append(f.fail[method+" "+path], statuses...)
	f.mu.Unlock()
}

func (f *fakeGlance) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	path, ok := strings.CutPrefix(r.URL.Path, f.prefix)
	if !ok {
		f.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	key := r.Method + " " + path
	if key == "GET /v2/images" {
		f.lists = append(f.lists, r.URL.Query())
	}
	if q := f.fail[key]; len(q) > 0 {
		f.fail[key] = q[1:]
		f.mu.Unlock()
		http.Error(w, fmt.Sprintf("injected %d", q[0]), q[0])
		return
	}
	f.mu.Unlock()
	if r.Header.Get("X-Auth-Token") != goodToken {
		http.Error(w, "401 Unauthorized: The request you have made requires authentication.", http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/v2/images"), "/")
	switch {
	case r.Method == http.MethodPost && path == "/v2/images":
		f.create(w, r)
	case r.Method == http.MethodGet && path == "/v2/images":
		f.list(w, r)
	case len(parts) == 2:
		f.image(w, r, parts[1])
	case len(parts) == 3 && parts[2] == "file":
		f.file(w, r, parts[1])
	case len(parts) == 3 && parts[2] == "members" && r.Method == http.MethodPost:
		var body struct{ Member string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.members[parts[1]] = append(f.members[parts[1]], body.Member)
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"member_id": body.Member, "image_id": parts[1], "status": "pending"})
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeGlance) lookup(w http.ResponseWriter, id string) *fakeImage {
	f.mu.Lock()
	img := f.images[id]
	f.mu.Unlock()
	if img == nil {
		http.Error(w, "404 Not Found: No image found with ID "+id, http.StatusNotFound)
	}
	return img
}

func (f *fakeGlance) snapshot(img *fakeImage) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]any{}
	for k, v := range img.meta {
		m[k] = v
	}
	return m
}

func (f *fakeGlance) create(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad json", 400)
		return
	}
	id := fmt.Sprintf("snap-%d", f.requests.Load())
	meta := map[string]any{"id": id, "status": "queued", "size": nil, "checksum": nil, "os_hash_algo": nil,
		"os_hash_value": nil, "disk_format": nil, "container_format": nil, "visibility": "shared", "min_ram": 0,
		"min_disk": 0, "self": "/v2/images/" + id}
	for k, v := range body {
		meta[k] = v
	}
	f.mu.Lock()
	f.images[id] = &fakeImage{meta: meta}
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, meta)
}

// list answers as Glance's image index does: parameters other than the paging
// and sorting ones filter on attributes and properties by exact value;
// sort_key and sort_dir order the images (created_at desc by default, id in
// the same direction breaking ties); limit (25 by default, capped at
// limitMax) and marker page them; and a full page carries a next link with
// the request's parameters and its last image as marker, written from
// Glance's root whatever prefix it is served under.
func (f *fakeGlance) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limitMax := f.limitMax
	if limitMax == 0 {
		limitMax = 1000
	}
	limit := 25
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, "400 Bad Request: limit param must be a non-negative integer", http.StatusBadRequest)
			return
		}
		limit = n
	}
	limit = min(limit, limitMax)
	key, dir := q.Get("sort_key"), q.Get("sort_dir")
	if key == "" {
		key = "created_at"
	}
	if dir == "" {
		dir = "desc"
	}
	if dir != "asc" && dir != "desc" {
		http.Error(w, "400 Bad Request: Invalid sort direction: "+dir, http.StatusBadRequest)
		return
	}
	var rows []map[string]any
	f.mu.Lock()
	for _, img := range f.images {
		match := true
		for k, vs := range q {
			if k == "limit" || k == "marker" || k == "sort_key" || k == "sort_dir" {
				continue
			}
			if v, ok := img.meta[k]; !ok || fmt.Sprint(v) != vs[0] {
				match = false
			}
		}
		if match {
			m := map[string]any{}
			for k, v := range img.meta {
				m[k] = v
			}
			rows = append(rows, m)
		}
	}
	f.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool {
		a, b := fmt.Sprint(rows[i][key]), fmt.Sprint(rows[j][key])
		if a == b {
			a, b = rows[i]["id"].(string), rows[j]["id"].(string)
		}
		if dir == "desc" {
			return a > b
		}
		return a < b
	})
	start := 0
	if m := q.Get("marker"); m != "" {
		start = -1
		for i, row := range rows {
			if row["id"] == m {
				start = i + 1
			}
		}
		if start < 0 {
			http.Error(w, "400 Bad Request: Marker "+m+" could not be found.", http.StatusBadRequest)
			return
		}
	}
	page := rows[start:min(start+limit, len(rows))]
	body := map[string]any{"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"}
	if len(page) > 0 && len(page) == limit {
		q.Set("marker", page[len(page)-1]["id"].(string))
		body["next"] = "/v2/images?" + q.Encode()
	}
	writeJSON(w, 200, body)
}

func (f *fakeGlance) image(w http.ResponseWriter, r *http.Request, id string) {
	img := f.lookup(w, id)
	if img == nil {
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, 200, f.snapshot(img))
	case http.MethodDelete:
		f.mu.Lock()
		delete(f.images, id)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		if ct := r.Header.Get("Content-Type"); ct != "application/openstack-images-v2.1-json-patch" {
			http.Error(w, "415 Unsupported Media Type: "+ct, http.StatusUnsupportedMediaType)
			return
		}
		var ops []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&ops); err != nil {
			http.Error(w, "bad patch", 400)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.patches = append(f.patches, ops)
		for _, op := range ops {
			path := strings.TrimPrefix(op["path"].(string), "/")
			_, exists := img.meta[path]
			switch op["op"] {
			case "add":
				img.meta[path] = op["value"]
			case "replace":
				if !exists {
					http.Error(w, "409 Conflict: cannot replace absent "+path, http.StatusConflict)
					return
				}
				img.meta[path] = op["value"]
			case "remove":
				if !exists {
					http.Error(w, "409 Conflict: cannot remove absent "+path, http.StatusConflict)
					return
				}
				delete(img.meta, path)
			default:
				http.Error(w, "bad op", 400)
				return
			}
		}
		m := map[string]any{}
		for k, v := range img.meta {
			m[k] = v
		}
		writeJSON(w, 200, m)
	default:
		http.Error(w, "405", http.StatusMethodNotAllowed)
	}
}

func (f *fakeGlance) file(w http.ResponseWriter, r *http.Request, id string) {
	img := f.lookup(w, id)
	if img == nil {
		return
	}
	switch r.Method {
	case http.MethodGet:
		if f.noData {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if f.gate != nil {
			select {
			case <-f.gate:
			case <-r.Context().Done():
				return
			}
		}
		f.downloads.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		fl := w.(http.Flusher)
		data := img.data
		cut := f.breakOnce.CompareAndSwap(true, false)
		// Chunks flushed one by one: no Content-Length, a chunked body.
		for off := 0; off < len(data); off += 64 << 10 {
			if cut && off >= len(data)/2 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			end := min(off+64<<10, len(data))
			if _, err := w.Write(data[off:end]); err != nil {
				return
			}
			fl.Flush()
		}
	case http.MethodPut:
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), 400)
			return
		}
		f.mu.Lock()
		img.uploaded = n
		img.uploadSHA256 = hex.EncodeToString(h.Sum(nil))
		img.contentLength = r.Header.Get("Content-Length")
		img.contentType = r.Header.Get("Content-Type")
		img.meta["status"] = "active"
		img.meta["size"] = n
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "405", http.StatusMethodNotAllowed)
	}
}

// catalog is a service catalog as nova-api puts it in the RPC context.
func (f *fakeGlance) catalog() json.RawMessage {
	return json.RawMessage(`[{"type":"image","name":"glance","endpoints":[{"region":"RegionOne","publicURL":"` +
		f.srv.URL + `","internalURL":"` + f.srv.URL + `/v2","adminURL":"` + f.srv.URL + `"}]}]`)
}

func (f *fakeGlance) client(t *testing.T, mod func(*GlanceOptions)) *Client {
	t.Helper()
	o := GlanceOptions{NumRetries: 3, RetryDelay: 1}
	if mod != nil {
		mod(&o)
	}
	g, err := NewGlance(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Client(Auth{Token: goodToken, GlobalRequestID: "req-" + strconv.Itoa(42), ServiceCatalog: f.catalog()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hold makes file GETs wait until release; a failing test releases them on
// cleanup so the server can shut down instead of hanging.
func (f *fakeGlance) hold(t *testing.T) {
	f.gate = make(chan struct{})
	f.gateOnce = new(sync.Once)
	g, once := f.gate, f.gateOnce
	t.Cleanup(func() { once.Do(func() { close(g) }) })
}

func (f *fakeGlance) release() {
	g, once := f.gate, f.gateOnce
	once.Do(func() { close(g) })
}
