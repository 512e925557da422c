#!/usr/bin/python3
"""walk.py BIN_DIR ROOT WALK_FILE... - the source files a traced request crossed.

Each WALK_FILE holds one process's calls and returns (trace.c); the binary is
found from the process name recorded beside it (PID.exe). Prints, per process,
the files in the order they were first entered (a leaf calls no other
file: a helper such as common/buf.c), and the calls between files
that come back into a file the walk had already left (a cycle in the
file-to-file call graph), which is what "a file visited twice" means here.
With WALK_FUNCS=1 it also prints, under each file, the functions of it that
were entered (how many times) and the function of another file that first
called each: what a file is entered for (to hear no, to be forwarded, or for
a flag test) is read there.
A function defined in a header (a static inline: a flag test, a getter) is
counted in the file of its call site: it is compiled into that file, and an
optimised build inlines it (this -O0 build calls it out of line, and
addr2line names the header for some of those copies and the calling file for
others, so a function is placed by its call site when its name is found in
a header).
"""
import glob
import os
import re
import struct
import subprocess
import sys

EV = struct.Struct("<QQII")


def symbolize(binary, addrs, root):
    if not addrs:
        return {}
    out = subprocess.run(["addr2line", "-f", "-e", binary] + [hex(a) for a in addrs],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    files = {}
    for i, a in enumerate(addrs):
        fn, loc = out[2 * i], out[2 * i + 1]
        path = loc.rsplit(":", 1)[0]
        files[a] = (os.path.relpath(path, root) if path.startswith(root) else path, fn)
    return files


def header_inlines(root):
    """The names of the static inline functions the project's headers define."""
    names = set()
    for h in glob.glob(os.path.join(root, "*", "*.h")):
        names.update(re.findall(r"^static inline [^(;=]*?\b(\w+)\(", open(h).read(), re.M))
    return names


def cycles(edges):
    """Edges (a, b) that close a cycle: b reaches a."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reaches(src, dst):
        seen, todo = set(), [src]
        while todo:
            n = todo.pop()
            if n == dst:
                return True
            if n not in seen:
                seen.add(n)
                todo.extend(graph.get(n, ()))
        return False
    return sorted((a, b) for a, b in edges if reaches(b, a))


def main():
    bindir, root = sys.argv[1], os.path.realpath(sys.argv[2])
    total = set()
    inlines = header_inlines(root)
    for wf in sys.argv[3:]:
        data = open(wf, "rb").read()
        evs = [EV.unpack_from(data, i) for i in range(0, len(data) - EV.size + 1, EV.size)]
        if not evs:
            continue
        exe = open(wf[:-len(".walk")] + ".exe").read().strip()
        binary = os.path.join(bindir, exe)
        files = symbolize(binary, sorted({e[0] for e in evs}), root)
        sites = symbolize(binary, sorted({e[1] for e in evs if files[e[0]][1] in inlines}), root)
        order, edges, stacks = [], set(), {}
        funcs = {}  # file -> {function: [times entered, first caller from another file]}
        for fn, site, tid, enter in evs:
            f, name = files[fn]
            st = stacks.setdefault(tid, [])
            if name in inlines:  # a header's inline called from another: the caller's file
                f = st[-1][0] if sites[site][0].endswith(".h") and st else sites[site][0]
            if enter:
                if st and st[-1][0] != f:
                    edges.add((st[-1][0], f))
                caller = st[-1] if st and st[-1][0] != f else None
                rec = funcs.setdefault(f, {}).setdefault(name, [0, None])
                rec[0] += 1
                if rec[1] is None and caller:
                    rec[1] = f"{caller[1]} ({caller[0]})"
                st.append((f, name))
                if f not in order:
                    order.append(f)
            elif st:
                st.pop()
        total.update(order)
        callers = {a for a, _ in edges}
        print(f"{exe}: {len(order)} files ({len(order) - len(callers)} of them leaves, calling no other file), "
              f"{len(evs) // 2} calls")
        for f in order:
            print(f"  {f}{'' if f in callers else '  (leaf)'}")
            if os.environ.get("WALK_FUNCS") == "1":
                for name, (n, caller) in funcs[f].items():
                    print(f"      {name} x{n}{'  <- ' + caller if caller else ''}")
        back = cycles(edges)
        print(f"  files entered again through a cycle: {len(back)}")
        for a, b in back:
            print(f"    {a} -> {b}")
    print(f"total: {len(total)} distinct files")


if __name__ == "__main__":
    main()
