package plug

import "context"

// device is the host's side of a plug: taps and plain bridges. Linux does it with tun ioctls, FreeBSD with
// ifconfig(8) (ifconfig.go, built everywhere so its code paths run in tests on Linux against a stand-in).
type device interface {
	// ensureTap makes p.Tap a tap owned by p.Owner (-1: no owner), with p.MTU (0: as it is), and up. A tap of
	// that name already there is kept (created false) and only adjusted; any other device of that name is an
	// error. On error nothing it made remains.
	ensureTap(ctx context.Context, p Port) (created bool, err error)
	// deleteTap deletes the tap; one that is already gone is not an error.
	deleteTap(ctx context.Context, name string) error
	// joinBridge makes the tap a port of bridge, which must exist and be a bridge; already a port is fine.
	joinBridge(ctx context.Context, tap, bridge string) error
}
