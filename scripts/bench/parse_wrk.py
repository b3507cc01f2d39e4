#!/usr/bin/env python3
"""Turns one `wrk --latency` output into a JSON line: name, req/s, p50/p99 in ms, errors, and,
given the server's CPU clock ticks during the run and the ticks per second, its CPU time per
request in microseconds."""

import json
import re
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unreadable latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def main(name, path, cpu_ticks=None, ticks_per_second=None):
    text = open(path, encoding="utf-8").read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    requests = re.search(r"(\d+) requests in", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        sys.exit(f"{path}: not a wrk --latency output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    cpu_us = None
    if cpu_ticks is not None and requests and int(requests.group(1)) > 0:
        cpu_us = int(cpu_ticks) / int(ticks_per_second) * 1e6 / int(requests.group(1))
    print(json.dumps({
        "name": name,
        "rps": float(rps.group(1)),
        "p50_ms": ms(p50.group(1)),
        "p99_ms": ms(p99.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "cpu_us": cpu_us,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:5])
