package images

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// listPageSize is the limit each list request asks for: glanceclient's page
// size, below Glance's default api_limit_max (1000), which caps it anyway.
const listPageSize = 200

// maxListPages bounds how many next links List follows (200,000 images at
// full pages), so a Glance whose links never end cannot hold a caller forever.
const maxListPages = 1000

// listID stands in for the image id in errors of a list, which has none.
const listID = "(list)"

// listParams are the query parameters List sets itself: a filter naming one
// would change the paging instead of filtering.
var listParams = map[string]bool{"limit": true, "marker": true, "sort": true, "sort_key": true, "sort_dir": true}

type listPage struct {
	Images []map[string]any `json:"images"`
	Next   string           `json:"next"`
}

// List returns every image the user may see that matches filters
// (GET /v2/images), as nova's image service get_all does with glanceclient:
// each filter is a plain key=value query parameter, which Glance matches
// against schema attributes and properties alike (nova's "property-" filters
// lose their prefix on the way). sortKey and sortDir ("asc" or "desc") are
// passed as given; empty leaves Glance's order (created_at desc). Pages are
// followed through Glance's next links to the end, each page fetched with the
// usual retries.
func (c *Client) List(ctx context.Context, filters map[string]string, sortKey, sortDir string) ([]*Image, error) {
	q := url.Values{}
	for k, v := range filters {
		if listParams[k] {
			return nil, newErr(listID, "list", ErrBadRequest, nil, "filter %q is a paging or sorting parameter", k)
		}
		q.Set(k, v)
	}
	if sortKey != "" {
		q.Set("sort_key", sortKey)
	}
	if sortDir != "" {
		q.Set("sort_dir", sortDir)
	}
	q.Set("limit", strconv.Itoa(listPageSize))
	next := "/v2/images?" + q.Encode()
	seen := map[string]bool{}
	var out []*Image
	for page := 1; next != ""; page++ {
		if page > maxListPages {
			return nil, newErr(listID, "list", ErrUnavailable, nil, "Glance still had a next page after %d pages", maxListPages)
		}
		// A marker that does not advance would loop forever.
		if seen[next] {
			return nil, newErr(listID, "list", ErrUnavailable, nil, "Glance's next link %q repeats", next)
		}
		seen[next] = true
		var body listPage
		err := c.call(ctx, listID, "list", func(sc *gophercloud.ServiceClient) error {
			body = listPage{}
			_, err := sc.Get(ctx, pageURL(sc.Endpoint, next), &body, &gophercloud.RequestOpts{OkCodes: []int{200}})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, m := range body.Images {
			img, err := imageFromMap(m)
			if err != nil {
				return nil, newErr(listID, "list", ErrUnavailable, err, "decoding page %d", page)
			}
			out = append(out, img)
		}
		if len(body.Images) == 0 {
			break
		}
		next = body.Next
	}
	return out, nil
}

// pageURL resolves a next link as keystoneauth does for glanceclient: Glance
// writes it from its root ("/v2/images?..."), unaware of any path prefix it is
// served under (devstack's /image), so it is appended to the endpoint rather
// than resolved against the host. A link with a host is used as it is.
func pageURL(endpoint, next string) string {
	if u, err := url.Parse(next); err == nil && u.Host != "" {
		return next
	}
	return strings.TrimSuffix(endpoint, "/") + "/" + strings.TrimPrefix(next, "/")
}
