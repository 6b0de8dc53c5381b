# The README's commands. Everything runs as root on Debian bookworm (the rig debootstraps a Debian root and the
# engine starts guests).
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
# Nova 2026.1's full sample nova.conf, fetched by devstack/install-deps.sh; the conf tests load it.
export NOVABSD_NOVA_SAMPLE_CONF ?= /var/cache/novabsd/nova-common/usr/share/nova-common/nova.conf

.PHONY: all build install packaging-check test test-quick test-unit fuzz fuzz-argv test-e2e test-e2e-2025.1 test-e2e-2026.2 rig-install devstack-image vet cross demo deps tempest
all: build

build:
	$(GO) build -o bin/novabsd ./cmd/novabsd

# Installation, as the FreeBSD port (packaging/freebsd, whose pkg-plist must list exactly what this puts down) and
# Linux hosts do it: `make install PREFIX=/usr/local DESTDIR=/tmp/stage`. It runs the binary once, to write
# nova.conf.sample, so NOVABSD_BIN must run on this machine.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MAN8DIR ?= $(PREFIX)/share/man/man8
NOVA_ETCDIR ?= $(PREFIX)/etc/nova
# The binary to install; the port passes the one it built. The default is built first.
NOVABSD_BIN ?= bin/novabsd
INSTALL ?= install
UNAME_S := $(shell uname -s)
# Where the systemd unit goes, the newsyslog.conf.d entry and the rc.d script (each empty: none). systemd reads
# /usr/local/lib/systemd/system too; PREFIX=/usr gives Debian's /usr/lib/systemd/system. The port passes RC_DIR=
# empty: its USE_RC_SUBR installs the script.
ifeq ($(UNAME_S),Linux)
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
endif
ifeq ($(UNAME_S),FreeBSD)
NEWSYSLOG_CONFDIR ?= $(PREFIX)/etc/newsyslog.conf.d
RC_DIR ?= $(PREFIX)/etc/rc.d
endif
SYSTEMD_UNITDIR ?=
NEWSYSLOG_CONFDIR ?=
RC_DIR ?=

ifeq ($(NOVABSD_BIN),bin/novabsd)
install: build
endif
install:
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(NOVA_ETCDIR)
	$(INSTALL) -m 0755 $(NOVABSD_BIN) $(DESTDIR)$(SBINDIR)/novabsd
	$(INSTALL) -m 0644 packaging/man/novabsd.8 $(DESTDIR)$(MAN8DIR)/novabsd.8
	$(NOVABSD_BIN) config sample >$(DESTDIR)$(NOVA_ETCDIR)/nova.conf.sample.tmp
	mv $(DESTDIR)$(NOVA_ETCDIR)/nova.conf.sample.tmp $(DESTDIR)$(NOVA_ETCDIR)/nova.conf.sample
	chmod 0644 $(DESTDIR)$(NOVA_ETCDIR)/nova.conf.sample
ifneq ($(SYSTEMD_UNITDIR),)
	$(INSTALL) -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' packaging/linux/novabsd.service >$(DESTDIR)$(SYSTEMD_UNITDIR)/novabsd.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/novabsd.service
endif
ifneq ($(NEWSYSLOG_CONFDIR),)
	$(INSTALL) -d $(DESTDIR)$(NEWSYSLOG_CONFDIR)
	$(INSTALL) -m 0644 packaging/freebsd/files/novabsd.conf $(DESTDIR)$(NEWSYSLOG_CONFDIR)/novabsd.conf
endif
ifneq ($(RC_DIR),)
	$(INSTALL) -d $(DESTDIR)$(RC_DIR)
	sed -e 's|%%PREFIX%%|$(PREFIX)|g' packaging/freebsd/files/novabsd.in >$(DESTDIR)$(RC_DIR)/novabsd
	chmod 0755 $(DESTDIR)$(RC_DIR)/novabsd
endif

# The packaging's checks (seconds): the rc.d script under a stand-in rc.subr, the port's plist against `make
# install`, novabsd(8) through mandoc's lint, the systemd unit (packaging/packaging_test.go).
packaging-check:
	$(GO) test -count=1 ./packaging/

deps:
	devstack/install-deps.sh

# All tests: unit and integration tests against the real broker, QEMU and Python oslo.messaging, then the
# end-to-end suite against the all-in-one control plane.
test: deps vet packaging-check rig-install test-unit fuzz test-e2e test-e2e-2025.1 test-e2e-2026.2

# Quick mode for local iteration: everything but the end-to-end suite.
test-quick: deps vet packaging-check test-unit fuzz

# The control plane's Debian root (idempotent); the rpc interop tests also use its oslo.messaging 18.3.
rig-install:
	devstack/rig.sh install

# -p 1: packages share the real broker, and the rpc tests restart it.
test-unit: devstack-image fuzz-argv
	$(GO) test -p 1 -count=1 -timeout 20m ./...

