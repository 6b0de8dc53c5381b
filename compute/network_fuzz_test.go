package compute

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/novabsd/novabsd/rpc/vo"
)

// FuzzNetworkRequests feeds requested_networks elements of any shape: reading them never panics; an element that
// does not decode aborts the build (never a reschedule, since every host would fail it the same way), and what
// is accepted is either nothing (--nic none) or one request per element, none of them both a network and a port.
func FuzzNetworkRequests(f *testing.F) {
	for _, seed := range []string{`{"network_id":"none"}`, `{"network_id":"auto"}`, `{}`, `{"port_id":"p1","network_id":"n"}`,
		`{"network_id":"n1","address":"10.0.0.5","tag":"t"}`, `{"network_id":1}`, `{"address":[]}`, `null`} {
		f.Add(seed, 1)
	}
	f.Fuzz(func(t *testing.T, data string, n int) {
		n = 1 + (n&0xff)%3
		var objs []*vo.Object
		for range n {
			o := vo.New("NetworkRequest", "1.3")
			if err := json.Unmarshal([]byte(data), &o.Data); err != nil {
				return
			}
			objs = append(objs, o)
		}
		list, err := vo.NewList("NetworkRequestList", "1.1", objs)
		if err != nil {
			return
		}
		reqs, err := networkRequests(list)
		if err != nil {
			var be *buildError
			if !errors.As(err, &be) || be.Reschedule {
				t.Fatalf("error %v is not a build abort", err)
			}
			return
		}
		if len(reqs) != 0 && len(reqs) != n {
			t.Fatalf("%d requests from %d elements", len(reqs), n)
		}
		for _, r := range reqs {
			if r.PortID != "" && r.NetworkID != "" {
				t.Fatalf("request %+v names both a port and a network", r)
			}
		}
	})
}
