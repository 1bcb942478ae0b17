#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""attestd's SPIFFE Workload API end to end, with a client that is not ours.

python3-grpcio with stubs generated at test time from proto/workload.proto
by grpc_tools.protoc; workloads are python processes run under setpriv with
chosen uids (wl_worker.py), identified by attestd from the kernel.  Checks:
every RPC, the security header, PERMISSION_DENIED without an entry, two
uids each with their own SVID and never the other's, SVIDs checked with
python3-cryptography (check_x509svid.py) and JWT-SVIDs verified against the
JWKS, an open stream that gets a renewed SVID and then PERMISSION_DENIED
when its process execs a binary the entry does not match (or exits), and a
hostile client (garbage, a huge message, thousands of connections, a call
flood) that neither crashes attestd nor slows another uid's calls.  Prints
TAP; exits non-zero if a check failed.  Needs root and BPF.

Run with /usr/bin/python3 (Debian's, which has grpcio and cryptography).
"""
import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("BUILD", "build")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ATTESTD = os.path.join(TOP, BUILD, "attestd")
CTL = os.path.join(TOP, BUILD, "attestctl")
HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "wl_worker.py")
CHECKER = os.path.join(HERE, "check_x509svid.py")
PY = "/usr/bin/python3"
TD = "example.org"

UID_A, UID_B, UID_C, UID_NONE, UID_H = 4301, 4302, 4303, 4304, 4305
SID = {UID_A: "spiffe://example.org/e2e/a", UID_B: "spiffe://example.org/e2e/b",
       UID_C: "spiffe://example.org/e2e/c", UID_H: "spiffe://example.org/e2e/h"}
SVID_TTL = 4  # --x509-svid-max-ttl: renewed every 2 s
HOSTILE_CONNS = 3000
PER_UID_CONNS = 256

n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {name}", flush=True)
    else:
        failed += 1
        print(f"not ok {n} - {name}", flush=True)
        for line in str(detail).splitlines()[:30]:
            print(f"# {line}", flush=True)
    return cond


def skip(name, why):
    global n
    n += 1
    print(f"ok {n} - {name} # SKIP {why}", flush=True)


def diag(msg):
    print(f"# {msg}", flush=True)


def skip_all(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(0)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Daemon:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "api.sock")
        self.admin = os.path.join(tmp, "admin.sock")
        self.log = open(os.path.join(tmp, "attestd.log"), "w+")
        self.proc = subprocess.Popen(
            [ATTESTD, "--data-dir", os.path.join(tmp, "data"), "--socket", self.sock,
             "--admin-socket", self.admin, "--x509-svid-max-ttl", str(SVID_TTL),
             "--max-connections-per-uid", str(PER_UID_CONNS)],
            stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 20
        while time.time() < end and self.proc.poll() is None:
            if os.path.exists(self.sock) and os.path.exists(self.admin):
                return
            time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def tail(self, lines=30):
        self.log.flush()
        self.log.seek(0)
        return "".join(self.log.readlines()[-lines:])


def worker_path(tmp):
    """The worker, copied where the test uids can read it (the checkout may be 0700)."""
    return os.path.join(tmp, "wl_worker.py")


def as_uid(uid, args, **kw):
    return [shutil.which("setpriv"), "--reuid", str(uid), "--regid", str(uid),
            "--clear-groups", "--"] + args


def run_worker(tmp, d, uid, *args, timeout=30):
    p = subprocess.run(as_uid(uid, [PY, worker_path(tmp), tmp, d.sock] + list(args)),
                       capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": p.stdout + p.stderr}


def der_certs(hexstr):
    from cryptography import x509
    data = bytes.fromhex(hexstr)
    out = []
    while data:
        # DER SEQUENCE: tag 0x30, then a length
        ln = data[1]
        if ln & 0x80:
            nb = ln & 0x7f
            ln = int.from_bytes(data[2:2 + nb], "big")
            hdr = 2 + nb
        else:
            hdr = 2
        out.append(x509.load_der_x509_certificate(data[:hdr + ln]))
        data = data[hdr + ln:]
    return out


def check_svid(tmp, svid, want):
    """check_x509svid.py on one X509SVID message (DER chain, PKCS#8 DER key, DER bundle)."""
    from cryptography.hazmat.primitives import serialization
    d = tempfile.mkdtemp(dir=tmp)
    pem = lambda cs: b"".join(c.public_bytes(serialization.Encoding.PEM) for c in cs)
    with open(os.path.join(d, "chain.pem"), "wb") as f:
        f.write(pem(der_certs(svid["chain"])))
    with open(os.path.join(d, "key.der"), "wb") as f:
        f.write(bytes.fromhex(svid["key"]))
    with open(os.path.join(d, "bundle.pem"), "wb") as f:
        f.write(pem(der_certs(svid["bundle"])))
    p = subprocess.run([PY, CHECKER, "--chain", os.path.join(d, "chain.pem"), "--key",
                        os.path.join(d, "key.der"), "--bundle", os.path.join(d, "bundle.pem"),
                        "--spiffe-id", want, "--trust-domain", TD],
                       capture_output=True, text=True)
    return p.returncode == 0, p.stdout + p.stderr


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_verifies(token, jwks, want_sub, want_aud):
    """ES256 signature against the JWKS key with the token's kid; sub and aud."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    h, c, s = token.split(".")
    hdr, claims = json.loads(b64url(h)), json.loads(b64url(c))
    key = [k for k in jwks["keys"] if k.get("kid") == hdr.get("kid")]
    if hdr.get("alg") != "ES256" or len(key) != 1:
        return False, f"header {hdr}"
    k = key[0]
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url(k["x"]), "big"),
                                        int.from_bytes(b64url(k["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    sig = b64url(s)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, (h + "." + c).encode(), ec.ECDSA(hashes.SHA256()))
    except Exception as e:  # noqa: BLE001
        return False, f"signature: {e!r}"
    aud = claims.get("aud")
    aud = aud if isinstance(aud, list) else [aud]
    good = claims.get("sub") == want_sub and want_aud in aud and claims.get("exp", 0) > time.time()
    return good, json.dumps(claims)


def entry_create(d, uid, selectors):
    args = [CTL, "--admin-socket", d.admin, "entry", "create", "--spiffe-id", SID[uid], "--json"]
    for s in selectors:
        args += ["--selector", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return p.returncode == 0, p.stdout + p.stderr


class Relay:
    """Hands a connection that a workload connect()ed to a gRPC client in this process.

    attestd takes the process that called connect() as the caller of every
    call on that connection.  The workload (wl_worker.py handoff) connects,
    passes the fd here and can then exec or exit while our python-grpc
    client, through a byte pump on a local socket, keeps talking on it.
    """

    def __init__(self, tmp, name):
        self.handoff_path = os.path.join(tmp, name + ".handoff")
        self.front_path = os.path.join(tmp, name + ".front")
        self.hl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.hl.bind(self.handoff_path)
        os.chmod(self.handoff_path, 0o777)
        self.hl.listen(1)
        self.fl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.fl.bind(self.front_path)
        self.fl.listen(1)
        self.back = None

    def receive(self, timeout=10):
        self.hl.settimeout(timeout)
        c, _ = self.hl.accept()
        _, fds, _, _ = socket.recv_fds(c, 16, 1)
        c.close()
        self.back = socket.socket(fileno=fds[0])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        front, _ = self.fl.accept()

        def pump(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(front, self.back), daemon=True).start()
        threading.Thread(target=pump, args=(self.back, front), daemon=True).start()

    def target(self):
        return "unix:" + self.front_path


def main():
    if os.geteuid() != 0:
        skip_all("needs root")
    for f in (ATTESTD, CTL):
        if not os.access(f, os.X_OK):
            skip_all(f"{f} not built")
    if not shutil.which("setpriv"):
        skip_all("no setpriv")
    try:
        import grpc  # noqa: F401
        import grpc_tools  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as e:
        skip_all(f"needs python3-grpcio, python3-grpc-tools, python3-cryptography: {e}")

    tmp = tempfile.mkdtemp(prefix="attestd-e2e-wl.")
    os.chmod(tmp, 0o755)
    d = None
    children = []
    try:
        d = body(tmp, children)
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
        if d:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{n}")
    sys.exit(1 if failed else 0)


def body(tmp, children):
    import grpc
    # ---- stubs from our .proto, by the reference compiler ----
    gen = subprocess.run([PY, "-m", "grpc_tools.protoc", "-I", os.path.join(TOP, "proto"),
                          "--python_out", tmp, "--grpc_python_out", tmp,
                          os.path.join(TOP, "proto", "workload.proto"),
                          os.path.join(TOP, "proto", "struct.proto")],
                         capture_output=True, text=True)
    if not ok(gen.returncode == 0, "python stubs generated from proto/workload.proto",
              gen.stderr):
        return None
    shutil.copy(WORKER, worker_path(tmp))
    os.chmod(worker_path(tmp), 0o755)
    sys.path.insert(0, tmp)
    import workload_pb2 as w
    import workload_pb2_grpc as wg
    md = [("workload.spiffe.io", "true")]

    d = Daemon(tmp)
    if not ok(d.alive() and os.path.exists(d.sock), "attestd serves the Workload API socket",
              d.tail()):
        return d
    mode = stat.S_IMODE(os.stat(d.sock).st_mode)
    ok(mode == 0o666, "socket mode is 0666", oct(mode))

    api = wg.SpiffeWorkloadAPIStub(grpc.insecure_channel("unix:" + d.sock))

    # ---- the security header, unimplemented profile ----
    calls = {
        "FetchX509SVID": lambda m: list(api.FetchX509SVID(w.X509SVIDRequest(), metadata=m,
                                                          timeout=5)),
        "FetchX509Bundles": lambda m: list(api.FetchX509Bundles(w.X509BundlesRequest(),
                                                                metadata=m, timeout=5)),
        "FetchJWTSVID": lambda m: api.FetchJWTSVID(w.JWTSVIDRequest(audience=["x"]), metadata=m,
                                                   timeout=5),
        "FetchJWTBundles": lambda m: list(api.FetchJWTBundles(w.JWTBundlesRequest(), metadata=m,
                                                              timeout=5)),
        "ValidateJWTSVID": lambda m: api.ValidateJWTSVID(
            w.ValidateJWTSVIDRequest(audience="x", svid="a.b.c"), metadata=m, timeout=5),
        "FetchWITSVID": lambda m: list(api.FetchWITSVID(w.WITSVIDRequest(), metadata=m,
                                                        timeout=5)),
        "FetchWITBundles": lambda m: list(api.FetchWITBundles(w.WITBundlesRequest(), metadata=m,
                                                              timeout=5)),
    }

    def status(fn, m):
        try:
            fn(m)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name

    got = {k: status(fn, []) for k, fn in calls.items()}
    ok(all(v == "INVALID_ARGUMENT" for v in got.values()),
       "every RPC without workload.spiffe.io: true is INVALID_ARGUMENT", got)
    got = {k: status(calls[k], md) for k in ("FetchWITSVID", "FetchWITBundles")}
    ok(all(v == "UNIMPLEMENTED" for v in got.values()), "FetchWITSVID, FetchWITBundles: "
       "UNIMPLEMENTED", got)

    # ---- entries ----
    python_exe = os.path.realpath(PY)
    help_ok = subprocess.run([CTL, "entry", "create", "--help"], capture_output=True,
                             timeout=10).returncode == 0
    have_entries = False
    if not help_ok:
        skip("registration entries created with attestctl entry create",
             "attestctl has no 'entry create' yet: the checks that need entries are skipped")
    else:
        res = [entry_create(d, UID_A, ["unix:uid:%d" % UID_A]),
               entry_create(d, UID_B, ["unix:uid:%d" % UID_B]),
               entry_create(d, UID_C, ["unix:uid:%d" % UID_C, "unix:path:" + python_exe]),
               entry_create(d, UID_H, ["unix:uid:%d" % UID_H])]
        have_entries = ok(all(r[0] for r in res), "registration entries created with "
                          "attestctl entry create", "\n".join(r[1] for r in res))

    # ---- no entry ----
    r = run_worker(tmp, d, UID_NONE, "fetch")
    ok(r.get("x509_status") == "PERMISSION_DENIED" and r.get("jwt_status") == "PERMISSION_DENIED"
       and r.get("x509_bundles_status") == "PERMISSION_DENIED",
       "a process no entry matches: PERMISSION_DENIED", r)

    if not have_entries:
        for name in ("two uids each get their own SVID, never the other's",
                     "X.509-SVIDs pass check_x509svid.py (python3-cryptography)",
                     "JWT-SVIDs verify against the JWT bundle", "ValidateJWTSVID",
                     "bundles", "stream: renewed SVID", "stream: exec -> PERMISSION_DENIED",
                     "stream: exited -> PERMISSION_DENIED", "hostile client",
                     "attestctl fetch x509 --write"):
            skip(name, "no registration entries")
        return d

    # ---- two uids ----
    ra = run_worker(tmp, d, UID_A, "fetch", "aud-a")
    rb = run_worker(tmp, d, UID_B, "fetch", "aud-b")
    ids_a = [x["spiffe_id"] for x in ra.get("x509", [])]
    ids_b = [x["spiffe_id"] for x in rb.get("x509", [])]
    jwt_a = [x["spiffe_id"] for x in ra.get("jwt", [])]
    jwt_b = [x["spiffe_id"] for x in rb.get("jwt", [])]
    ok(ids_a == [SID[UID_A]] and ids_b == [SID[UID_B]] and jwt_a == [SID[UID_A]]
       and jwt_b == [SID[UID_B]], "two uids each get their own SVID, never the other's",
       json.dumps({"a": [ids_a, jwt_a, ra.get("x509_status")],
                   "b": [ids_b, jwt_b, rb.get("x509_status")]}))

    good, out = (False, ra)
    if ra.get("x509") and rb.get("x509"):
        ga, oa = check_svid(tmp, ra["x509"][0], SID[UID_A])
        gb, ob = check_svid(tmp, rb["x509"][0], SID[UID_B])
        good, out = ga and gb, oa + ob
    ok(good, "X.509-SVIDs pass check_x509svid.py (python3-cryptography: one URI SAN, "
       "chain to the bundle, PKCS#8 DER key)", out)

    own = "spiffe://" + TD
    jb = ra.get("jwt_bundles", {})
    good, why = False, ra
    if ra.get("jwt") and own in jb:
        good, why = jwt_verifies(ra["jwt"][0]["token"], jb[own], SID[UID_A], "aud-a")
    ok(good, "FetchJWTSVID: the token verifies (ES256) against FetchJWTBundles' JWKS", why)
    v = ra.get("validate", {})
    ok(v.get("spiffe_id") == SID[UID_A] and v.get("claims", {}).get("sub") == SID[UID_A]
       and ra.get("validate_wrong_audience") == "INVALID_ARGUMENT",
       "ValidateJWTSVID: spiffe_id and claims; another audience is INVALID_ARGUMENT",
       json.dumps({"validate": v, "wrong": ra.get("validate_wrong_audience")}))
    xb = ra.get("x509_bundles", {})
    ok(list(xb) == [own] and ra["x509"] and xb[own] == ra["x509"][0]["bundle"]
       and list(jb) == [own] and jb[own].get("keys"),
       "FetchX509Bundles and FetchJWTBundles: this trust domain, the SVID's bundle",
       json.dumps({"x509_bundles": list(xb), "jwt_bundles": list(jb)}))

    # ---- a stream through a connection uid C's python process opened ----
    relay = Relay(tmp, "c1")
    worker = subprocess.Popen(as_uid(UID_C, [PY, worker_path(tmp), tmp, d.sock, "handoff",
                                             relay.handoff_path]),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(worker)
    relay.receive()
    ready = worker.stdout.readline().strip() == "ready"
    stream_api = wg.SpiffeWorkloadAPIStub(grpc.insecure_channel(relay.target()))
    msgs, status_box = [], {}

    def consume():
        def one():
            st = stream_api.FetchX509SVID(w.X509SVIDRequest(), metadata=md, timeout=40)
            for m in st:
                msgs.append((time.time(), m))
        try:
            # attestation of the fresh process may still be under way
            end = time.time() + 5
            while True:
                try:
                    one()
                    status_box["code"] = "OK"
                    return
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.UNAVAILABLE and not msgs and \
                            time.time() < end:
                        time.sleep(0.05)
                        continue
                    raise
        except grpc.RpcError as e:
            status_box["code"] = e.code().name
            status_box["details"] = e.details()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    end = time.time() + SVID_TTL + 4
    while time.time() < end and len(msgs) < 2 and t.is_alive():
        time.sleep(0.05)
    serials = [der_certs(m.svids[0].x509_svid.hex())[0].serial_number for _, m in msgs
               if m.svids]
    ok(ready and len(msgs) >= 2 and len(set(serials[:2])) == 2
       and all(m.svids[0].spiffe_id == SID[UID_C] for _, m in msgs),
       f"an open FetchX509SVID stream gets a new message when the SVID is renewed "
       f"(--x509-svid-max-ttl {SVID_TTL})",
       json.dumps({"ready": ready, "messages": len(msgs), "status": status_box,
                   "serials": [str(s) for s in serials]}))
    before = len(msgs)
    if worker.poll() is None:
        worker.stdin.write("exec\n")
        worker.stdin.flush()
    t.join(10)
    ok(not t.is_alive() and status_box.get("code") == "PERMISSION_DENIED"
       and len(msgs) == before,
       "after its process execs /bin/sleep (no entry), the stream ends PERMISSION_DENIED "
       "with no further SVID", json.dumps({"status": status_box, "before": before,
                                           "after": len(msgs)}))

    # ---- the process that connected has exited; someone else holds its connection ----
    relay2 = Relay(tmp, "c2")
    worker2 = subprocess.Popen(as_uid(UID_C, [PY, worker_path(tmp), tmp, d.sock, "handoff",
                                              relay2.handoff_path]),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(worker2)
    relay2.receive()
    worker2.stdout.readline()
    worker2.stdin.write("exit\n")
    worker2.stdin.flush()
    worker2.wait(10)
    api2 = wg.SpiffeWorkloadAPIStub(grpc.insecure_channel(relay2.target()))
    got = {}
    for name, fn in (("x509", lambda: list(api2.FetchX509SVID(w.X509SVIDRequest(), metadata=md,
                                                               timeout=5))),
                     ("jwt", lambda: api2.FetchJWTSVID(w.JWTSVIDRequest(audience=["x"]),
                                                       metadata=md, timeout=5))):
        try:
            fn()
            got[name] = "OK"
        except grpc.RpcError as e:
            got[name] = e.code().name
    ok(got == {"x509": "PERMISSION_DENIED", "jwt": "PERMISSION_DENIED"},
       "calls on a connection whose process has exited (PID may be reused): "
       "PERMISSION_DENIED", got)

    # ---- hostile client ----
    try:
        api.ValidateJWTSVID(w.ValidateJWTSVIDRequest(audience="x", svid="a" * (8 << 20)),
                            metadata=md, timeout=10)
        big = "OK"
    except grpc.RpcError as e:
        big = e.code().name
    ok(big == "RESOURCE_EXHAUSTED", "an 8 MiB request: RESOURCE_EXHAUSTED", big)

    flood_secs = 6
    hostile = subprocess.Popen(as_uid(UID_H, [PY, worker_path(tmp), tmp, d.sock, "hostile",
                                              str(HOSTILE_CONNS), str(flood_secs)]),
                               stdout=subprocess.PIPE, text=True)
    children.append(hostile)
    time.sleep(2)  # connections open, flood running
    lat, errs = [], {}
    end = time.time() + flood_secs - 2.5
    # uid A's calls while uid H floods (a fresh python workload of uid A)
    victim = subprocess.run(
        as_uid(UID_A, [PY, "-c", VICTIM, tmp, d.sock, str(end - time.time())]),
        capture_output=True, text=True, timeout=60)
    try:
        vr = json.loads(victim.stdout.strip().splitlines()[-1])
        lat, errs = vr["lat"], vr["errors"]
    except (ValueError, IndexError, KeyError):
        vr = {"error": victim.stdout + victim.stderr}
    hout, _ = hostile.communicate(timeout=60)
    try:
        hr = json.loads(hout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        hr = {"error": hout}
    if lat:
        diag(f"uid {UID_A} FetchJWTSVID under the flood: {len(lat)} calls, "
             f"p50 {pct(lat, 50) * 1e3:.1f} ms, p99 {pct(lat, 99) * 1e3:.1f} ms")
    diag(f"hostile uid {UID_H}: {json.dumps(hr)}")
    ok(d.alive() and len(lat) >= 20 and not errs and pct(lat, 99) < 0.5,
       f"garbage bytes, {HOSTILE_CONNS} connections and a call flood from uid {UID_H}: "
       f"attestd is up and uid {UID_A}'s calls stay fast (p99 < 500 ms)",
       json.dumps({"alive": d.alive(), "calls": len(lat), "errors": errs, "victim": vr
                   if not lat else "", "log": d.tail(8)}))
    ok(hr.get("closed_by_server", 0) > 0 and hr.get("flood", {}).get("OK", 0) > 0,
       f"connections over --max-connections-per-uid {PER_UID_CONNS} are closed; the flooder's "
       "own calls are still served", json.dumps(hr))

    # ---- attestctl over the Workload API ----
    outdir = os.path.join(tmp, "out")
    os.mkdir(outdir)
    os.chown(outdir, UID_A, UID_A)
    env = dict(os.environ, SPIFFE_ENDPOINT_SOCKET="unix://" + d.sock)
    ctl = os.path.join(tmp, "attestctl")  # where uid A can run it
    shutil.copy(CTL, ctl)
    p = subprocess.run(as_uid(UID_A, [ctl, "fetch", "x509", "--write", outdir, "--json"]),
                       capture_output=True, text=True, env=env, timeout=30)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        j = {}
    key = os.path.join(outdir, "svid.0.key")
    kmode = stat.S_IMODE(os.stat(key).st_mode) if os.path.exists(key) else None
    ok(p.returncode == 0 and [s["spiffe_id"] for s in j.get("svids", [])] == [SID[UID_A]]
       and kmode == 0o600 and os.path.exists(os.path.join(outdir, "bundle.0.pem")),
       "attestctl fetch x509 --write (SPIFFE_ENDPOINT_SOCKET): svid.0.pem, svid.0.key 0600, "
       "bundle.0.pem", p.stdout + p.stderr + f" key mode {kmode}")

    # ---- numbers ----
    measure(tmp, d)

    # ---- shutdown ----
    rc = d.stop()
    ok(rc == 0 and not os.path.exists(d.sock), "SIGTERM: attestd exits 0 and removes the socket",
       f"rc {rc}\n" + d.tail())
    return d


# uid A's calls while another uid floods: latencies of sequential FetchJWTSVID calls.
VICTIM = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import grpc, workload_pb2 as w, workload_pb2_grpc as wg
api = wg.SpiffeWorkloadAPIStub(grpc.insecure_channel("unix:" + sys.argv[2]))
md = [("workload.spiffe.io", "true")]
end = time.time() + float(sys.argv[3])
lat, errors = [], {}
while time.time() < end or len(lat) < 20:
    t = time.time()
    try:
        api.FetchJWTSVID(w.JWTSVIDRequest(audience=["victim"]), metadata=md, timeout=10)
        lat.append(time.time() - t)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAVAILABLE and not lat:
            time.sleep(0.05)
            continue
        errors[e.code().name] = errors.get(e.code().name, 0) + 1
    if len(lat) > 2000:
        break
print(json.dumps({"lat": lat, "errors": errors}))
"""

# Connect-to-first-X509SVIDResponse and FetchJWTSVID/s as uid A.
MEASURE = r"""
import json, sys, time, threading
sys.path.insert(0, sys.argv[1])
import grpc, workload_pb2 as w, workload_pb2_grpc as wg
sock = "unix:" + sys.argv[2]
md = [("workload.spiffe.io", "true")]
first = []
for i in range(200):
    t = time.time()
    ch = grpc.insecure_channel(sock)
    st = wg.SpiffeWorkloadAPIStub(ch).FetchX509SVID(w.X509SVIDRequest(), metadata=md, timeout=10)
    for m in st:
        first.append(time.time() - t)
        st.cancel()
        break
    ch.close()
def rate(nthreads, secs):
    count = [0]
    lock = threading.Lock()
    end = time.time() + secs
    def loop():
        api = wg.SpiffeWorkloadAPIStub(grpc.insecure_channel(sock))
        k = 0
        while time.time() < end:
            api.FetchJWTSVID(w.JWTSVIDRequest(audience=["rate"]), metadata=md, timeout=10)
            k += 1
        with lock:
            count[0] += k
    ts = [threading.Thread(target=loop) for _ in range(nthreads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return count[0] / secs
print(json.dumps({"first": first, "jwt1": rate(1, 1.5), "jwt8": rate(8, 1.5)}))
"""


def measure(tmp, d):
    p = subprocess.run(as_uid(UID_A, [PY, "-c", MEASURE, tmp, d.sock]), capture_output=True,
                       text=True, timeout=60)
    try:
        m = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        ok(False, "measurements", p.stdout + p.stderr)
        return
    f = m["first"]
    diag(f"connect-to-first-X509SVIDResponse (python-grpc, new channel each): "
         f"p50 {pct(f, 50) * 1e6:.0f} us, p99 {pct(f, 99) * 1e6:.0f} us over {len(f)}")
    diag(f"FetchJWTSVID/s (python-grpc): {m['jwt1']:.0f} on 1 channel, {m['jwt8']:.0f} on 8 "
         f"threads")
    ok(len(f) == 200, "measurements: 200 first SVIDs, JWT-SVID rate", json.dumps(m)[:500])


if __name__ == "__main__":
    main()
