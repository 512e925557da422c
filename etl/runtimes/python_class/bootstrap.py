#!/usr/bin/env python3
"""bootstrap.py - runs an ETL class sent by the AIStore SDK's
@etl.init_class (image aistorage/runtime_python) as a local process.

The class comes cloudpickled and base64-encoded in ETL_CLASS_PAYLOAD, or,
when it is too large for one environment variable, in the file that
ETL_CLASS_PAYLOAD_FILE names (the target writes it), and extends one of the SDK's webservers (aistore.sdk.etl.webserver):
HTTPMultiThreadedServer runs here, in-process; FastAPIServer under uvicorn and
FlaskServer under gunicorn, NUM_WORKERS worker processes each loading the
class from server.py beside this file. Every kind listens where the target
says (--listen/--port), never on the SDK's default 0.0.0.0:8000: many ETLs
share this host. Packages (PACKAGES) are installed by the target before this
starts (it runs in the runtime's venv, which has aistore[etl]); nothing here
installs anything.
"""
import argparse
import base64
import logging
import os
import sys

log = logging.getLogger("bootstrap")
DEFAULT_WORKERS = 2  # the SDK's image starts 6; a small host shares its cores among ETLs


def read_payload():
    """ETL_CLASS_PAYLOAD's value, or the file ETL_CLASS_PAYLOAD_FILE names."""
    path = os.environ.get("ETL_CLASS_PAYLOAD_FILE", "")
    if path:
        try:
            with open(path, encoding="ascii") as f:
                return f.read()
        except (OSError, ValueError) as e:
            sys.exit(f"bootstrap: cannot read ETL_CLASS_PAYLOAD_FILE {path}: {e}")
    return os.environ.get("ETL_CLASS_PAYLOAD", "")


def load_class():
    """The ETLServer subclass in the payload; exits with the reason if it does not load."""
    import cloudpickle
    from aistore.sdk.etl.webserver.base_etl_server import ETLServer

    payload = read_payload()
    if not payload:
        sys.exit("bootstrap: ETL_CLASS_PAYLOAD is not set (the SDK's init_class sends it)")
    try:
        cls = cloudpickle.loads(base64.b64decode(payload.encode()))
    except Exception as e:  # pylint: disable=broad-except
        sys.exit(
            f"bootstrap: cannot load the ETL class: {type(e).__name__}: {e} "
            f"(this runtime is Python {sys.version_info.major}.{sys.version_info.minor}; "
            "a class pickled by another Python version or needing a missing package does not load)"
        )
    if not isinstance(cls, type) or not issubclass(cls, ETLServer):
        sys.exit(f"bootstrap: {cls!r} is not a subclass of aistore.sdk.etl.webserver's ETLServer")
    return cls


def instantiate(cls):
    try:
        return cls()
    except Exception as e:  # pylint: disable=broad-except
        log.exception("cannot instantiate %s", cls.__name__)
        sys.exit(f"bootstrap: {cls.__name__}() failed: {type(e).__name__}: {e}")


def workers():
    raw = os.environ.get("NUM_WORKERS", "") or str(DEFAULT_WORKERS)
    try:
        n = int(raw)
    except ValueError:
        sys.exit(f"bootstrap: NUM_WORKERS={raw!r} is not a number")
    if n < 1:
        sys.exit(f"bootstrap: NUM_WORKERS={n}: at least 1")
    return n


def main():
    from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer
    from aistore.sdk.etl.webserver.flask_server import FlaskServer
    from aistore.sdk.etl.webserver.http_multi_threaded_server import HTTPMultiThreadedServer

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")

    cls = load_class()
    server = instantiate(cls)  # fails here, once, for a class whose __init__ raises
    here = os.path.dirname(os.path.realpath(__file__))
    n = workers()
    if isinstance(server, HTTPMultiThreadedServer):
        server.host, server.port = a.listen, a.port
        log.info("%s (HTTPMultiThreadedServer) in-process on %s:%d", cls.__name__, a.listen, a.port)
        server.start()
        return
    if isinstance(server, FastAPIServer):
        # the SDK image's uvicorn flags, our address
        cmd = ["-m", "uvicorn", "server:app", "--app-dir", here, "--host", a.listen, "--port", str(a.port),
               "--workers", str(n), "--log-level", "info", "--ws-max-size", "17179869184",
               "--ws-ping-interval", "0", "--ws-ping-timeout", "86400", "--no-access-log"]
    elif isinstance(server, FlaskServer):
        cmd = ["-m", "gunicorn", "server:app", "--pythonpath", here, "--bind", f"{a.listen}:{a.port}",
               "--workers", str(n), "--log-level", "info"]
    else:
        sys.exit(f"bootstrap: {cls.__name__} extends none of FastAPIServer, FlaskServer, HTTPMultiThreadedServer")
    log.info("%s (%s) with %d worker(s) on %s:%d", cls.__name__, cmd[1], n, a.listen, a.port)
    sys.stdout.flush()
    # "python -m": the venv's own uvicorn/gunicorn, whatever its scripts' paths say
    os.execv(sys.executable, [sys.executable] + cmd)


if __name__ == "__main__":
    main()
