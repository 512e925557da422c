#!/usr/bin/python3
"""echo transformer: returns an object's bytes unchanged, as AIStore's
transformer_echo image does; useful to measure the ETL path itself."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import transformer_http  # noqa: E402


def echo(data):
    return data


if __name__ == "__main__":
    transformer_http.serve("echo", echo)
