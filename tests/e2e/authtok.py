"""Mints AIStore AuthN tokens for tests: HS256 JWTs with the claims AuthN
issues (sub, admin, exp, clusters, buckets), made with hmac and base64 from
the standard library (no PyJWT)."""
import base64
import hashlib
import hmac
import json
import time

# AIStore's access bits (api/apc/access.go)
GET, OBJ_HEAD, PUT, APPEND, OBJ_DELETE, OBJ_MOVE, PROMOTE, OBJ_UPDATE = (1 << i for i in range(8))
BCK_HEAD, OBJ_LIST, PATCH, BCK_SET_ACL = (1 << i for i in range(8, 12))
LIST_BUCKETS, SHOW_CLUSTER, CREATE_BUCKET, DESTROY_BUCKET, MOVE_BUCKET, ADMIN = (1 << i for i in range(12, 18))
RO = GET | OBJ_HEAD | BCK_HEAD | OBJ_LIST
RW = RO | PUT | APPEND | OBJ_DELETE | OBJ_MOVE
CLUSTER_RO = LIST_BUCKETS | SHOW_CLUSTER


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims, secret, header=None):
    """The compact JWT of claims (a dict, or raw bytes) signed with secret."""
    hdr = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing = hdr + "." + b64url(body)
    key = secret.encode() if isinstance(secret, str) else secret
    return signing + "." + b64url(hmac.new(key, signing.encode(), hashlib.sha256).digest())


def token(secret, user="alice", admin=False, buckets=None, cluster=CLUSTER_RO, ttl=600, **extra):
    """A user's token: buckets maps a bucket name to its permission bits;
    cluster is the default-cluster ACL (None: no cluster entry)."""
    claims = {"sub": user, "admin": admin, "exp": int(time.time()) + ttl, "iat": int(time.time())}
    claims["clusters"] = [] if cluster is None else [{"id": "", "perm": str(cluster)}]
    claims["buckets"] = [
        {"bck": {"name": name, "provider": "ais", "namespace": {"uuid": "", "name": ""}}, "perm": str(perm)}
        for name, perm in (buckets or {}).items()
    ]
    claims.update(extra)
    return sign(claims, secret)


def bearer(tok):
    return {"Authorization": "Bearer " + tok}
