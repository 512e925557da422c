"""deploy/k8s/: the Kubernetes manifests, checked without a cluster.

`kubectl apply --dry-run=client` cannot run here: even a client-side dry
run asks an API server for its resource types and for the live object it
would patch (Debian 12's kubectl, kubernetes-client 1.20, does the same).
So every field is checked against the Kubernetes API's own schema as the
official Python client (Debian's python3-kubernetes) models it: no unknown
field at any depth, each value of its type, every required field present.
Then what matters for etlfs: the commands and flags (the flags checked
against the programs' own --help), the downward API, the host disks, the
FUSE device and the mount's bidirectional propagation. Untested on a real
cluster: docs/cluster.md."""
import glob
import os
import re
import subprocess

import pytest
import yaml

from conftest import BUILD

kubernetes = pytest.importorskip(
    "kubernetes", reason="LOUD SKIP: python3-kubernetes is not installed (deploy/dev/deps.sh --test installs it)")
from kubernetes import client as k8s  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(ROOT, "deploy", "k8s")
PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object,
             "datetime": str, "date": str}


def docs():
    out = []
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            out += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d is not None]
    return out


def model_of(doc):
    group_version = doc["apiVersion"].split("/")[-1]
    return getattr(k8s, group_version.capitalize() + doc["kind"])


def strict(value, type_name, where, errors):
    """Walks value as the client's model type_name; unknown fields, wrong types."""
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            errors.append(f"{where}: a list expected")
            return
        for i, v in enumerate(value):
            strict(v, m.group(1), f"{where}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{where}: a map expected")
            return
        for k, v in value.items():
            strict(v, m.group(1), f"{where}.{k}", errors)
        return
    if type_name in PRIMITIVE:
        if not isinstance(value, PRIMITIVE[type_name]) or (type_name == "int" and isinstance(value, bool)):
            errors.append(f"{where}: {type_name} expected, got {value!r}")
        return
    cls = getattr(k8s, type_name)
    if not isinstance(value, dict):
        errors.append(f"{where}: an object ({type_name}) expected")
        return
    by_json = {j: p for p, j in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            errors.append(f"{where}.{k}: no such field in {type_name}")
        else:
            strict(v, cls.openapi_types[by_json[k]], f"{where}.{k}", errors)


def test_every_manifest_matches_the_kubernetes_schema():
    all_docs = docs()
    assert {d["kind"] for _, d in all_docs} >= {"Namespace", "Service", "StatefulSet", "DaemonSet", "Secret",
                                                "ConfigMap"}
    api = k8s.ApiClient()
    for name, d in all_docs:
        errors = []
        strict(d, model_of(d).__name__, f"{name}:{d['kind']}", errors)
        assert not errors, errors
        # the models refuse a missing required field (a container's name, a selector...)
        api._ApiClient__deserialize(d, model_of(d).__name__)
        # and the checker itself sees a typo
        bad = dict(d, metadata=dict(d["metadata"], nmae="x"))
        errors = []
        strict(bad, model_of(d).__name__, name, errors)
        assert errors


def objects():
    return {(d["kind"], d["metadata"]["name"]): d for _, d in docs()}


def container(obj):
    (c,) = obj["spec"]["template"]["spec"]["containers"]
    return c


def daemon_set(objs, name):
    """The pod spec of DaemonSet name and its one container."""
    ds = objs[("DaemonSet", name)]
    return ds["spec"]["template"]["spec"], container(ds)


def expand(arg, env):
    """$(VAR) as the kubelet expands it in args; every one must be defined."""
    def one(m):
        assert m.group(1) in env, f"{arg}: $({m.group(1)}) is not in the container's env"
        return env[m.group(1)]
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, arg)


def env_of(c, objs):
    """The container's env: literal values, a ConfigMap's values, and the
    downward API's fields as placeholders naming them."""
    out = {}
    for e in c.get("env", []):
        src = e.get("valueFrom", {})
        if "value" in e:
            out[e["name"]] = e["value"]
        elif "fieldRef" in src:
            out[e["name"]] = "<" + src["fieldRef"]["fieldPath"] + ">"
        elif "configMapKeyRef" in src:
            ref = src["configMapKeyRef"]
            out[e["name"]] = objs[("ConfigMap", ref["name"])]["data"][ref["key"]]
        else:
            raise AssertionError(f"unexpected env source {e}")
    return out


def flags(args):
    out = {}
    for a in args:
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def help_text(prog):
    p = subprocess.run([os.path.join(BUILD, "bin", prog), "--help"], capture_output=True, text=True, timeout=20)
    return p.stdout + p.stderr


def mounted(pod, c, mount_path):
    """The volume mounted at mount_path in container c, and the mount."""
    (vm,) = [m for m in c["volumeMounts"] if m["mountPath"] == mount_path]
    (vol,) = [v for v in pod["volumes"] if v["name"] == vm["name"]]
    return vol, vm


