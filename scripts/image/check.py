#!/usr/bin/env python3
"""Part of scripts/image-test.sh: reads the OCI archive scripts/image.sh wrote, checks every blob
against its digest and every layer against its diff_id, unpacks the layers in order into a root
directory with GNU tar (no daemon), and checks that the image agrees with the Dockerfile, the
chart and the SBOM. Prints the entrypoint (Entrypoint + Cmd), Env and User as JSON for the runner.
Exits non-zero with one line per disagreement."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
problems: list[str] = []


def expect(condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


def read_blob(layout: Path, descriptor: dict) -> bytes:
    algorithm, digest = descriptor["digest"].split(":", 1)
    data = (layout / "blobs" / algorithm / digest).read_bytes()
    if hashlib.sha256(data).hexdigest() != digest or len(data) != descriptor["size"]:
        sys.exit(f"check: blob {descriptor['digest']} does not match its digest or size")
    return data


def unpack(archive: Path, root: Path, scratch: Path) -> tuple[dict, dict]:
    """The archive's index, manifest and config; the layers unpacked into `root`."""
    with tarfile.open(archive) as tar:
        # Python's extraction filter where it has one (3.11.4+); the archive is our own build's.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(scratch, **safe)
    index = json.loads((scratch / "index.json").read_text())
    expect(len(index["manifests"]) == 1, "the archive should hold exactly one image")
    manifest_descriptor = index["manifests"][0]
    manifest = json.loads(read_blob(scratch, manifest_descriptor))
    config = json.loads(read_blob(scratch, manifest["config"]))
    expect(len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]), "layers and diff_ids differ in number")
    root.mkdir(parents=True)
    for number, (layer, diff_id) in enumerate(zip(manifest["layers"], config["rootfs"]["diff_ids"])):
        compressed = read_blob(scratch, layer)
        plain = gzip.decompress(compressed)
        expect(f"sha256:{hashlib.sha256(plain).hexdigest()}" == diff_id, f"layer {number} does not match its diff_id")
        tar_file = scratch / f"layer{number}.tar"
        tar_file.write_bytes(plain)
        subprocess.run(["tar", "-xf", str(tar_file), "-C", str(root), "--numeric-owner", "--same-owner",
                        "--same-permissions"], check=True)
    return manifest_descriptor, config


