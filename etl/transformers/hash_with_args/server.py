#!/usr/bin/python3
"""hash_with_args transformer: an object's bytes -> the hex XXH64 digest
seeded with the request's etl_args (an integer), else SEED_DEFAULT, as
AIStore's transformer_hash_with_args image answers."""
import os
import sys

import xxhash

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import transformer_http  # noqa: E402


def default_seed():
    try:
        return int(os.environ.get("SEED_DEFAULT", "0"))
    except ValueError:
        return 0


def hash_with_args(data, etl_args):
    seed = default_seed()
    if etl_args:
        try:
            seed = int(etl_args)
        except ValueError:  # upstream falls back to the default too
            sys.stderr.write(f"hash_with_args: invalid seed {etl_args!r}, using {seed}\n")
    return xxhash.xxh64(data, seed=seed).hexdigest().encode("ascii")


if __name__ == "__main__":
    transformer_http.serve("hash_with_args", hash_with_args, "text/plain", with_args=True)
