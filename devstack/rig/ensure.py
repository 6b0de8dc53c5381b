#!/usr/bin/python3
"""ensure.py identity | resources IMAGE_DIR | chassis HOST | tempest

Runs inside the rig's root with the admin openrc in the environment. Makes the cloud's
objects exist exactly once, repairing rather than duplicating: the service project and
users with their roles, the catalog's services and endpoints (identity), then the tiny and
tiny-alt flavors, the tiny images, the networks and the admin project's security group rules
(resources). One process, so that openstacksdk starts once. `chassis HOST` waits until
Neutron lists HOST's OVN agents alive and deletes the dead agents of every other host (the
rig has one chassis, whose hostname `rig.sh chassis` sets). `tempest` makes the flavors exist
and prints, as KEY=VALUE lines, the ids a tempest.conf names (images, flavors, the public
network) for `rig.sh tempest-conf`; it fails naming what `rig.sh start` has not made.
"""
import hashlib
import os
import sys
import time

import openstack

REGION = os.environ.get("OS_REGION_NAME", "RegionOne")
PASSWORD = os.environ.get("NOVABSD_RIG_PASSWORD", "novabsd-rig")
SERVICE_USERS = ("glance", "placement", "nova", "neutron")
SERVICE_ROLES = ("admin", "service")
CATALOG = (  # name, type, url
    ("glance", "image", "http://127.0.0.1:9292"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("neutron", "network", "http://127.0.0.1:9696"),
)
# tiny-alt is Tempest's flavor_ref_alt: a second flavor, as small as a guest of the tiny image allows.
FLAVORS = (dict(name="tiny", vcpus=1, ram=128, disk=1), dict(name="tiny-alt", vcpus=1, ram=192, disk=1))
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


def flavors(conn):
    t0 = time.monotonic()
    have = list(conn.compute.flavors(is_public=None))
    for want in FLAVORS:
        keep = None
        for f in (f for f in have if f.name == want["name"]):
            if keep is None and (f.vcpus, f.ram, f.disk) == (want["vcpus"], want["ram"], want["disk"]):
                keep = f
            else:
                conn.compute.delete_flavor(f)
                log(f"deleted flavor {f.id} ({f.vcpus} vCPU, {f.ram} MB, {f.disk} GB)")
        if keep is None:
            conn.compute.create_flavor(is_public=True, **want)
            log(f"created flavor {want['name']}")
    log("flavors " + " ".join(f["name"] for f in FLAVORS), t0)


def tempest_ids(conn):
    """The ids of the objects a tempest.conf names, printed as KEY=VALUE lines."""
    flavors(conn)
    ids = {}
    by_name = {f.name: f.id for f in conn.compute.flavors(is_public=None)}
    ids["FLAVOR_REF"], ids["FLAVOR_REF_ALT"] = by_name.get("tiny"), by_name.get("tiny-alt")
    for key, name in (("IMAGE_REF", "tiny"), ("IMAGE_REF_ALT", "tiny-qcow2")):
        found = [i for i in conn.image.images(name=name) if i.status == "active"]
        ids[key] = found[0].id if found else None
    net = conn.network.find_network("public")
    ids["PUBLIC_NETWORK_ID"] = net.id if net else None
    missing = [k for k, v in ids.items() if not v]
    if missing:
        sys.exit(f"ensure: no {', '.join(missing)} in the cloud: run rig.sh start")
    for k, v in ids.items():
        print(f"{k}={v}")


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


# name, network attributes, subnet attributes. The DNS server is an address inside each subnet: without one,
# OVN's DHCP hands guests the host's resolver (Neutron notes). The physnet and the addresses match network.sh.
NETWORKS = (
    ("private",
     dict(provider_network_type="geneve", is_shared=True),
     dict(name="private-subnet", ip_version=4, cidr="10.0.0.0/24", gateway_ip="10.0.0.1", is_dhcp_enabled=True,
          dns_nameservers=["10.0.0.1"])),
    ("public",
     dict(provider_network_type="flat", provider_physical_network="public", is_shared=True,
          is_router_external=True),
     # 172.24.4.1 is br-ex's address in the host's namespace.
     dict(name="public-subnet", ip_version=4, cidr="172.24.4.0/24", gateway_ip="172.24.4.1", is_dhcp_enabled=True,
          dns_nameservers=["172.24.4.1"], allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}])),
)
# Ingress rules of the admin project's default group (the project `rig.sh exec openstack` works in).
SG_RULES = (
    dict(protocol="icmp", port_range_min=None, port_range_max=None),
    dict(protocol="tcp", port_range_min=22, port_range_max=22),
)


