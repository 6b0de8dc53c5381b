"""Drives one compute host's RPC methods the way nova-api does, for devstack/bench/rpc.sh.

Run inside the rig's root (its python3 has oslo.messaging 18.3 and nova):

  chroot ROOT /usr/bin/python3 - URL HOST METHOD CONCURRENCY CALLS PROCS < rpc_client.py

METHOD is get_host_uptime (compute topic, server HOST, version 6.0, as nova.compute.rpcapi.ComputeAPI sends it
to a 2026.1 compute) or ping (namespace baseapi 1.1, nova.baserpc.BaseAPI.ping). Contexts go through nova's own
serializer (RequestContextSerializer over NovaObjectSerializer), as the API's calls do. CONCURRENCY calls are in
flight at once, from PROCS processes (each with its own broker connection and reply queue, as nova-api's
workers have) of CONCURRENCY/PROCS threads; after one unmeasured call per thread, the threads share CALLS
calls. Prints one JSON line: calls, errors, seconds, calls_per_s, p50_ms, p99_ms, sample (one answer).
"""
import json
import multiprocessing
import sys
import threading
import time
import warnings

warnings.simplefilter("ignore")

from oslo_config import cfg  # noqa: E402
import oslo_messaging  # noqa: E402

from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova import rpc as nova_rpc  # noqa: E402
from nova.objects import base as objects_base  # noqa: E402

objects.register_all()


def client(url, host, method):
    oslo_messaging.set_transport_defaults(control_exchange="nova")
    conf = cfg.CONF  # oslo.messaging registers its tracing options on the global one
    conf([], project="nova-bench", default_config_files=[], default_config_dirs=[])
    tr = oslo_messaging.get_rpc_transport(conf, url=url)
    ser = nova_rpc.RequestContextSerializer(objects_base.NovaObjectSerializer())
    if method == "ping":
        target = oslo_messaging.Target(topic="compute", server=host, namespace="baseapi", version="1.1")
        kwargs = {"arg": "bench"}
    else:
        target = oslo_messaging.Target(topic="compute", server=host, version="6.0")
        kwargs = {}
    c = oslo_messaging.get_rpc_client(tr, target, serializer=ser).prepare(timeout=60)
    return tr, lambda ctxt: c.call(ctxt, method, **kwargs)


def worker(url, host, method, threads, counter, warm, lock, start, out):
    """One process: its threads call until the shared counter runs out; sends (latencies, errors, sample)."""
    tr, call = client(url, host, method)
    ctxt = nova_context.get_admin_context()
    sample = call(ctxt)  # warm-up (connection, reply queue), not measured
    lat, errors = [], []

    def run():
        call(ctxt)  # each thread's first call, not measured
        with lock:
            warm.value += 1
        start.wait()
        mine = []
        while True:
            with lock:
                if counter.value <= 0:
                    break
                counter.value -= 1
            t0 = time.perf_counter()
            try:
                call(ctxt)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append("%s: %s" % (type(e).__name__, e))
            mine.append(time.perf_counter() - t0)
        lat.extend(mine)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.send((lat, errors[:3], len(errors), sample))
    out.close()
    tr.cleanup()


def main():
    url, host, method = sys.argv[1], sys.argv[2], sys.argv[3]
    conc, calls, procs = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    procs = max(1, min(procs, conc))
    ctx = multiprocessing.get_context("fork")
    counter, warm = ctx.Value("l", calls, lock=False), ctx.Value("l", 0, lock=False)
    lock, start = ctx.Lock(), ctx.Event()
    pipes, ps = [], []
    for i in range(procs):
        threads = conc // procs + (1 if i < conc % procs else 0)
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=worker, args=(url, host, method, threads, counter, warm, lock, start, w))
        p.start()
        pipes.append(r)
        ps.append(p)
    # The measured interval starts when every thread has made its warm-up call and all are released together.
    deadline = time.monotonic() + 120
    while warm.value < conc:
        if time.monotonic() > deadline or not all(p.is_alive() for p in ps):
            sys.exit("rpc_client: the warm-up calls did not complete")
        time.sleep(0.01)
    t0 = time.perf_counter()
    start.set()
    results = [r.recv() for r in pipes]
    elapsed = time.perf_counter() - t0
    for p in ps:
        p.join()
    lat = sorted(x for res in results for x in res[0])
    nerr = sum(res[2] for res in results)
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000 if lat else 0.0  # noqa: E731
    print(json.dumps({"calls": len(lat), "errors": nerr, "error_sample": [e for res in results for e in res[1]][:3],
                      "seconds": elapsed, "calls_per_s": len(lat) / elapsed, "p50_ms": q(0.50), "p99_ms": q(0.99),
                      "sample": results[0][3]}))


if __name__ == "__main__":
    main()
