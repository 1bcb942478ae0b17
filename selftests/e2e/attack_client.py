#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Clients for selftests/e2e/test_attacks.py, run under setpriv as a chosen uid.

    attack_client.py STUBDIR SOCKET latency N        N FetchJWTSVID calls, timed
    attack_client.py STUBDIR SOCKET flood N SECONDS  N hostile connections held
    attack_client.py STUBDIR SOCKET stream SECONDS   a FetchX509SVID stream that
                                                     reconnects when it ends
Each prints one JSON line last.
"""
import json
import os
import resource
import socket
import sys
import threading
import time

stubs, sock, mode = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, stubs)
MD = [("workload.spiffe.io", "true")]


def stub():
    import grpc
    import workload_pb2_grpc as wg
    return wg.SpiffeWorkloadAPIStub(grpc.insecure_channel("unix:" + sock))


def latency(n):
    import grpc
    import workload_pb2 as w
    api = stub()
    lat, codes = [], {}
    for _ in range(n):
        t = time.perf_counter()
        try:
            api.FetchJWTSVID(w.JWTSVIDRequest(audience=["lat"]), metadata=MD, timeout=10)
            c = "OK"
        except grpc.RpcError as e:
            c = e.code().name
        lat.append((time.perf_counter() - t) * 1e6)
        codes[c] = codes.get(c, 0) + 1
    print(json.dumps({"us": lat, "codes": codes}))


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2frame(typ, flags, sid, payload=b""):
    n = len(payload)
    return bytes([n >> 16 & 255, n >> 8 & 255, n & 255, typ, flags]) + sid.to_bytes(4, "big") + payload


def hpack(headers):
    out = b""
    for k, v in headers:
        out += b"\x00" + bytes([len(k)]) + k.encode() + bytes([len(v)]) + v.encode()
    return out


def flood(n, secs):
    """n connections of kinds that each misbehave; held open for secs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    conns, kinds, failed = [], {}, 0
    req_hdr = hpack([(":method", "POST"), (":scheme", "http"),
                     (":path", "/SpiffeWorkloadAPI/FetchX509SVID"), (":authority", "x"),
                     ("content-type", "application/grpc"), ("te", "trailers"),
                     ("workload.spiffe.io", "true")])
    for i in range(n):
        kind = ["idle", "garbage", "http1", "bigframe", "bigmsg", "slowreader", "halfpreface"][i % 7]
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if kind == "slowreader":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setblocking(True)
            s.settimeout(2)
            s.connect(sock)
            s.setblocking(False)
            if kind == "garbage":
                s.send(os.urandom(512))
            elif kind == "http1":
                s.send(b"GET /SpiffeWorkloadAPI/FetchX509SVID HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 99999999\r\n\r\n")
            elif kind == "bigframe":
                # a DATA frame header claiming 16 MiB, far over SETTINGS_MAX_FRAME_SIZE
                s.send(PREFACE + h2frame(4, 0, 0) + h2frame(1, 4, 1, req_hdr)
                       + bytes([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]) + b"x" * 1024)
            elif kind == "bigmsg":
                # a gRPC message prefix claiming 4 GiB
                s.send(PREFACE + h2frame(4, 0, 0) + h2frame(1, 4, 1, req_hdr)
                       + h2frame(0, 0, 1, b"\x00\xff\xff\xff\xff" + b"y" * 1000))
            elif kind == "slowreader":
                # a stream that is answered, and never read
                s.send(PREFACE + h2frame(4, 0, 0) + h2frame(1, 4, 1, req_hdr)
                       + h2frame(0, 1, 1, b"\x00\x00\x00\x00\x00"))
            elif kind == "halfpreface":
                s.send(PREFACE[:10])
            conns.append(s)
            kinds[kind] = kinds.get(kind, 0) + 1
        except OSError:
            failed += 1
    print(json.dumps({"ready": len(conns)}), flush=True)
    time.sleep(secs)
    closed = 0
    for s in conns:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(json.dumps({"opened": len(conns), "failed": failed, "kinds": kinds,
                      "closed_by_server": closed}))


def stream(secs):
    """FetchX509SVID; on its end, reconnect (backoff 50 ms) until secs pass."""
    import grpc
    import workload_pb2 as w
    events, reconnects = [], 0
    end = time.time() + secs
    while time.time() < end:
        api = stub()
        try:
            for m in api.FetchX509SVID(w.X509SVIDRequest(), metadata=MD,
                                       timeout=max(1, end - time.time())):
                events.append({"t": time.time(), "ids": [s.spiffe_id for s in m.svids],
                               "bundle": m.svids[0].bundle.hex()[:64] if m.svids else ""})
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                break
            events.append({"t": time.time(), "status": e.code().name})
        reconnects += 1
        time.sleep(0.05)
    print(json.dumps({"events": events, "reconnects": reconnects}))


if mode == "latency":
    latency(int(sys.argv[4]))
elif mode == "flood":
    flood(int(sys.argv[4]), float(sys.argv[5]))
elif mode == "stream":
    stream(float(sys.argv[4]))
