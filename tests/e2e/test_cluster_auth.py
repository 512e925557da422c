"""Tokens across redirects: with --auth-secret, a client following a 307
from a non-owner to the owner drops its Authorization header (requests does,
on a change of port too), so the non-owner puts a short-lived token for that
one request in the Location's query (target/auth.c, docs/cluster.md). Real
targets over a real etcd, the real `requests`."""
import os
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests

from authtok import CLUSTER_RO, RO, RW, bearer, token
from cluster_fixtures import SKIP_WITHOUT_ETCD, etcd, hrw_owner, on_disk, wait_for  # noqa: F401
from conftest import Target

pytestmark = SKIP_WITHOUT_ETCD

SECRET = "redirect-secret"
RTOKEN = "etlfs_rtoken"  # target/target.h


def with_query(url, **changes):
    """url with its query parameters changed (None removes one)."""
    u = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
    for k, v in changes.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = v
    return urlunsplit(u._replace(query=urlencode(q)))


def test_a_token_follows_a_redirect_for_one_request_only(etcd, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    admin = bearer(token(SECRET, user="admin", admin=True))
    writer = bearer(token(SECRET, user="writer", buckets={"sec": RW}, cluster=CLUSTER_RO))
    reader = bearer(token(SECRET, user="reader", buckets={"sec": RO}, cluster=CLUSTER_RO))
    ids = ["r1", "r2"]
    nodes = []
    for tid in ids:
        os.makedirs(tmp_path / tid)
        nodes.append(Target(str(tmp_path / tid), mountpaths=1, extra_args=[
            "--etcd", etcd.url, "--cluster", "rdr-auth", "--id", tid, "--auth-secret-file", str(secret_file)]))
    try:
        wait_for(lambda: all(len(smap_auth(t, admin)["tmap"]) == 2 for t in nodes), "both joined")
        r = requests.post(f"{nodes[0].url}/v1/buckets/sec", json={"action": "create-bck"}, headers=admin, timeout=10)
        assert r.status_code == 200, r.text
        # objects that r2 owns, asked of r1
        names = [f"o-{k}" for k in range(40) if hrw_owner(ids, "sec", f"o-{k}") == "r2"][:3]
        assert len(names) == 3
        via, owner = nodes[0], nodes[1]

        # PUT and GET through the non-owner, as a user who is not an admin
        for i, name in enumerate(names):
            data = os.urandom(1000 + i)
            r = requests.put(f"{via.url}/v1/objects/sec/{name}", data=data, headers=writer, timeout=10)
            assert r.status_code == 200, r.text
            assert r.history and r.history[0].status_code == 307
            assert "Authorization" not in r.request.headers, "requests dropped it: the query's token carried it"
            assert on_disk(owner, "sec", name) and not on_disk(via, "sec", name)
            r = requests.get(f"{via.url}/v1/objects/sec/{name}", headers=writer, timeout=10)
            assert r.status_code == 200 and r.content == data, (r.status_code, r.text)

        # the user's own claims travel: a reader may GET but not PUT through the redirect
        assert requests.get(f"{via.url}/v1/objects/sec/{names[0]}", headers=reader, timeout=10).status_code == 200
        r = requests.put(f"{via.url}/v1/objects/sec/{names[0]}", data=b"x", headers=reader, timeout=10)
        assert r.status_code == 403, r.text

        # the Location as the client gets it
        r = requests.get(f"{via.url}/v1/objects/sec/{names[0]}?latest=true", headers=writer, timeout=10,
                         allow_redirects=False)
        assert r.status_code == 307
        loc = r.headers["Location"]
        assert loc.startswith(owner.url + "/v1/objects/sec/") and "latest=true" in loc
        rtok = parse_qs(urlsplit(loc).query)[RTOKEN][0]
        assert requests.get(loc, timeout=10).status_code == 200

        def refused(resp, why):
            assert resp.status_code == 401, (resp.status_code, resp.text)
            assert why in resp.text, resp.text

        head, claims, sig = rtok.split(".")
        forged = head + "." + claims + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
        refused(requests.get(with_query(loc, **{RTOKEN: forged}), timeout=10), "redirect token")
        refused(requests.get(with_query(loc, **{RTOKEN: None}), timeout=10), "token required")
        # good for its method, object and query only
        refused(requests.get(loc.replace(names[0], names[1]), timeout=10), "for another request")
        refused(requests.delete(loc, timeout=10), "for another request")
        refused(requests.get(with_query(loc, latest="false"), timeout=10), "for another request")
        # never a bearer token, and a bearer token is not one
        refused(requests.get(f"{owner.url}/v1/objects/sec/{names[0]}", headers=bearer(rtok), timeout=10),
                "invalid token")
        wtok = writer["Authorization"].split(" ", 1)[1]
        refused(requests.get(with_query(loc, **{RTOKEN: wtok}), timeout=10), "redirect token")
        # nor a token signed with another secret
        other = bearer(token("another-secret", user="writer", buckets={"sec": RW}))
        r = requests.get(f"{via.url}/v1/objects/sec/{names[0]}", headers=other, timeout=10, allow_redirects=False)
        assert r.status_code == 401
        # it expires within seconds (REDIRECT_TTL_SEC, 5 s; exp has a resolution of 1 s)
        time.sleep(7)
        refused(requests.get(loc, timeout=10), "expired")
        assert requests.get(f"{owner.url}/v1/objects/sec/{names[0]}", headers=writer, timeout=10).status_code == 200
    finally:
        for t in nodes:
            assert t.stop() in (0, None), t.log_text()


def smap_auth(node, auth):
    r = requests.get(f"{node.url}/v1/daemon", params={"what": "smap"}, headers=auth, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()
