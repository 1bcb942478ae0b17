#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A workload for test_workload.py, run under setpriv with a chosen uid.

    wl_worker.py STUBS SOCKET fetch [AUDIENCE]
        Every Workload API call as this process; prints one JSON object with
        what came back (DER and tokens hex/base64 encoded) and each status.
        Retries UNAVAILABLE for a few seconds (attestation may be under way).
    wl_worker.py STUBS SOCKET handoff RELAY
        connect()s to SOCKET itself, so that attestd takes this process as the
        caller, hands the connected fd to RELAY (SCM_RIGHTS), prints "ready",
        then waits for a line: "exec" execs /bin/sleep (a binary no entry
        matches), "exit" exits.
    wl_worker.py STUBS SOCKET hostile NCONN SECONDS
        Garbage bytes; then a flood of FetchJWTSVID calls from 8 threads for
        SECONDS, during which NCONN more connections are opened and held idle;
        prints a JSON summary.

The client is python3-grpcio with stubs that test_workload.py generated from
proto/workload.proto with grpc_tools.protoc: not attestd's own code.
"""
import json
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import workload_pb2 as w  # noqa: E402
import workload_pb2_grpc as wg  # noqa: E402

SOCK = sys.argv[2]
MD = [("workload.spiffe.io", "true")]


def stub():
    return wg.SpiffeWorkloadAPIStub(grpc.insecure_channel("unix:" + SOCK))


def code(e):
    return e.code().name


def retry(fn, seconds=5.0):
    """fn() until it stops answering UNAVAILABLE."""
    end = time.time() + seconds
    while True:
        try:
            return fn()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or time.time() > end:
                raise
            time.sleep(0.05)


def first(stream):
    for m in stream:
        stream.cancel()
        return m
    return None


def fetch(audience):
    s = stub()
    out = {"pid": os.getpid(), "uid": os.geteuid()}
    try:
        m = retry(lambda: first(s.FetchX509SVID(w.X509SVIDRequest(), metadata=MD, timeout=10)))
        out["x509"] = [{"spiffe_id": x.spiffe_id, "hint": x.hint, "chain": x.x509_svid.hex(),
                        "key": x.x509_svid_key.hex(), "bundle": x.bundle.hex()} for x in m.svids]
        out["federated"] = sorted(m.federated_bundles.keys())
        out["x509_status"] = "OK"
    except grpc.RpcError as e:
        out["x509_status"] = code(e)
        out["x509_message"] = e.details()
    try:
        m = retry(lambda: s.FetchJWTSVID(w.JWTSVIDRequest(audience=[audience]), metadata=MD,
                                         timeout=10))
        out["jwt"] = [{"spiffe_id": j.spiffe_id, "token": j.svid} for j in m.svids]
        out["jwt_status"] = "OK"
        v = s.ValidateJWTSVID(w.ValidateJWTSVIDRequest(audience=audience, svid=m.svids[0].svid),
                              metadata=MD, timeout=10)
        out["validate"] = {"spiffe_id": v.spiffe_id, "claims": dict(v.claims)}
        out["validate_status"] = "OK"
        try:
            s.ValidateJWTSVID(w.ValidateJWTSVIDRequest(audience="not-" + audience,
                                                       svid=m.svids[0].svid),
                              metadata=MD, timeout=10)
            out["validate_wrong_audience"] = "OK"
        except grpc.RpcError as e:
            out["validate_wrong_audience"] = code(e)
    except grpc.RpcError as e:
        out["jwt_status"] = code(e)
    try:
        m = retry(lambda: first(s.FetchX509Bundles(w.X509BundlesRequest(), metadata=MD,
                                                   timeout=10)))
        out["x509_bundles"] = {k: v.hex() for k, v in m.bundles.items()}
    except grpc.RpcError as e:
        out["x509_bundles_status"] = code(e)
    try:
        m = retry(lambda: first(s.FetchJWTBundles(w.JWTBundlesRequest(), metadata=MD,
                                                  timeout=10)))
        out["jwt_bundles"] = {k: json.loads(v) for k, v in m.bundles.items()}
    except grpc.RpcError as e:
        out["jwt_bundles_status"] = code(e)
    print(json.dumps(out), flush=True)


def handoff(relay):
    api = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    api.connect(SOCK)
    h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    h.connect(relay)
    socket.send_fds(h, [b"x"], [api.fileno()])
    h.close()
    print("ready", flush=True)
    line = sys.stdin.readline().strip()
    if line == "exec":
        os.execv("/bin/sleep", ["sleep", "30"])
    os._exit(0)


def hostile(nconn, seconds):
    out = {}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, nconn + 256), hard))
    # Garbage where an HTTP/2 preface belongs, and a preface followed by garbage.
    for junk in (os.urandom(4096), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(4096)):
        g = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        g.connect(SOCK)
        try:
            g.sendall(junk)
            g.settimeout(2)
            g.recv(65536)
        except OSError:
            pass
        g.close()
    counts = {}
    lock = threading.Lock()
    end = time.time() + seconds
    started = threading.Barrier(9)

    def flood():
        s = stub()
        first = True
        while time.time() < end:
            try:
                s.FetchJWTSVID(w.JWTSVIDRequest(audience=["flood"]), metadata=MD, timeout=10)
                k = "OK"
            except grpc.RpcError as e:
                k = code(e)
            with lock:
                counts[k] = counts.get(k, 0) + 1
            if first:
                first = False
                started.wait()

    # The flood's channels first, inside the connection limit; then the pile of idle ones.
    ts = [threading.Thread(target=flood) for _ in range(8)]
    for t in ts:
        t.start()
    started.wait()
    held, refused = [], 0
    for _ in range(nconn):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(SOCK)
            held.append(c)
        except OSError:
            refused += 1
            c.close()
    out["connections_held"] = len(held)
    out["connect_refused"] = refused
    for t in ts:
        t.join()
    closed = 0
    for c in held:
        c.setblocking(False)
        try:
            if c.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        c.close()
    out["closed_by_server"] = closed
    out["flood"] = counts
    print(json.dumps(out), flush=True)


def main():
    mode = sys.argv[3]
    if mode == "fetch":
        fetch(sys.argv[4] if len(sys.argv) > 4 else "e2e")
    elif mode == "handoff":
        handoff(sys.argv[4])
    elif mode == "hostile":
        hostile(int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
