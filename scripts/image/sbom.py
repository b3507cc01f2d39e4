#!/usr/bin/env python3
"""A CycloneDX 1.5 SBOM (JSON) of the image: the Rust crates linked into the binary and the
Debian packages of the runtime root.

The crates are those `cargo metadata --locked` resolves for x86_64 Linux, reachable from this
crate through normal dependencies (dev- and build-dependencies are not in the binary); features
are resolved for the whole workspace, so a crate only a test enables may be listed too. Each has
its purl (pkg:cargo/name@version), its licence expression and the sha256 Cargo.lock holds.
Deterministic: components sorted by purl, the timestamp is the commit's time, the serial number
is derived from the commit, no tool versions. Standard library only (tomllib: Python 3.11).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = "x86_64-unknown-linux-gnu"


def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", TARGET],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout
    return json.loads(out)


def lock_checksums() -> dict[tuple[str, str], str]:
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    return {(p["name"], p["version"]): p["checksum"] for p in lock["package"] if "checksum" in p}


def purl(package: dict) -> str:
    return f"pkg:cargo/{package['name']}@{package['version']}"


def linked(metadata: dict) -> tuple[dict, list[dict], dict[str, list[str]]]:
    """The root package, the crates it links (normal dependencies, transitively) and the
    dependency edges between them, by package id."""
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    root = metadata["resolve"]["root"]
    edges: dict[str, list[str]] = {}
    seen, queue = {root}, [root]
    while queue:
        current = queue.pop()
        normal = [
            d["pkg"] for d in nodes[current]["deps"] if any(k["kind"] is None for k in d["dep_kinds"])
        ]
        edges[current] = sorted(set(normal))
        for dep in normal:
            if dep not in seen:
                seen.add(dep)
                queue.append(dep)
    crates = [packages[i] for i in seen if i != root]
    return packages[root], crates, {packages[k]["id"]: v for k, v in edges.items()}


def licenses(package: dict) -> list[dict]:
    if package.get("license"):
        return [{"expression": package["license"]}]
    if package.get("license_file"):
        return [{"license": {"name": f"see {package['license_file']} in the crate"}}]
    return []


def crate_component(package: dict, checksums: dict[tuple[str, str], str]) -> dict:
    component = {
        "type": "library",
        "bom-ref": purl(package),
        "name": package["name"],
        "version": package["version"],
        "purl": purl(package),
        "licenses": licenses(package),
    }
    checksum = checksums.get((package["name"], package["version"]))
    if checksum:
        component["hashes"] = [{"alg": "SHA-256", "content": checksum}]
    return component


def deb_component(deb: dict) -> dict:
    ref = f"pkg:deb/debian/{deb['name']}@{deb['version']}?arch={deb['architecture']}&distro=debian-12"
    return {
        "type": "library",
        "bom-ref": ref,
        "name": deb["name"],
        "version": deb["version"],
        "purl": ref,
        "hashes": [{"alg": "SHA-256", "content": deb["sha256"]}],
        "properties": [{"name": "qiw:source", "value": "debian package of the runtime root"}],
    }


def bom(args: argparse.Namespace) -> dict:
    metadata = cargo_metadata()
    root, crates, edges = linked(metadata)
    checksums = lock_checksums()
    by_id = {p["id"]: p for p in metadata["packages"]}
    components = [crate_component(p, checksums) for p in crates]
    components += [deb_component(d) for d in json.loads(args.debian)]
    components.sort(key=lambda c: c["purl"])
    dependencies = [
        {"ref": purl(by_id[source]), "dependsOn": sorted(purl(by_id[t]) for t in targets)}
        for source, targets in edges.items()
    ]
    dependencies.sort(key=lambda d: d["ref"])
    created = datetime.datetime.fromtimestamp(args.mtime, datetime.UTC)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{purl(root)}#{args.commit}')}",
        "version": 1,
        "metadata": {
            "timestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "component": {
                "type": "application",
                "bom-ref": purl(root),
                "name": root["name"],
                "version": args.version,
                "purl": purl(root),
                "licenses": licenses(root),
                "properties": [{"name": "qiw:commit", "value": args.commit}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--mtime", type=int, required=True)
    parser.add_argument("--debian", default="[]", help="JSON list of {name, version, architecture, sha256}")
    args = parser.parse_args()
    json.dump(bom(args), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
