// Package e2e holds novabsd's end-to-end tests, behind the build tag e2e: they bring up the
// all-in-one control plane of devstack/rig.sh (Keystone, Glance, Placement, Nova API, conductor
// and scheduler from Debian packages in a debootstrapped root), start novabsd against it as a
// compute host, and drive the cloud with the real openstack CLI.
//
//	go test -tags e2e -v ./devstack/e2e/
//
// The first run installs the root (about 5 minutes and 2 GB, needs root and Debian's mirror);
// later runs reuse it and leave the control plane running for the next run
// (NOVABSD_E2E_STOP=1 stops it at the end). With CI=true a rig that cannot come up fails every
// test; otherwise the tests skip, saying why.
//
// NOVABSD_E2E_RELEASE picks the rig: forky (Nova 2026.1, the default), trixie (Nova 2025.1,
// `rig.sh --release trixie`) or sid (Nova 2026.2, `rig.sh --release sid`). The rigs share their
// ports, so the other one must be stopped first.
package e2e
