"""A bounded soak of etlfs on loopback: a fresh etlfs-target, CLIENTS threads
of mixed PUT/GET/HEAD/DELETE/list (each owns its own names, so a local model
says what every object must hold), inline ETL reads through two communicators
(hpush, hpull), etl-bck jobs started and some stopped, and an etlfs mount read
by 4 processes at once. Target and mount RSS and open fds are sampled every
5 s. run() returns a report; main() prints it and exits non-zero on a failure.

Every loop is bounded by the deadline and by a count."""
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MD5_CODE = """
import hashlib
def transform(data):
    return hashlib.md5(data).hexdigest().encode()
"""

ETLS = {"soak-push": "hpush://", "soak-pull": "hpull://"}
SRC_OBJECTS = 48
KEYS_PER_CLIENT = 48
SAMPLE_EVERY = 5.0
OPS_PER_CLIENT_SECOND = 400  # a bound on the loop, far above what 2 cores do
REQ_TIMEOUT = 120


def md5hex(data):
    return hashlib.md5(data).hexdigest().encode()


def body_of(cid, key, ver, size):
    """The bytes of version ver of a client's key: regenerated, never kept."""
    return random.Random(f"{cid}/{key}/{ver}").randbytes(size)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_sample(pid):
    """(RSS KiB, open fds) of pid, or (None, None) once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None, None


def children_with_env(ppid, key):
    """Children of ppid whose environment has key (an ETL has AIS_TARGET_URL)."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) != ppid:
                    continue
            with open(f"/proc/{p}/environ", "rb") as f:
                if key.encode() + b"=" in f.read():
                    out.append(int(p))
        except OSError:
            pass
    return out


def processes_mentioning(text):
    """Pids (not ours) whose command line or environment names text."""
    out, me = [], os.getpid()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{p}/{what}", "rb") as f:
                    if text.encode() in f.read():
                        out.append(int(p))
                        break
            except OSError:
                pass
    return out


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(ln.split()[4] == path for ln in f)


