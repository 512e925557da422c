#!/usr/bin/python3
"""hello_world transformer: reads the object (or, with ARG_TYPE=fqn, its
file) and answers "Hello World!", as AIStore's transformer_hello_world does."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import transformer_http  # noqa: E402


def hello(_data):
    return b"Hello World!"


if __name__ == "__main__":
    transformer_http.serve("hello_world", hello)
