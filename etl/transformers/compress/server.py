#!/usr/bin/python3
"""compress transformer: gzip or bz2, compress or decompress, chosen by env
COMPRESS_OPTIONS = {"mode": "compress"|"decompress", "compression":
"gzip"|"bz2"} (defaults: compress, gzip). Any failure answers 500
"Data processing failed", as AIStore's transformer_compress does."""
import bz2
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import transformer_http  # noqa: E402

CODECS = {
    ("compress", "gzip"): gzip.compress,
    ("compress", "bz2"): bz2.compress,
    ("decompress", "gzip"): gzip.decompress,
    ("decompress", "bz2"): bz2.decompress,
}


def options():
    raw = transformer_http.env("COMPRESS_OPTIONS", "{}")
    try:
        opts = json.loads(raw)
    except json.JSONDecodeError as e:
        sys.exit(f"compress: COMPRESS_OPTIONS {raw!r} is not JSON: {e}")
    if not isinstance(opts, dict):
        sys.exit(f"compress: COMPRESS_OPTIONS {raw!r} must be a JSON object")
    key = (opts.get("mode", "compress"), opts.get("compression", "gzip"))
    if key not in CODECS:
        sys.exit(f"compress: unsupported mode {key[0]!r} or compression {key[1]!r}")
    return CODECS[key]


if __name__ == "__main__":
    transformer_http.serve("compress", options(), error_body="Data processing failed")