def dockerfile() -> dict[str, str]:
    """The final stage's instructions of the Dockerfile (the last occurrence of each)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    final = re.split(r"^FROM\s", text, flags=re.M)[-1]
    found = {}
    for line in final.splitlines():
        match = re.match(r"^(USER|EXPOSE|ENTRYPOINT|CMD|WORKDIR|ENV)\s+(.*)$", line.strip())
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def check_dockerfile(config: dict) -> None:
    docker = dockerfile()
    settings = config["config"]
    expect(docker.get("USER") == settings["User"], f"Dockerfile USER {docker.get('USER')} != image {settings['User']}")
    expect(json.loads(docker.get("ENTRYPOINT", "null")) == settings["Entrypoint"], "Dockerfile ENTRYPOINT != image's")
    expect(json.loads(docker.get("CMD", "null")) == settings["Cmd"], "Dockerfile CMD != image's")
    expect(docker.get("WORKDIR") == settings["WorkingDir"], "Dockerfile WORKDIR != image's")
    exposed = sorted(f"{p}/tcp" for p in docker.get("EXPOSE", "").split())
    expect(exposed == sorted(settings["ExposedPorts"]), f"Dockerfile EXPOSE {exposed} != image's")
    expect(sorted(docker.get("ENV", "").split()) == sorted(settings["Env"]), "Dockerfile ENV != image's")
    stages = re.findall(r"^FROM\s+(\S+)", (REPO / "Dockerfile").read_text(), re.M)
    expect(stages[-1] == "scratch", f"the Dockerfile's image should start FROM scratch, not {stages[-1]}")
    expect("scripts/image/build.py rootfs" in (REPO / "Dockerfile").read_text(),
           "the Dockerfile should assemble its root with scripts/image/build.py rootfs")


def check_chart_and_labels(descriptor: dict, config: dict, commit: str) -> str:
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    chart = REPO / "charts/qcloud-ingress-webhook"
    app_version = re.search(r'^appVersion:\s*"?([^"\s]+)"?', (chart / "Chart.yaml").read_text(), re.M).group(1)
    values = (chart / "values.yaml").read_text()
    repository = re.search(r"^image:\n(?:\s+#.*\n|\s+\w+:.*\n)*?\s+repository:\s*(\S+)", values, re.M).group(1)
    tag = re.search(r"^image:\n(?:\s+#.*\n|\s+\w+:.*\n)*?\s+tag:\s*(\S+)", values, re.M).group(1).strip('"')
    ref = descriptor["annotations"]["org.opencontainers.image.ref.name"]
    expect(f"{repository}:{tag or app_version}" == f"qcloud-ingress-webhook:{ref}",
           f"the chart's default image {repository}:{tag or app_version} is not the one built, qcloud-ingress-webhook:{ref}")
    expect(ref == version, f"the image is tagged {ref}, the crate is {version}")
    labels = config["config"]["Labels"]
    expect(labels.get("org.opencontainers.image.revision") == commit, f"revision label {labels.get('org.opencontainers.image.revision')}")
    expect(labels.get("org.opencontainers.image.version") == version, "version label")
    source = os.environ.get("QIW_IMAGE_SOURCE", "")
    expect(labels.get("org.opencontainers.image.source", "") == source, "source label is not QIW_IMAGE_SOURCE")
    return version


def check_root(root: Path, config: dict) -> list[str]:
    """The user, the files the binary and the chart need; returns the Debian packages shipped."""
    passwd = (root / "etc/passwd").read_text().splitlines()
    group = (root / "etc/group").read_text().splitlines()
    uid, gid = config["config"]["User"].split(":")
    expect(any(line.split(":")[2:4] == [uid, gid] for line in passwd), f"/etc/passwd has no user {uid}:{gid}")
    expect(any(line.split(":")[2] == gid for line in group), f"/etc/group has no group {gid}")
    home = root / config["config"]["WorkingDir"].lstrip("/")
    expect(home.is_dir() and home.stat().st_uid == int(uid), f"{home} is not a directory of {uid}")
    tmp = root / "tmp"
    expect(tmp.is_dir() and tmp.stat().st_mode & 0o7777 == 0o1777, "/tmp is not a sticky world-writable directory")
    binary = root / config["config"]["Entrypoint"][0].lstrip("/")
    expect(binary.is_file() and binary.stat().st_mode & 0o111, f"{binary} is not an executable file")
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    expect(bundle.is_file() and bundle.read_text().count("BEGIN CERTIFICATE") > 100, "no CA bundle")
    packages = sorted(p.name for p in (root / "usr/share/doc").iterdir())
    for package in packages:
        expect((root / "usr/share/doc" / package / "copyright").is_file(), f"no copyright file of {package}")
    return packages


def check_sbom(sbom_path: Path, packages: list[str], version: str) -> None:
    sbom = json.loads(sbom_path.read_text())
    expect(sbom.get("bomFormat") == "CycloneDX", "the SBOM is not CycloneDX")
    names: dict[str, list[dict]] = {}
    for component in sbom["components"]:
        names.setdefault(component["name"], []).append(component)
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text())
    root_ref = sbom["metadata"]["component"]["bom-ref"]
    expect(sbom["metadata"]["component"]["version"] == version, "the SBOM names another version")
    direct = next(d["dependsOn"] for d in sbom["dependencies"] if d["ref"] == root_ref)
    for dependency in manifest["dependencies"]:
        # The version this crate uses is the one among those listed that the root depends on.
        used = [c for c in names.get(dependency, []) if c["purl"] in direct]
        expect(len(used) == 1, f"the SBOM does not list the direct dependency {dependency} once")
        for component in used:
            expect(component["purl"] == f"pkg:cargo/{dependency}@{component['version']}", f"purl of {dependency}")
            expect(bool(component.get("licenses")), f"no licence for {dependency}")
    for dev_only in set(manifest["dev-dependencies"]) - set(manifest["dependencies"]):
        if dev_only in ("rstest", "proptest", "criterion"):
            expect(dev_only not in names, f"the SBOM lists the dev-dependency {dev_only}")
    for package in packages:
        expect(any(c["purl"].startswith(f"pkg:deb/debian/{package}@") for c in sbom["components"]),
               f"the SBOM lacks the Debian package {package}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archive")
    parser.add_argument("root")
    parser.add_argument("--commit", required=True)
    args = parser.parse_args()
    archive = Path(args.archive)
    with tempfile.TemporaryDirectory() as scratch:
        descriptor, config = unpack(archive, Path(args.root), Path(scratch))
    check_dockerfile(config)
    version = check_chart_and_labels(descriptor, config, args.commit)
    packages = check_root(Path(args.root), config)
    check_sbom(Path(str(archive).removesuffix(".oci.tar") + ".cdx.json"), packages, version)
    if problems:
        sys.exit("check: " + "\ncheck: ".join(problems))
    settings = config["config"]
    json.dump({"entrypoint": settings["Entrypoint"], "cmd": settings["Cmd"], "env": settings["Env"],
               "user": settings["User"]}, sys.stdout)


if __name__ == "__main__":
    main()
