#!/usr/bin/env python3
"""Part of scripts/image-test.sh: waits for /readyz of the server running from the unpacked image,
then sends one AdmissionReview to /validate over TLS (the dev CA trusted, TLS 1.2 or newer,
loopback only) and checks the answer: HTTP 200, the review's uid, a deny with a message. Prints
the server's log and exits non-zero on any failure."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import time
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): read its state.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def wait_ready(admin: int, pid: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError("the server exited before it was ready")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"/readyz on 127.0.0.1:{admin} never answered 200")


class LoopbackTLS(http.client.HTTPConnection):
    """HTTPS to 127.0.0.1 with the certificate checked for `localhost` (the dev certificate's name),
    so the connection cannot resolve anywhere but loopback."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        super().__init__("127.0.0.1", port, timeout=10)
        self.context = context

    def connect(self) -> None:
        plain = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock = self.context.wrap_socket(plain, server_hostname="localhost")


def review(port: int, ca: str, path: str) -> None:
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    connection = LoopbackTLS(port, context)
    body = Path(path).read_bytes()
    sent = json.loads(body)
    connection.request("POST", "/validate?timeout=10s", body=body, headers={"Content-Type": "application/json"})
    version = connection.sock.version()
    answer = connection.getresponse()
    text = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"/validate answered {answer.status}: {text[:200]!r}")
    reply = json.loads(text)["response"]
    if reply["uid"] != sent["request"]["uid"]:
        raise RuntimeError(f"the answer has uid {reply['uid']}, the review {sent['request']['uid']}")
    if reply["allowed"] or not reply.get("status", {}).get("message"):
        raise RuntimeError(f"expected a deny with a message, got {reply}")
    print(f"probe: {version}, denied: {reply['status']['message'][:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--review", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    try:
        wait_ready(args.admin, args.pid)
        review(args.port, args.ca, args.review)
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        sys.stderr.write(Path(args.log).read_text(errors="replace")[-4000:])
        sys.exit(f"probe: {error}")


if __name__ == "__main__":
    main()
