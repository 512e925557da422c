#!/usr/bin/env python3
"""ws-latency.py - where one inline object's time goes over ws://, from
`perf script -F tid,time,event,trace` of syscall tracepoints (sendto and
sendmsg entries, recvfrom exits) of the load generator, the target and the
ETL's processes (bench/py-ws-cost.sh, LATENCY=1).

With one connection the objects follow one another, so each is the chain
  loadgen sends -> target reads the request -> target sends the control
  message -> the ETL reads it -> the ETL sends the answer -> the target's
  reader reads it -> the target sends the reply -> loadgen reads it
and the medians of its steps say where the time goes. With two
connections the ETL's busy spans (control message read to answer sent)
say whether the objects in flight at once are on two processes.

Usage: ws-latency.py PERF_SCRIPT_OUT TARGET_PID ETL_PID...  (the load
generator's lines prefixed with L; the others' threads read from /proc)
"""
import os
import statistics
import sys


def parse(path):
    ev = []
    with open(path) as f:
        for line in f:
            parts = line.split(None, 3)
            if len(parts) < 4:
                continue
            lg = parts[0].startswith("L")
            try:
                tid, t = int(parts[0].lstrip("L")), float(parts[1].rstrip(":"))
            except ValueError:
                continue
            name = parts[2].rstrip(":").split(":")[-1]
            rest = parts[3]
            if name == "sys_exit_recvfrom":
                ret = int(rest.strip(), 16)
                if ret >= 1 << 63:
                    continue  # an error (EAGAIN): nothing read
                if ret == 0:
                    continue
            ev.append((t, -tid if lg else tid, name))
    ev.sort()
    return ev


def main():
    path, tg, etls = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
    tids = {}  # tid -> (role, pid): the target's and the ETL's threads, from /proc
    for role, pids in (("T", [tg]), ("E", etls)):
        for p in pids:
            try:
                for t in os.listdir(f"/proc/{p}/task"):
                    tids[int(t)] = (role, p)
            except OSError:
                pass
    ev = [(t, tid, n, ("L", 0) if tid < 0 else tids.get(tid, ("?", 0))) for t, tid, n in parse(path)]
    steps = ["loadgen->target", "target: request to control msg", "target->ETL", "ETL: control msg to answer",
             "ETL->target reader", "target: answer to reply", "target->loadgen", "loadgen: reply to next request"]
    want = [("L", "sys_enter_sendto"), ("T", "sys_exit_recvfrom"), ("T", "sys_enter_sendto"),
            ("E", "sys_exit_recvfrom"), ("E", "sys_enter_sendto"), ("T", "sys_exit_recvfrom"),
            ("T", "sys_enter_sendmsg"), ("L", "sys_exit_recvfrom")]
    # the chain: walk the events, taking each wanted one in turn
    chains, cur, i = [], [], 0
    for t, tid, n, (role, _) in ev:
        if (role, n) == want[i]:
            cur.append(t)
            i += 1
            if i == len(want):
                chains.append(cur)
                cur, i = [], 0
        elif (role, n) == want[0] and i > 0:
            cur, i = [t], 1  # a new request before the chain closed: start over
    if len(chains) > 10:
        print(f"one object's path, median of {len(chains)} chains (µs):")
        tot = []
        for k, name in enumerate(steps[:-1]):
            d = [(c[k + 1] - c[k]) * 1e6 for c in chains]
            print(f"  {name:34s} {statistics.median(d):8.1f}")
        nxt = [(chains[j + 1][0] - chains[j][-1]) * 1e6 for j in range(len(chains) - 1)]
        print(f"  {steps[-1]:34s} {statistics.median(nxt):8.1f}")
        tot = [(c[-1] - c[0]) * 1e6 for c in chains]
        print(f"  {'request sent to reply read':34s} {statistics.median(tot):8.1f}")
    # the ETL's busy spans per process: the control message read to the answer sent, per thread
    spans, open_ = [], {}
    for t, tid, n, (role, p) in ev:
        if role != "E":
            continue
        if n == "sys_exit_recvfrom" and tid not in open_:
            open_[tid] = (t, p)
        elif n == "sys_enter_sendto" and tid in open_:
            s, p = open_.pop(tid)
            spans.append((s, t, p))
    spans.sort()
    two, same, alone = 0, 0, 0
    for k, (s, e, p) in enumerate(spans):
        other = [q for (s2, e2, q) in spans[max(0, k - 8):k] if e2 > s]  # begun before, still running
        if not other:
            alone += 1
        elif any(q != p for q in other):
            two += 1
        else:
            same += 1
    n = len(spans) or 1
    per = {}
    for s, e, p in spans:
        per[p] = per.get(p, 0) + 1
    print(f"ETL spans: {len(spans)} objects; began while another was in the ETL: on the other process "
          f"{two} ({100 * two / n:.0f}%), on the same process {same} ({100 * same / n:.0f}%); alone {alone} "
          f"({100 * alone / n:.0f}%); per process: {' / '.join(str(per[p]) for p in sorted(per))}")
    if spans:
        print(f"  median span in the ETL: {statistics.median([(e - s) * 1e6 for s, e, _ in spans]):.1f} µs")


if __name__ == "__main__":
    main()
