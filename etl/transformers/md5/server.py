#!/usr/bin/python3
"""md5 transformer: an object's bytes -> its lowercase hex MD5 digest
(text/plain), as AIStore's transformer_md5 image answers."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import transformer_http  # noqa: E402


def md5_hex(data):
    return hashlib.md5(data).hexdigest().encode()


if __name__ == "__main__":
    transformer_http.serve("md5", md5_hex, "text/plain")