def test_etcd_is_three_members_behind_a_headless_service():
    objs = objects()
    sts = objs[("StatefulSet", "etlfs-etcd")]
    svc = objs[("Service", sts["spec"]["serviceName"])]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert sts["spec"]["selector"]["matchLabels"] == sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["replicas"] == 3
    c = container(sts)
    assert c["command"] == ["etcd"]
    f = flags(expand(a, env_of(c, objs)) for a in c["args"])
    members = f["--initial-cluster"][0].split(",")
    ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
    want = [f"{name}-{i}=http://{name}-{i}.{svc['metadata']['name']}.{ns}.svc:2380" for i in range(3)]
    assert members == want
    assert f["--name"] == ["<metadata.name>"]
    assert f["--data-dir"] == [c["volumeMounts"][0]["mountPath"]]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == c["volumeMounts"][0]["name"]


def test_the_target_runs_on_every_node_on_its_disks_with_its_node_name_and_pod_ip():
    objs = objects()
    pod, c = daemon_set(objs, "etlfs-target")
    assert c["command"] == ["etlfs-target"]
    env = env_of(c, objs)
    f = flags(expand(a, env) for a in c["args"])
    assert not set(f) - set(re.findall(r"--[a-z-]+", help_text("etlfs-target"))), "flags the target does not know"
    assert f["--id"] == ["<spec.nodeName>"]
    assert f["--public-url"] == ["http://<status.podIP>:8080"]
    assert f["--listen"] == ["0.0.0.0:8080"]
    assert pod["hostNetwork"] is True  # the pod's IP is the node's: clients outside reach it
    # every etcd member's client URL
    sts = objs[("StatefulSet", "etlfs-etcd")]
    etcd = f["--etcd"][0].split(",")
    assert etcd == [f"http://etlfs-etcd-{i}.etlfs-etcd.etlfs.svc:2379" for i in range(sts["spec"]["replicas"])]
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    # each mountpath a host directory
    assert len(f["--data"]) >= 1
    for mp in f["--data"]:
        vol, vm = mounted(pod, c, mp)
        assert vol["hostPath"]["path"] and not vm.get("readOnly")
    # the secret from the Secret
    (secret_file,) = f["--auth-secret-file"]
    vol, _ = mounted(pod, c, os.path.dirname(secret_file))
    items = {i["path"]: i["key"] for i in vol["secret"]["items"]}
    assert items[os.path.basename(secret_file)] in objs[("Secret", vol["secret"]["secretName"])]["stringData"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/v1/health"


def test_the_mount_daemon_is_privileged_with_fuse_and_bidirectional_propagation():
    objs = objects()
    pod, c = daemon_set(objs, "etlfs-mount")
    assert c["command"] == ["etlfs"]
    assert c["securityContext"]["privileged"] is True
    args = [expand(a, env_of(c, objs)) for a in c["args"]]
    f = flags(args)
    assert not set(f) - set(re.findall(r"--[a-z-]+", help_text("etlfs"))), "flags the daemon does not know"
    assert "-f" in args  # in the foreground: the container's process is the daemon
    # the node's own target (host network on both)
    assert f["--endpoint"] == ["http://127.0.0.1:8080"] and pod["hostNetwork"] is True
    tpod, tc = daemon_set(objs, "etlfs-target")
    assert tpod["hostNetwork"] is True
    # the mountpoint: the one positional argument, a host path shared both ways
    (mnt,) = [a for a in args if a.startswith("/")]
    vol, vm = mounted(pod, c, mnt)
    assert vm["mountPropagation"] == "Bidirectional"
    assert vol["hostPath"]["path"]
    vol, _ = mounted(pod, c, "/dev/fuse")
    assert vol["hostPath"] == {"path": "/dev/fuse", "type": "CharDevice"}
    assert any(o.startswith("allow_other") for o in args[args.index("-o") + 1].split(","))
    # the fast path reads the target's files: the same host disks, read-only
    for mp in flags(tc["args"])["--data"]:
        tvol, _ = mounted(tpod, tc, mp)
        mvol, mvm = mounted(pod, c, mp)
        assert mvol["hostPath"]["path"] == tvol["hostPath"]["path"] and mvm["readOnly"] is True
    (token,) = f["--token-file"]
    vol, _ = mounted(pod, c, os.path.dirname(token))
    assert {i["path"]: i["key"] for i in vol["secret"]["items"]}[os.path.basename(token)] == "token"
    assert c["lifecycle"]["preStop"]["exec"]["command"][:2] == ["fusermount3", "-u"]


def test_one_image_that_the_dockerfile_builds():
    images = {c["image"] for _, d in docs() if d["kind"] in ("StatefulSet", "DaemonSet")
              for c in d["spec"]["template"]["spec"]["containers"]}
    with open(os.path.join(K8S, "Dockerfile")) as f:
        dockerfile = f.read()
    (tag,) = re.findall(r"docker build .* -t (\S+)", dockerfile)
    assert images == {tag}
    assert "etcd-server" in dockerfile and "deploy/dev/deps.sh" in dockerfile
    # every object in one namespace, which the first file makes
    ns = {d["metadata"].get("namespace") for _, d in docs() if d["kind"] != "Namespace"}
    assert ns == {objects()[next(k for k in objects() if k[0] == "Namespace")]["metadata"]["name"]}