# Fuzz targets run for a bounded number of executions beyond their seeds (which test-unit runs). go test -fuzz
# takes one package and one target per run. FuzzServerSurvives feeds a server on the real broker; its coverage is
# noisy, so -fuzzminimizetime keeps the engine from spending the run minimizing inputs that only look new.
# Counts, not durations: Go 1.26's fuzz coordinator can report a bare "context deadline exceeded" when a
# -fuzztime duration ends while a worker is mid-input (golang/go#75804, fixed in Go 1.27), which a loaded CI
# machine hits now and then; a count has no deadline to race.
FUZZTIME ?= 15000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzServerSurvives$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1x ./rpc/
	$(GO) test -run '^$$' -fuzz '^FuzzMaskHidesPassword$$' -fuzztime 200000x ./conf/credmask/

# A bounded fuzz run of the command-line builders: no image property, flavor extra spec or domain field may add a
# flag or option to an engine's argv.
ARGV_FUZZTIME ?= 50000x
fuzz-argv:
	$(GO) test -run '^$$' -fuzz '^FuzzArgvNoInjection$$' -fuzztime $(ARGV_FUZZTIME) ./hypervisor/qemu
	$(GO) test -run '^$$' -fuzz '^FuzzArgvNoInjection$$' -fuzztime $(ARGV_FUZZTIME) ./hypervisor/bhyve
	$(GO) test -run '^$$' -fuzz '^FuzzParseMachineHelp$$' -fuzztime $(ARGV_FUZZTIME) ./hypervisor/qemu

devstack-image:
	devstack/image/build.sh

# -parallel: the tests that share one compute host (shared_test.go) run together once the serial ones are done;
# go test's default is GOMAXPROCS, 2 here, though those tests mostly wait on the cloud and their guests.
E2E_PARALLEL ?= 4
test-e2e:
	devstack/e2e/run.sh test-e2e $(GO) test -count=1 -timeout 60m -tags e2e -v -parallel $(E2E_PARALLEL) ./devstack/e2e/...

# The same binary against the other Nova releases it serves, each on its own rig (installed beside forky's on
# first use): joining, heartbeats, inventory, faults and the server lifecycle. The rigs share their ports, so
# the forky rig stops for such a run and starts again after it, whatever the result (not under CI=true: nothing
# uses it afterwards, and each start of it costs CI about two minutes).
E2E_RELEASES = TestEndpointList|TestImageList|TestResourceProviderList|TestComputeJoins|TestServerLifecycle
# Extra `go test` flags for these runs. CI sets none. (TestComputeSurvivesOutages, novabsd's own behaviour
# whatever the release, runs in the 2026.1 run only.)
E2E_FLAGS ?=
# $(call e2e_release,DEBIAN_RELEASE): that set against the rig of one Debian release.
define e2e_release
	devstack/rig.sh stop
	rc=0; NOVABSD_E2E_RELEASE=$(1) devstack/e2e/run.sh test-e2e-$(1) $(GO) test -count=1 -timeout 30m -tags e2e -v \
		-parallel $(E2E_PARALLEL) -run '$(E2E_RELEASES)' $(E2E_FLAGS) ./devstack/e2e/... || rc=$$?; \
	devstack/rig.sh --release $(1) stop; [ "$$CI" = true ] || devstack/rig.sh start >/dev/null || { [ $$rc -ne 0 ] || rc=1; }; \
		exit $$rc
endef

# Nova 2025.1 Epoxy (Debian trixie).
test-e2e-2025.1:
	$(call e2e_release,trixie)

# Nova 2026.2 Hibiscus (Debian sid).
test-e2e-2026.2:
	$(call e2e_release,sid)

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./devstack/e2e/...

# The primary platform: FreeBSD on amd64 and arm64 must build and vet.
cross:
	GOOS=linux GOARCH=amd64 $(GO) build ./...
	GOOS=freebsd GOARCH=amd64 $(GO) vet ./...
	GOOS=freebsd GOARCH=amd64 $(GO) build -o /dev/null ./cmd/novabsd
	GOOS=freebsd GOARCH=arm64 $(GO) vet ./...
	GOOS=freebsd GOARCH=arm64 $(GO) build -o /dev/null ./cmd/novabsd

# The project's main job on a fresh machine: the all-in-one cloud with novabsd as its compute host.
demo: deps build
	devstack/demo.sh

# Tempest's compute API tests (Debian's tempest 47 in the rig's root) against the running rig, with one compute
# host servers land on: novabsd, or TEMPEST_COMPUTE=stock for the stock nova-compute (libvirt, TCG) with the same
# tempest.conf. Prints passed / failed / skipped; results (subunit, HTML, logs) under results/tempest/. Not part
# of `make test`: the full set takes longer than CI's hour.
TEMPEST_COMPUTE ?= novabsd
TEMPEST_REGEX ?= tempest.api.compute
TEMPEST_CONCURRENCY ?= 2
tempest: build
	TEMPEST_COMPUTE=$(TEMPEST_COMPUTE) TEMPEST_REGEX='$(TEMPEST_REGEX)' TEMPEST_CONCURRENCY=$(TEMPEST_CONCURRENCY) \
		NOVABSD_BIN=$(CURDIR)/bin/novabsd devstack/tempest.sh