def networks(conn):
    t0 = time.monotonic()
    for name, net_attrs, sub_attrs in NETWORKS:
        found = list(conn.network.networks(name=name))
        net = None
        for n in found:
            if net is None and n.provider_network_type == net_attrs["provider_network_type"] and \
                    n.provider_physical_network == net_attrs.get("provider_physical_network"):
                net = n
            else:
                for p in conn.network.ports(network_id=n.id):
                    if not p.device_owner.startswith("network:"):
                        sys.exit(f"ensure: network {name} {n.id} is not as the rig makes it and has port {p.id} "
                                 f"({p.device_owner or 'no owner'}): delete it by hand")
                conn.network.delete_network(n)
                log(f"deleted network {name} {n.id} ({n.provider_network_type})")
        if net is None:
            net = conn.network.create_network(name=name, **net_attrs)
            log(f"created network {name} ({net_attrs['provider_network_type']})")
        else:
            fix = {k: v for k, v in net_attrs.items() if not k.startswith("provider_") and getattr(net, k) != v}
            if fix:
                conn.network.update_network(net, **fix)
                log(f"repaired network {name}: {', '.join(fix)}")
        subs = list(conn.network.subnets(network_id=net.id))
        sub = None
        for sn in subs:
            if sub is None and sn.cidr == sub_attrs["cidr"]:
                sub = sn
            else:
                conn.network.delete_subnet(sn)
                log(f"deleted subnet {sn.cidr} of {name}")
        if sub is None:
            conn.network.create_subnet(network_id=net.id, **sub_attrs)
            log(f"created subnet {sub_attrs['cidr']} of {name}")
        else:
            fix = {k: v for k, v in sub_attrs.items() if k not in ("ip_version", "cidr") and getattr(sub, k) != v}
            if fix:
                conn.network.update_subnet(sub, **fix)
                log(f"repaired subnet of {name}: {', '.join(fix)}")
    log("networks private and public", t0)

    t0 = time.monotonic()
    project = conn.identity.find_project("admin", domain_id="default")
    groups = list(conn.network.security_groups(name="default", project_id=project.id))
    if not groups:
        # Neutron makes a project's default group when the project first needs one.
        conn.network.create_port(network_id=conn.network.find_network("private").id, name="rig-sg-probe")
        for p in conn.network.ports(name="rig-sg-probe"):
            conn.network.delete_port(p)
        groups = list(conn.network.security_groups(name="default", project_id=project.id))
    if len(groups) != 1:
        sys.exit(f"ensure: project admin has {len(groups)} security groups named default")
    sg = groups[0]
    have = {(r.direction, r.ether_type, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
            for r in conn.network.security_group_rules(security_group_id=sg.id)}
    for rule in SG_RULES:
        key = ("ingress", "IPv4", rule["protocol"], rule["port_range_min"], rule["port_range_max"], "0.0.0.0/0")
        if key not in have:
            conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", ether_type="IPv4",
                                                    remote_ip_prefix="0.0.0.0/0", **rule)
            log(f"allowed {rule['protocol']} in the admin project's default group")
    log("security group rules", t0)


OVN_AGENTS = ("OVN Controller agent", "OVN Controller Gateway agent")


def chassis(conn, host, timeout=60):
    """Waits for HOST's ovn-controller and metadata agents alive; deletes other hosts' dead agents."""
    t0 = time.monotonic()
    while True:
        agents = list(conn.network.agents())
        for a in agents:
            # Dead only: Neutron's agent cache may still show the live chassis under its previous hostname.
            if a.host != host and not a.is_alive:
                conn.network.delete_agent(a)
                log(f"deleted dead agent {a.agent_type} of {a.host}")
        mine = {a.agent_type for a in agents if a.host == host and a.is_alive}
        if mine & set(OVN_AGENTS) and "OVN Metadata agent" in mine:
            log(f"chassis {host}: {', '.join(sorted(mine))} alive", t0)
            return
        if time.monotonic() - t0 > timeout:
            seen = ", ".join(f"{a.agent_type} on {a.host} ({'alive' if a.is_alive else 'dead'})" for a in agents)
            sys.exit(f"ensure: chassis {host}: no live OVN controller and metadata agents after {timeout}s; "
                     f"agents: {seen or 'none'} (see ovn-controller.log / neutron-ovn-metadata-agent.log)")
        time.sleep(0.5)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("identity", "resources", "chassis", "tempest"):
        sys.exit(__doc__)
    conn = openstack.connect()
    if sys.argv[1] == "identity":
        identity(conn)
    elif sys.argv[1] == "chassis":
        if len(sys.argv) != 3:
            sys.exit(__doc__)
        chassis(conn, sys.argv[2])
    elif sys.argv[1] == "tempest":
        tempest_ids(conn)
    else:
        if len(sys.argv) != 3:
            sys.exit(__doc__)
        wait_rpc_services(conn)
        flavors(conn)
        images(conn, sys.argv[2])
        networks(conn)


if __name__ == "__main__":
    main()
