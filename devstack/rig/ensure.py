#!/usr/bin/python3
"""ensure.py identity | resources IMAGE_DIR

Runs inside the rig's root with the admin openrc in the environment. Makes the cloud's
objects exist exactly once, repairing rather than duplicating: the service project and
users with their roles, the catalog's services and endpoints (identity), then the tiny
flavor and the tiny images (resources). One process, so that openstacksdk starts once.
"""
import hashlib
import os
import sys
import time

import openstack

REGION = os.environ.get("OS_REGION_NAME", "RegionOne")
PASSWORD = os.environ.get("NOVABSD_RIG_PASSWORD", "novabsd-rig")
SERVICE_USERS = ("glance", "placement", "nova")
SERVICE_ROLES = ("admin", "service")
CATALOG = (  # name, type, url
    ("glance", "image", "http://127.0.0.1:9292"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    # No Neutron: a stub that answers with empty collections (rig/neutron-stub.py).
    ("neutron", "network", "http://127.0.0.1:9696"),
)
FLAVOR = dict(name="tiny", vcpus=1, ram=128, disk=1)
IMAGES = (("tiny", "tiny.raw", "raw"), ("tiny-qcow2", "tiny.qcow2", "qcow2"))


def log(msg, t0=None):
    took = f" ({time.monotonic() - t0:.1f}s)" if t0 is not None else ""
    print(f"ensure: {msg}{took}", file=sys.stderr, flush=True)


def one(items, what):
    """The first of items; extra duplicates are reported to the caller."""
    items = list(items)
    return (items[0] if items else None), items[1:]


def identity(conn):
    """Reads everything in a few list calls (each keystone call costs ~0.3 s here), writes only what is missing."""
    idn = conn.identity
    t0 = time.monotonic()
    project, _ = one(idn.projects(name="service", domain_id="default"), "project")
    if project is None:
        project = idn.create_project(name="service", domain_id="default", description="rig service users")
        log("created project service")
    roles = {r.name: r for r in idn.roles()}
    for name in SERVICE_ROLES:
        if name not in roles:
            roles[name] = idn.create_role(name=name)
            log(f"created role {name}")
    users = {u.name: u for u in idn.users(domain_id="default")}
    have = {(a.user["id"], a.role["id"]) for a in idn.role_assignments(scope_project_id=project.id)
            if a.user}
    for name in SERVICE_USERS:
        user = users.get(name)
        if user is None:
            user = idn.create_user(name=name, password=PASSWORD, domain_id="default",
                                   default_project_id=project.id, enabled=True)
            log(f"created user {name}")
        elif not user.is_enabled:
            idn.update_user(user, enabled=True)
            log(f"enabled user {name}")
        for rname in SERVICE_ROLES:
            if (user.id, roles[rname].id) not in have:
                idn.assign_project_role_to_user(project, user, roles[rname])
                log(f"granted {rname} on service to {name}")
    log("project service, users and roles", t0)

    t0 = time.monotonic()
    services = list(idn.services())
    endpoints = list(idn.endpoints())
    for name, stype, url in CATALOG:
        mine = [s for s in services if s.type == stype]
        service, extra = one(mine, stype)
        for dup in extra:
            for ep in endpoints:
                if ep.service_id == dup.id:
                    idn.delete_endpoint(ep)
            idn.delete_service(dup)
            log(f"deleted duplicate {stype} service {dup.id}")
        if service is None:
            service = idn.create_service(name=name, type=stype, enabled=True)
            log(f"created service {name} ({stype})")
        for iface in ("public", "internal", "admin"):
            ep, extra = one((e for e in endpoints if e.service_id == service.id and e.interface == iface), iface)
            for dup in extra:
                idn.delete_endpoint(dup)
                log(f"deleted duplicate {iface} endpoint of {stype}")
            if ep is None:
                idn.create_endpoint(service_id=service.id, interface=iface, url=url, region_id=REGION)
                log(f"created {iface} endpoint {url} for {stype}")
            elif ep.url != url or ep.region_id != REGION:
                idn.update_endpoint(ep, url=url, region_id=REGION)
                log(f"repaired {iface} endpoint of {stype}")
    log("catalog", t0)


def wait_rpc_services(conn, timeout=120):
    t0 = time.monotonic()
    want = {"nova-conductor", "nova-scheduler"}
    while True:
        up = {s.binary for s in conn.compute.services() if s.state == "up" and s.binary in want}
        if up == want:
            log("nova-conductor and nova-scheduler are up", t0)
            return
        if time.monotonic() - t0 > timeout:
            sys.exit(f"ensure: not up after {timeout}s: {', '.join(sorted(want - up))} "
                     "(see nova-conductor.log / nova-scheduler.log)")
        time.sleep(1)


def flavor(conn):
    t0 = time.monotonic()
    found = [f for f in conn.compute.flavors(is_public=None) if f.name == FLAVOR["name"]]
    keep = None
    for f in found:
        if keep is None and (f.vcpus, f.ram, f.disk) == (FLAVOR["vcpus"], FLAVOR["ram"], FLAVOR["disk"]):
            keep = f
        else:
            conn.compute.delete_flavor(f)
            log(f"deleted flavor {f.id} ({f.vcpus} vCPU, {f.ram} MB, {f.disk} GB)")
    if keep is None:
        conn.compute.create_flavor(is_public=True, **FLAVOR)
        log("created flavor tiny")
    log("flavor tiny", t0)


def md5sum(path):
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def images(conn, image_dir):
    for name, fname, fmt in IMAGES:
        t0 = time.monotonic()
        path = os.path.join(image_dir, fname)
        want = md5sum(path)
        keep = None
        for img in conn.image.images(name=name):
            if keep is None and img.status == "active" and img.checksum == want and img.disk_format == fmt \
                    and img.visibility == "public":
                keep = img
            else:
                conn.image.delete_image(img)
                log(f"deleted image {img.id} ({name}, {img.status})")
        if keep is None:
            keep = conn.image.create_image(name=name, filename=path, disk_format=fmt, container_format="bare",
                                           visibility="public", wait=True, allow_duplicates=True,
                                           disable_vendor_agent=False)
            keep = conn.image.get_image(keep)
            if keep.status != "active" or keep.checksum != want:
                sys.exit(f"ensure: image {name} is {keep.status} with checksum {keep.checksum}, want active {want}")
            log(f"uploaded image {name} ({fmt}) as {keep.id}")
        log(f"image {name}", t0)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("identity", "resources"):
        sys.exit(__doc__)
    conn = openstack.connect()
    if sys.argv[1] == "identity":
        identity(conn)
    else:
        if len(sys.argv) != 3:
            sys.exit(__doc__)
        wait_rpc_services(conn)
        flavor(conn)
        images(conn, sys.argv[2])


if __name__ == "__main__":
    main()
