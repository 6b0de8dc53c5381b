"""Python oslo.messaging peer for rpc/ interop tests and benchmarks.

Run with the system python3 that has oslo.messaging (bookworm 14.0.3, or 18.3 inside the forky root):

  peer.py server URL EXCHANGE TOPIC SERVER   serve until stdin closes; prints READY, then one
                                             "CAST <json>" line per received `record` cast
  peer.py client URL EXCHANGE TOPIC SERVER   exercise a server on TOPIC/SERVER; prints one JSON line of results
  peer.py bench  URL EXCHANGE TOPIC SERVER   like server, with only the trivial `noop` method (quiet)
"""
import json
import os
import sys
import threading
import time
import warnings

warnings.simplefilter("ignore")
if os.environ.get("PEER_DEBUG"):
    import logging
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

from oslo_config import cfg  # noqa: E402
import oslo_messaging  # noqa: E402

CTX = {"request_id": "req-6b1b4ea0-1111-4222-8333-944455556666", "global_request_id": None,
       "user_id": "u-123", "project_id": "p-456", "roles": ["admin", "member"], "is_admin": True,
       "auth_token": "tok-abc", "read_deleted": "no", "timestamp": "2026-01-02T03:04:05.123456",
       "service_catalog": [], "tracing_extra": {"k": "v"}}


class InstanceNotFound(Exception):
    """Raised by the server's fail method; serialized as nova.exception.InstanceNotFound."""
    __module__ = "nova.exception"

    def __init__(self, message=None, **kwargs):
        self.kwargs = dict(kwargs)
        self.kwargs.setdefault("code", 404)
        message = message or "Instance %s could not be found." % kwargs.get("instance_id")
        super().__init__(message)


class Endpoint:
    target = oslo_messaging.Target(version="1.3")

    def __init__(self, out_lock):
        self.out_lock = out_lock

    def echo(self, ctxt, **kwargs):
        return {"args": kwargs, "ctx": {k: ctxt.get(k) for k in
                                        ("request_id", "user_id", "project_id", "roles", "is_admin",
                                         "auth_token", "tracing_extra")}}

    def fail(self, ctxt, kind, message):
        if kind == "nova":
            raise InstanceNotFound(instance_id=message)
        if kind == "value":
            raise ValueError(message)
        raise RuntimeError(message)

    def size(self, ctxt, data):
        return len(data)

    def record(self, ctxt, **kwargs):
        with self.out_lock:
            sys.stdout.write("CAST " + json.dumps(kwargs) + "\n")
            sys.stdout.flush()

    def sleep(self, ctxt, seconds):
        time.sleep(seconds)
        return seconds


class BenchEndpoint:
    target = oslo_messaging.Target(version="1.0")

    def __init__(self):
        self.lock = threading.Lock()
        self.casts = 0

    def noop(self, ctxt, **kwargs):
        return kwargs.get("i")

    def count(self, ctxt, **kwargs):
        with self.lock:
            self.casts += 1

    def counted(self, ctxt):
        with self.lock:
            return self.casts


def transport(url, exchange):
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.CONF
    conf([], project="interop", default_config_files=[], default_config_dirs=[])
    return conf, oslo_messaging.get_rpc_transport(conf, url=url)


def serve(url, exchange, topic, server, bench):
    conf, tr = transport(url, exchange)
    lock = threading.Lock()
    eps = [BenchEndpoint()] if bench else [Endpoint(lock)]
    srv = oslo_messaging.get_rpc_server(tr, oslo_messaging.Target(topic=topic, server=server), eps,
                                        executor="threading")
    srv.start()
    with lock:
        sys.stdout.write("READY %s\n" % oslo_messaging.__dict__.get("__version__", ""))
        sys.stdout.flush()
    sys.stdin.read()  # the Go test closes stdin to stop us
    srv.stop()
    srv.wait()
    tr.cleanup()


def rpc_client(tr, target, **kw):
    get = getattr(oslo_messaging, "get_rpc_client", None)
    if get is not None:
        return get(tr, target, **kw)
    return oslo_messaging.RPCClient(tr, target, **kw)


def describe(e):
    d = {"type": type(e).__name__, "module": type(e).__module__, "str": str(e)}
    if isinstance(e, oslo_messaging.RemoteError):
        d["exc_type"] = e.exc_type
        d["value"] = e.value
    return d


def client(url, exchange, topic, server):
    conf, tr = transport(url, exchange)
    c = rpc_client(tr, oslo_messaging.Target(topic=topic, version="1.2"), timeout=30)
    res = {}

    def attempt(name, fn):
        try:
            res[name] = {"ok": fn()}
        except Exception as e:  # noqa: BLE001 - reported to the Go test
            res[name] = {"error": describe(e)}

    attempt("call_topic", lambda: c.call(CTX, "echo", x=1, s="héllo"))
    attempt("call_server", lambda: c.prepare(server=server).call(CTX, "echo", x=2))
    attempt("cast_topic", lambda: c.cast(CTX, "record", n="topic"))
    attempt("cast_server", lambda: c.prepare(server=server).cast(CTX, "record", n="server"))
    attempt("fanout", lambda: c.prepare(fanout=True).cast(CTX, "record", n="fanout"))
    attempt("error_nova", lambda: c.call(CTX, "fail", kind="nova", message="inst-1"))
    attempt("error_value", lambda: c.call(CTX, "fail", kind="value", message="bad value"))
    attempt("no_such_method", lambda: c.call(CTX, "nope"))
    attempt("bad_version", lambda: c.prepare(version="2.0").call(CTX, "echo"))
    attempt("big", lambda: c.call(CTX, "size", data="x" * (1 << 20)))
    attempt("ping", lambda: c.prepare(version="1.0").call(CTX, "oslo_rpc_server_ping"))

    out = [None] * 200
    errs = []

    def one(i):
        try:
            out[i] = c.call(CTX, "echo", i=i)["args"]["i"]
        except Exception as e:  # noqa: BLE001
            errs.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res["concurrent"] = {"ok": {"results": out, "errors": errs[:5], "seconds": time.time() - t0}}
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    tr.cleanup()


def main():
    mode, url, exchange, topic, server = sys.argv[1:6]
    if mode == "server":
        serve(url, exchange, topic, server, False)
    elif mode == "bench":
        serve(url, exchange, topic, server, True)
    elif mode == "client":
        client(url, exchange, topic, server)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
