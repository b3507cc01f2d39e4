#!/usr/bin/env python3
"""Per-thread CPU and run-queue waits of the webhook (and the scale harness) while a benchmark runs.

    scripts/bench/threads.py record OUT.jsonl &   # start before the benchmark; ends with the webhook
    scripts/bench/threads.py show OUT.jsonl [FROM_S TO_S]

`record` finds the `qcloud-ingress-webhook serve` process (and a `scale-*` test harness, if one
runs), then every 250 ms reads each thread's /proc/PID/task/TID/schedstat (time on the CPU, time
waiting on the run queue) and the webhook's `review_duration_seconds` histogram from its admin
port. `show` prints, per 250 ms window, every thread that ran or waited more than 5 ms in it
(harness threads start with `H:`), then the histogram of the reviews answered between FROM_S and
TO_S (seconds from the start of the recording). This is how the re-list stalls of issue #30 were
traced to the harness's client (BENCHMARKS.md).
"""

import glob
import json
import re
import sys
import time
import urllib.request


def find_processes():
    webhook = harness = admin = None
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = open(path, "rb").read().split(b"\0")
        except OSError:
            continue
        pid = path.split("/")[2]
        if argv[0].endswith(b"qcloud-ingress-webhook") and b"serve" in argv:
            webhook = pid
            if b"--admin-listen" in argv:
                admin = argv[argv.index(b"--admin-listen") + 1].decode()
        elif b"/scale-" in argv[0]:
            harness = pid
    return webhook, harness, admin


def threads_of(pid, prefix):
    threads = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            stat = open(task + "/stat").read()
            on_cpu, waiting, _ = map(int, open(task + "/schedstat").read().split())
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        threads[task.split("/")[-1]] = [prefix + name, on_cpu, waiting]
    return threads


def record(out_path):
    webhook = None
    while webhook is None:
        webhook, harness, admin = find_processes()
        time.sleep(0.2)
    with open(out_path, "w") as out:
        while glob.glob(f"/proc/{webhook}/task"):
            threads = threads_of(webhook, "")
            if harness:
                threads.update(threads_of(harness, "H:"))
            histogram = None
            if admin:
                try:
                    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=1).read().decode()
                    histogram = [
                        line
                        for line in text.splitlines()
                        if line.startswith("qcloud_ingress_webhook_review_duration_seconds_bucket")
                        and 'endpoint="validate"' in line
                    ]
                except OSError:
                    pass
            out.write(json.dumps({"t": time.time(), "threads": threads, "histogram": histogram}) + "\n")
            out.flush()
            time.sleep(0.25)


def buckets(row):
    counts = {}
    for line in row["histogram"] or []:
        le = re.search(r'le="([^"]+)"', line).group(1)
        counts[le] = counts.get(le, 0) + float(line.split()[-1])
    return counts


def show(path, window):
    rows = [json.loads(line) for line in open(path)]
    if not rows:
        return
    t0 = rows[0]["t"]
    for before, row in zip(rows, rows[1:]):
        parts = []
        for tid, (name, on_cpu, waiting) in sorted(row["threads"].items()):
            if tid not in before["threads"]:
                continue
            ran = (on_cpu - before["threads"][tid][1]) / 1e6
            waited = (waiting - before["threads"][tid][2]) / 1e6
            if ran > 5 or waited > 5:
                parts.append(f"{name[:15]} ran {ran:.0f} waited {waited:.0f}")
        if parts:
            print(f"{row['t'] - t0:7.2f}s  " + " | ".join(parts))
    if window:
        start, end = (min(rows, key=lambda r: abs(r["t"] - t0 - s)) for s in window)
        first, last = buckets(start), buckets(end)
        total = last.get("+Inf", 0) - first.get("+Inf", 0)
        print(f"\nreviews answered from {window[0]} s to {window[1]} s: {total:.0f}")
        for le, count in last.items():
            share = (count - first.get(le, 0)) / total * 100 if total else 0
            print(f"  <= {le:>6} s  {share:6.2f}%")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "record":
        record(sys.argv[2])
    elif len(sys.argv) in (3, 5) and sys.argv[1] == "show":
        show(sys.argv[2], tuple(map(float, sys.argv[3:5])) if len(sys.argv) == 5 else None)
    else:
        sys.exit(__doc__)
