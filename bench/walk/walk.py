#!/usr/bin/python3
"""walk.py BIN_DIR ROOT WALK_FILE... - the source files a traced request crossed.

Each WALK_FILE holds one process's calls and returns (trace.c); the binary is
found from the process name recorded beside it (PID.exe). Prints, per process,
the files in the order they were first entered (a leaf calls no other
file: a helper such as common/buf.c), and the calls between files
that come back into a file the walk had already left (a cycle in the
file-to-file call graph), which is what "a file visited twice" means here.
"""
import os
import struct
import subprocess
import sys

EV = struct.Struct("<QII")


def symbolize(binary, addrs, root):
    out = subprocess.run(["addr2line", "-f", "-e", binary] + [hex(a) for a in addrs],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    files = {}
    for i, a in enumerate(addrs):
        fn, loc = out[2 * i], out[2 * i + 1]
        path = loc.rsplit(":", 1)[0]
        files[a] = (os.path.relpath(path, root) if path.startswith(root) else path, fn)
    return files


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
    for wf in sys.argv[3:]:
        data = open(wf, "rb").read()
        evs = [EV.unpack_from(data, i) for i in range(0, len(data) - EV.size + 1, EV.size)]
        if not evs:
            continue
        exe = open(wf[:-len(".walk")] + ".exe").read().strip()
        files = symbolize(os.path.join(bindir, exe), sorted({e[0] for e in evs}), root)
        order, edges, stacks = [], set(), {}
        for fn, tid, enter in evs:
            f = files[fn][0]
            st = stacks.setdefault(tid, [])
            if enter:
                if st and st[-1] != f:
                    edges.add((st[-1], f))
                st.append(f)
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
        back = cycles(edges)
        print(f"  files entered again through a cycle: {len(back)}")
        for a, b in back:
            print(f"    {a} -> {b}")
    print(f"total: {len(total)} distinct files")


if __name__ == "__main__":
    main()