def flat(values, factor=1.2, slack=0):
    """After warm-up (the first fifth of the samples), is the last third's
    maximum within factor x the first third's maximum + slack?"""
    vals = [v for v in values if v is not None]
    vals = vals[max(1, len(vals) // 5):]
    if len(vals) < 3:
        return True, "too few samples to judge"
    third = len(vals) // 3
    first, last = max(vals[:third]), max(vals[-third:])
    ok = last <= factor * first + slack
    return ok, f"first-third max {first}, last-third max {last}, limit {factor} x {first} + {slack}"


class Soak:
    def __init__(self, build, seconds, clients, workdir, log):
        self.build, self.seconds, self.nclients = build, seconds, clients
        self.work, self.log = workdir, log
        self.errors, self.nerrors = [], 0
        self.ops = {}
        self.lock = threading.Lock()
        self.samples = []
        self.etl_pids = set()
        self.jobs = {"started": 0, "stopped": 0, "finished": 0, "verified_objects": 0}
        self.stop_sampling = threading.Event()

    # ---- bookkeeping

    def error(self, what):
        with self.lock:
            self.nerrors += 1
            if len(self.errors) < 100:
                self.errors.append(what)
        self.log(f"soak: ERROR {what}")

    def count(self, op):
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1

    # ---- processes

    def start_target(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mpaths = [os.path.join(self.work, f"mp{i}") for i in range(2)]
        args = [os.path.join(self.build, "bin", "etlfs-target"), "--listen", f"127.0.0.1:{self.port}"]
        for d in self.mpaths:
            args += ["--data", d]
        env = dict(os.environ)
        # ASan's quarantine (256 MiB by default) would read as growth: keep it small
        asan = env.get("ASAN_OPTIONS", "")
        if "quarantine_size_mb" not in asan:
            env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=16"
        self.env = env
        self.tlog = open(os.path.join(self.work, "target.log"), "ab")
        self.target = subprocess.Popen(args, stdout=self.tlog, stderr=self.tlog, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.target.poll() is not None:
                raise RuntimeError(f"etlfs-target exited with {self.target.returncode}")
            try:
                if requests.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("etlfs-target did not become healthy")

    def start_mount(self):
        self.mnt = os.path.join(self.work, "mnt")
        os.makedirs(self.mnt)
        self.mlog = open(os.path.join(self.work, "etlfs.log"), "ab")
        self.mount = subprocess.Popen([os.path.join(self.build, "bin", "etlfs"), "--endpoint", self.url,
                                       self.mnt, "-f"], stdout=self.mlog, stderr=self.mlog, env=self.env)
        deadline = time.time() + 20
        while not is_mounted(self.mnt):
            if self.mount.poll() is not None or time.time() > deadline:
                raise RuntimeError("etlfs did not mount")
            time.sleep(0.05)

    def stop_mount(self):
        rc = None
        for args in (["fusermount3", "-u", self.mnt], ["fusermount3", "-u", "-z", self.mnt]):
            if not is_mounted(self.mnt):
                break
            subprocess.run(args, stderr=subprocess.DEVNULL, timeout=30)
            deadline = time.time() + 10
            while is_mounted(self.mnt) and time.time() < deadline:
                time.sleep(0.05)
        rc = self.reap(self.mount, 30, "mount daemon did not exit after its unmount")
        self.mlog.close()
        return rc

    def stop_target(self):
        self.target.send_signal(signal.SIGTERM)
        rc = self.reap(self.target, 60, "target did not exit within 60 s of SIGTERM")
        self.tlog.close()
        return rc

    def reap(self, proc, timeout, why):
        """proc's exit status; killed, and why recorded as an error, after timeout s."""
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.error(why)
            return proc.wait()

    # ---- set-up

    def setup_data(self):
        s = requests.Session()
        for b in ("soak", "src"):
            r = s.post(f"{self.url}/v1/buckets/{b}", json={"action": "create-bck", "name": "", "value": None})
            if r.status_code != 200:
                raise RuntimeError(f"create-bck {b}: {r.status_code} {r.text}")
        rnd = random.Random(7)
        self.src = {}
        for i in range(SRC_OBJECTS):
            size = rnd.choice([0, 100, 4096, 65536, 300_000, 1 << 20])
            data = rnd.randbytes(size)
            name = f"d{i % 4}/s{i:03d}"
            r = s.put(f"{self.url}/v1/objects/src/{name}", data=data)
            if r.status_code != 200:
                raise RuntimeError(f"PUT src/{name}: {r.status_code} {r.text}")
            self.src[name] = data
        for name, comm in ETLS.items():
            msg = {"id": name, "runtime": "python3.11v2", "communication": comm, "argument": "",
                   "timeout": "2m", "funcs": {"transform": "transform"},
                   "code": base64.b64encode(MD5_CODE.encode()).decode(), "dependencies": ""}
            r = s.put(f"{self.url}/v1/etl", json=msg, timeout=180)
            if r.status_code != 200:
                raise RuntimeError(f"ETL init {name}: {r.status_code} {r.text[:500]}")
        self.etl_pids.update(children_with_env(self.target.pid, "AIS_TARGET_URL"))

    # ---- the load

    def sampler(self):
        t0 = time.time()
        while not self.stop_sampling.is_set():
            rss_t, fds_t = proc_sample(self.target.pid)
            rss_m, fds_m = proc_sample(self.mount.pid)
            etls = children_with_env(self.target.pid, "AIS_TARGET_URL")
            self.etl_pids.update(etls)
            self.samples.append({"t": round(time.time() - t0, 1), "target_rss_kib": rss_t, "target_fds": fds_t,
                                 "mount_rss_kib": rss_m, "mount_fds": fds_m, "etl_procs": len(etls)})
            self.stop_sampling.wait(SAMPLE_EVERY)

    def client(self, cid, deadline):
        s = requests.Session()
        rnd = random.Random(cid)
        model = {}  # key -> (version seed, size)
        self.models[cid] = model
        prefix = f"c{cid:02d}/"
        ver = 0
        etl_names = list(ETLS)
        src_names = list(self.src)
        for n in range(int(self.seconds * OPS_PER_CLIENT_SECOND)):
            if time.time() >= deadline:
                break
            key = f"{prefix}k{rnd.randrange(KEYS_PER_CLIENT):02d}"
            u = f"{self.url}/v1/objects/soak/{key}"
            op = rnd.choices(["put", "get", "head", "delete", "list", "etl"], [30, 25, 10, 8, 5, 22])[0]
            try:
                if op == "put":
                    ver += 1
                    size = rnd.choice([0, 1, 512, 8192, 65536, 200_000]) if rnd.random() > 0.02 else 1 << 20
                    r = s.put(u, data=body_of(cid, key, ver, size), timeout=REQ_TIMEOUT)
                    if r.status_code != 200:
                        self.error(f"PUT {key}: {r.status_code} {r.text[:200]}")
                    else:
                        model[key] = (ver, size)
                elif op == "get":
                    r = s.get(u, timeout=REQ_TIMEOUT)
                    self.check_get(cid, key, model, r)
                elif op == "head":
                    r = s.head(u, timeout=REQ_TIMEOUT)
                    if key in model:
                        if r.status_code != 200 or int(r.headers["Content-Length"]) != model[key][1]:
                            self.error(f"HEAD {key}: {r.status_code} {r.headers.get('Content-Length')} "
                                       f"want size {model[key][1]}")
                    elif r.status_code != 404:
                        self.error(f"HEAD {key} (absent): {r.status_code}")
                elif op == "delete":
                    r = s.delete(u, timeout=REQ_TIMEOUT)
                    want = 200 if key in model else 404
                    if r.status_code != want:
                        self.error(f"DELETE {key}: {r.status_code}, want {want}: {r.text[:200]}")
                    model.pop(key, None)
                elif op == "list":
                    got = self.list_bucket(s, "soak", prefix)
                    want = {k: v[1] for k, v in model.items()}
                    if got != want:
                        self.error(f"list {prefix}: differs from the model: "
                                   f"extra {sorted(set(got) - set(want))[:5]}, "
                                   f"missing {sorted(set(want) - set(got))[:5]}, "
                                   f"sizes {[k for k in got if k in want and got[k] != want[k]][:5]}")
                else:
                    name = rnd.choice(src_names)
                    etl = etl_names[n % 2]
                    r = s.get(f"{self.url}/v1/objects/src/{name}", params={"etl_name": etl}, timeout=REQ_TIMEOUT)
                    if r.status_code != 200 or r.content != md5hex(self.src[name]):
                        self.error(f"GET src/{name} via {etl}: {r.status_code} {r.content[:200]!r}")
                    op = "etl-" + etl
            except (requests.RequestException, KeyError, ValueError) as e:
                self.error(f"{op} {key}: {type(e).__name__}: {e}")
            self.count(op)

    def check_get(self, cid, key, model, r):
        if key not in model:
            if r.status_code != 404:
                self.error(f"GET {key} (absent): {r.status_code}")
            return
        ver, size = model[key]
        if r.status_code != 200:
            self.error(f"GET {key}: {r.status_code} {r.text[:200]}")
        elif r.content != body_of(cid, key, ver, size):
            self.error(f"GET {key}: {len(r.content)} bytes differ from version {ver} ({size} bytes)")

    def list_bucket(self, s, bck, prefix):
        out, token = {}, ""
        for _ in range(1000):
            r = s.get(f"{self.url}/v1/buckets/{bck}", timeout=REQ_TIMEOUT,
                      json={"action": "list", "name": "", "value": {"prefix": prefix, "continuation_token": token,
                                                                     "props": "name,size"}})
            r.raise_for_status()
            body = r.json()
            for e in body.get("entries") or []:
                out[e["name"]] = int(e["size"])
            token = body.get("continuation_token", "")
            if not token:
                break
        return out

    def job_status(self, s, job):
        r = s.get(f"{self.url}/v1/cluster", params={"what": "status"}, json={"ID": job, "Kind": ""},
                  timeout=REQ_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def jobs_loop(self, deadline):
        s = requests.Session()
        rnd = random.Random(99)
        for n in range(10_000):
            if time.time() >= deadline:
                break
            dst = f"job{n}"
            etl = list(ETLS)[n % 2]
            try:
                r = s.post(f"{self.url}/v1/buckets/src", params={"bck_to": f"ais/@#/{dst}/"}, timeout=REQ_TIMEOUT,
                           json={"action": "etl-bck", "name": "", "value": {"id": etl, "num_workers": 2}})
                if r.status_code != 200:
                    self.error(f"etl-bck via {etl}: {r.status_code} {r.text[:200]}")
                    continue
                job = r.text.strip().strip('"')
                self.jobs["started"] += 1
                stop = n % 3 == 1
                if stop:
                    time.sleep(rnd.uniform(0, 0.5))
                    r = s.put(f"{self.url}/v1/cluster", json={"action": "stop", "value": {"ID": job}},
                              timeout=REQ_TIMEOUT)
                    if r.status_code != 200:
                        self.error(f"stop job {job}: {r.status_code} {r.text[:200]}")
                    self.jobs["stopped"] += 1
                end = time.time() + 180
                st = self.job_status(s, job)
                while st["end_time"] == 0 and time.time() < end:
                    time.sleep(0.2)
                    st = self.job_status(s, job)
                if st["end_time"] == 0:
                    self.error(f"job {job} did not end within 180 s")
                    continue
                self.check_job_output(s, job, dst, st, stop)
                r = s.delete(f"{self.url}/v1/buckets/{dst}", json={"action": "destroy-bck"}, timeout=REQ_TIMEOUT)
                if r.status_code != 200:
                    self.error(f"destroy {dst}: {r.status_code} {r.text[:200]}")
            except (requests.RequestException, KeyError, ValueError) as e:
                self.error(f"job {n}: {type(e).__name__}: {e}")
            time.sleep(0.5)

    def check_job_output(self, s, job, dst, st, stopped):
        if st.get("errors") or (st.get("err") and not st["aborted"]):
            self.error(f"job {job}: errors {st.get('errors')}: {st.get('err', '')[:300]}")
        if not stopped and st["aborted"]:
            self.error(f"job {job} aborted without a stop: {st.get('err', '')[:300]}")
        got = self.list_bucket(s, dst, "")
        if not stopped and sorted(got) != sorted(self.src):
            self.error(f"job {job}: {len(got)} outputs of {len(self.src)}")
        if stopped and st["aborted"]:
            self.jobs["stopped_and_aborted"] = self.jobs.get("stopped_and_aborted", 0) + 1
        else:
            self.jobs["finished"] += 1
        for name in got:
            r = s.get(f"{self.url}/v1/objects/{dst}/{name}", timeout=REQ_TIMEOUT)
            if name not in self.src or r.status_code != 200 or r.content != md5hex(self.src[name]):
                self.error(f"job {job}: output {dst}/{name} is not the transform of its source "
                           f"({r.status_code} {r.content[:64]!r})")
            self.jobs["verified_objects"] += 1

    def mount_readers(self, deadline):
        expect = os.path.join(self.work, "expect.json")
        with open(expect, "w") as f:
            json.dump({n: [hashlib.md5(d).hexdigest(), len(d)] for n, d in self.src.items()}, f)
        view = "@" + list(ETLS)[0]
        return [subprocess.Popen([sys.executable, os.path.join(HERE, "mount_reader.py"), self.mnt, view, expect,
                                  str(deadline), str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for i in range(4)]

    # ---- the whole run

    def verify_all(self):
        s = requests.Session()
        got = self.list_bucket(s, "soak", "")
        want = {}
        for cid, model in self.models.items():
            for key, (ver, size) in model.items():
                want[key] = size
                r = s.get(f"{self.url}/v1/objects/soak/{key}", timeout=REQ_TIMEOUT)
                if r.status_code != 200 or r.content != body_of(cid, key, ver, size):
                    self.error(f"final check: soak/{key} is not version {ver} ({r.status_code}, "
                               f"{len(r.content)} bytes)")
                self.verified += 1
        if got != want:
            self.error(f"final listing differs from the model: extra {sorted(set(got) - set(want))[:5]}, "
                       f"missing {sorted(set(want) - set(got))[:5]}")
        for name, data in self.src.items():
            r = s.get(f"{self.url}/v1/objects/src/{name}", timeout=REQ_TIMEOUT)
            if r.content != data:
                self.error(f"final check: src/{name} changed")
            self.verified += 1

    def run(self):
        t_start = time.time()
        self.models, self.verified = {}, 0
        self.start_target()
        try:
            self.setup_data()
            self.start_mount()
        except Exception:
            self.target.kill()
            raise
        self.log(f"soak: target {self.url} pid {self.target.pid}, mount {self.mnt} pid {self.mount.pid}, "
                 f"{self.nclients} clients for {self.seconds} s")
        deadline = time.time() + self.seconds
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        readers = self.mount_readers(deadline)
        threads = [threading.Thread(target=self.client, args=(i, deadline), daemon=True)
                   for i in range(self.nclients)]
        threads.append(threading.Thread(target=self.jobs_loop, args=(deadline,), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1, deadline - time.time()) + 300)
            if t.is_alive():
                self.error(f"{t.name} still running 300 s past the deadline")
        self.reads = {"processes": len(readers), "reads": 0}
        for p in readers:
            try:
                out, err = p.communicate(timeout=max(1, deadline - time.time()) + 120)
                res = json.loads(out or b"{}")
                self.reads["reads"] += res.get("reads", 0)
                for e in res.get("errors", []):
                    self.error("mount reader: " + e)
                if p.returncode != 0:
                    self.error(f"mount reader exited {p.returncode}: {err.decode(errors='replace')[-500:]}")
            except (subprocess.TimeoutExpired, ValueError) as e:
                p.kill()
                p.wait()
                self.error(f"mount reader: {type(e).__name__}: {e}")
        self.stop_sampling.set()
        sampler.join(30)
        self.verify_all()
        mount_rc = self.stop_mount()
        if mount_rc != 0:
            self.error(f"mount daemon exited {mount_rc}")
        target_rc = self.stop_target()
        if target_rc != 0:
            self.error(f"target exited {target_rc} after SIGTERM (see {self.work}/target.log)")
        # nothing left behind: every ETL process seen, the daemon, the target
        left = []
        deadline = time.time() + 10
        while time.time() < deadline:
            left = sorted({p for p in self.etl_pids if os.path.exists(f"/proc/{p}")} |
                          set(processes_mentioning(self.work)))
            if not left:
                break
            time.sleep(0.2)
        if left:
            self.error(f"processes left behind: {left}")
        return self.report(time.time() - t_start)

    def report(self, elapsed):
        checks = {}
        for key, slack in (("target_rss_kib", 16 * 1024), ("target_fds", 16),
                           ("mount_rss_kib", 16 * 1024), ("mount_fds", 16)):
            ok, why = flat([smp[key] for smp in self.samples], slack=slack)
            checks[key] = {"flat": ok, "why": why}
            if not ok:
                self.error(f"{key} grows: {why}")
        return {"ok": self.nerrors == 0, "seconds": self.seconds, "clients": self.nclients,
                "elapsed": round(elapsed, 1), "ops": dict(sorted(self.ops.items())),
                "total_ops": sum(self.ops.values()), "jobs": self.jobs, "mount_reads": self.reads,
                "objects_verified": self.verified, "errors": self.nerrors, "first_errors": self.errors[:20],
                "flat": checks, "samples": self.samples, "workdir": self.work}


def run(build, seconds=600, clients=32, workdir=None, keep=False, log=None):
    """Runs the soak; returns its report (a dict, report["ok"] says it all)."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    work = workdir or tempfile.mkdtemp(prefix="etlfs-soak-")
    soak = Soak(os.path.abspath(build), seconds, clients, work, log)
    try:
        rep = soak.run()
    finally:
        # a crash of the driver must not leave a mount or a target behind
        if getattr(soak, "mnt", None) and is_mounted(soak.mnt):
            subprocess.run(["fusermount3", "-u", "-z", soak.mnt], stderr=subprocess.DEVNULL)
        for p in (getattr(soak, "mount", None), getattr(soak, "target", None)):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    if rep["ok"] and not keep:
        shutil.rmtree(work, ignore_errors=True)
    return rep


def curve(rep):
    lines = ["| t (s) | target RSS (MiB) | target fds | mount RSS (MiB) | mount fds | ETL processes |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    mib = lambda k: "-" if k is None else f"{k / 1024:.1f}"  # noqa: E731
    for smp in rep["samples"]:
        lines.append(f"| {smp['t']} | {mib(smp['target_rss_kib'])} | {smp['target_fds']} | "
                     f"{mib(smp['mount_rss_kib'])} | {smp['mount_fds']} | {smp['etl_procs']} |")
    return "\n".join(lines)


def main(argv):
    seconds = float(argv[1]) if len(argv) > 1 else 600
    clients = int(argv[2]) if len(argv) > 2 else 32
    build = os.environ.get("ETLFS_BUILD", os.path.join(ROOT, "build"))
    rep = run(build, seconds, clients, keep=bool(os.environ.get("SOAK_KEEP")))
    print(curve(rep))
    summary = {k: v for k, v in rep.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    print("soak: " + ("PASSED" if rep["ok"] else "FAILED"))
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
