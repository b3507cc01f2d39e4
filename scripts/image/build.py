#!/usr/bin/env python3
"""The container image of qcloud-ingress-webhook, built without a container daemon.

Two commands, one recipe:

  rootfs  assembles the runtime root from Debian's own packages, the way distroless images are
          made: the shared libraries the binary links (found with ldd, mapped to their packages
          with dpkg -S, fetched with apt-get download and unpacked with dpkg-deb -x), their
          copyright files, Debian's CA bundle, /etc/passwd and /etc/group with the non-root user
          65532, /tmp and the user's home. The Dockerfile runs this command too.
  oci     does the same, then writes the root and the binary as two layers of an OCI image layout
          and packs it into an OCI archive, plus a CycloneDX SBOM beside it (scripts/image/sbom.py).

Reproducible: every tar entry is sorted, owned by uid/gid 0 (the user's home by 65532) with
mtime = the commit's time; gzip runs with mtime 0 and a fixed level; JSON is written with sorted
keys. The same commit, binary and Debian packages give the same digest. The Debian packages are
the current ones of the release the build machine runs (apt-get download takes the candidate),
so a Debian point release changes the base layer; their versions are in the SBOM.

Only the Python standard library and Debian's own tools (apt-get, dpkg, dpkg-deb, ldd).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NAME = "qcloud-ingress-webhook"
BINARY_PATH = "usr/local/bin/qcloud-ingress-webhook"
UID = GID = 65532
USER = f"{UID}:{GID}"
HOME = "home/nonroot"
# The bundle rustls-native-certs (under kube's rustls-platform-verifier) reads on Linux when a
# kubeconfig names no CA, and that HTTPS calls to Tencent Cloud's API (issue 26) will verify
# against. In-cluster, kube-rs trusts only the service account's ca.crt.
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
# The image config; the Dockerfile says the same (scripts/image-test.sh compares them).
PORTS = ("8443/tcp", "8080/tcp")
ENV = (
    "PATH=/usr/local/bin:/usr/bin:/bin",
    f"SSL_CERT_FILE=/{CA_BUNDLE}",
)
ENTRYPOINT = [f"/{BINARY_PATH}"]
CMD = [
    "serve",
    "--tls-cert=/etc/qcloud-ingress-webhook/tls/tls.crt",
    "--tls-key=/etc/qcloud-ingress-webhook/tls/tls.key",
]
PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
GROUP = "root:x:0:\nnonroot:x:65532:\n"
# glibc reads /etc/hosts (mounted by the kubelet) before DNS only when told to.
NSSWITCH = "hosts: files dns\n"
# Packages shipped for something other than a linked library.
EXTRA_PACKAGES = ("ca-certificates",)


def run(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, cwd=cwd).stdout


def linked_libraries(binary: Path) -> list[str]:
    """Absolute paths of every shared object the binary loads, the loader included (ldd)."""
    paths = []
    for line in run("ldd", str(binary)).splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            paths.append(match.group(1))
        elif "not found" in line:
            sys.exit(f"image: {binary} links a library this machine lacks: {line.strip()}")
    if not paths:
        sys.exit(f"image: ldd found no libraries in {binary} (is it dynamically linked?)")
    return sorted(set(paths))


def owning_package(path: str) -> str:
    """The Debian package that installed `path` (tried as given and with /usr toggled)."""
    candidates = [path, path.removeprefix("/usr") if path.startswith("/usr/") else "/usr" + path]
    for candidate in candidates:
        found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].strip()
    sys.exit(f"image: no Debian package owns {path}")


def download(packages: list[str], cache: Path) -> dict[str, Path]:
    """The .deb of each package's candidate version, from `cache` or else apt-get download."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = {}
    for package in packages:
        policy = run("apt-cache", "policy", package)
        candidate = re.search(r"Candidate:\s*(\S+)", policy)
        if not candidate or candidate.group(1) == "(none)":
            run("apt-get", "update", "-q")
            candidate = re.search(r"Candidate:\s*(\S+)", run("apt-cache", "policy", package))
        if not candidate or candidate.group(1) == "(none)":
            sys.exit(f"image: apt knows no candidate of {package}")
        pattern = f"{package}_{candidate.group(1).replace(':', '%3a')}_*.deb"
        if not sorted(cache.glob(pattern)):
            run("apt-get", "download", "-q", f"{package}={candidate.group(1)}", cwd=cache)
        found = sorted(cache.glob(pattern))
        if not found:
            sys.exit(f"image: apt-get download left no {package} {candidate.group(1)} in {cache}")
        debs[package] = found[0]
    return debs


def deb_field(deb: Path, field: str) -> str:
    return run("dpkg-deb", "-f", str(deb), field).strip()


def copy_from_package(tree: Path, path: str, root: Path) -> None:
    """Copies `path` (absolute, in the package's own layout) from an unpacked package into `root`,
    keeping a symlink a symlink and copying what it points to as well."""
    relative = path.lstrip("/")
    source = tree / relative
    if not source.exists() and not source.is_symlink():
        toggled = relative.removeprefix("usr/") if relative.startswith("usr/") else "usr/" + relative
        if (tree / toggled).exists() or (tree / toggled).is_symlink():
            relative, source = toggled, tree / toggled
        else:
            sys.exit(f"image: {path} is not in the package unpacked at {tree}")
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        link = os.readlink(source)
        target.unlink(missing_ok=True)
        target.symlink_to(link)
        pointed = os.path.normpath(os.path.join("/" + os.path.dirname(relative), link))
        copy_from_package(tree, pointed, root)
    else:
        shutil.copy2(source, target)


def copyright_file(tree: Path, package: str, debs_cache: Path) -> bytes:
    """The package's copyright file; a doc directory that is a symlink to another package's
    (libgcc-s1 -> gcc-12-base) is followed to that package."""
    doc = tree / "usr/share/doc" / package
    if doc.is_symlink():
        other = os.readlink(doc).rstrip("/").split("/")[-1]
        deb = download([other], debs_cache)[other]
        with tempfile.TemporaryDirectory() as unpacked:
            run("dpkg-deb", "-x", str(deb), unpacked)
            return (Path(unpacked) / "usr/share/doc" / other / "copyright").read_bytes()
    return (doc / "copyright").read_bytes()


def write(root: Path, relative: str, text: str | bytes, mode: int = 0o644) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)


def ca_bundle(tree: Path) -> str:
    """What update-ca-certificates writes from the package alone: every certificate of
    /usr/share/ca-certificates, in sorted order (the order of /etc/ca-certificates.conf)."""
    shared = tree / "usr/share/ca-certificates"
    certs = sorted(p for p in shared.rglob("*.crt"))
    if not certs:
        sys.exit("image: the ca-certificates package holds no certificates")
    return "".join(p.read_text().rstrip("\n") + "\n" for p in certs)


def build_rootfs(binary: Path, root: Path, debs_cache: Path) -> list[dict]:
    """Fills `root` with the runtime root (not the binary); returns the Debian packages shipped."""
    libraries = linked_libraries(binary)
    by_package: dict[str, list[str]] = {}
    for library in libraries:
        by_package.setdefault(owning_package(library), []).append(library)
    packages = sorted(set(by_package) | set(EXTRA_PACKAGES))
    debs = download(packages, debs_cache)
    shipped = []
    with tempfile.TemporaryDirectory() as scratch:
        for package in packages:
            tree = Path(scratch) / package
            run("dpkg-deb", "-x", str(debs[package]), str(tree))
            for library in by_package.get(package, []):
                copy_from_package(tree, library, root)
            if package == "ca-certificates":
                write(root, CA_BUNDLE, ca_bundle(tree))
            write(root, f"usr/share/doc/{package}/copyright", copyright_file(tree, package, debs_cache))
            shipped.append(
                {
                    "name": package,
                    "version": deb_field(debs[package], "Version"),
                    "architecture": deb_field(debs[package], "Architecture"),
                    "sha256": hashlib.sha256(debs[package].read_bytes()).hexdigest(),
                }
            )
    write(root, "etc/passwd", PASSWD)
    write(root, "etc/group", GROUP)
    write(root, "etc/nsswitch.conf", NSSWITCH)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / HOME).mkdir(parents=True, exist_ok=True)
    (root / HOME).chmod(0o700)
    os.chown(root / HOME, UID, GID)
    return shipped


def layer(root: Path, mtime: int) -> bytes:
    """A tar of `root`: sorted, uid/gid as on disk only for the user's home (else 0), fixed mtime,
    modes kept (permission bits, sticky /tmp), no user or group names."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
            relative = path.relative_to(root).as_posix()
            info = tar.gettarinfo(str(path), arcname=relative)
            info.mtime = mtime
            info.uid = info.gid = 0
            if relative == HOME:
                info.uid, info.gid = UID, GID
            info.uname = info.gname = ""
            info.mode = path.lstat().st_mode & 0o7777
            if info.isfile():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def canonical(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def labels(args: argparse.Namespace, created: str) -> dict[str, str]:
    found = {
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.title": NAME,
        "org.opencontainers.image.description": "Admission webhook for TKE qcloud (CLB) Ingresses",
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.revision": args.commit,
        "org.opencontainers.image.version": args.version,
        "org.opencontainers.image.ref.name": args.version,
    }
    if args.source:
        found["org.opencontainers.image.source"] = args.source
    return found


def oci_layout(layers: list[bytes], args: argparse.Namespace, layout: Path) -> str:
    """Writes the OCI image layout; returns the manifest digest (the image digest)."""
    created = datetime.datetime.fromtimestamp(args.mtime, datetime.UTC)
    created_text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    compressed = [gzip.compress(tar, compresslevel=9, mtime=0) for tar in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created_text,
        "config": {
            "User": USER,
            "Env": list(ENV),
            "Entrypoint": ENTRYPOINT,
            "Cmd": CMD,
            "WorkingDir": f"/{HOME}",
            "ExposedPorts": {port: {} for port in PORTS},
            "Labels": labels(args, created_text),
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}" for tar in layers],
        },
        "history": [
            {"created": created_text, "created_by": "scripts/image/build.py: Debian runtime root"},
            {"created": created_text, "created_by": f"scripts/image/build.py: /{BINARY_PATH}"},
        ],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(layout, canonical(config))},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(layout, data)}
            for data in compressed
        ],
        "annotations": {"org.opencontainers.image.created": created_text},
    }
    described = blob(layout, canonical(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **described,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": args.version},
            }
        ],
    }
    (layout / "index.json").write_bytes(canonical(index))
    (layout / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    return described["digest"]


def archive(layout: Path, out: Path, mtime: int) -> None:
    """The OCI archive (what skopeo's oci-archive: transport reads): the layout as a sorted tar."""
    with tarfile.open(out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(layout.rglob("*"), key=lambda p: p.relative_to(layout).as_posix()):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(layout).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isfile():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)


def command_rootfs(args: argparse.Namespace) -> None:
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    build_rootfs(Path(args.binary), root, Path(args.debs))
    target = root / BINARY_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(args.binary, target)
    target.chmod(0o755)


def command_oci(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{NAME}-{args.version}"
    with tempfile.TemporaryDirectory() as scratch:
        base, app, layout = (Path(scratch) / part for part in ("base", "app", "layout"))
        base.mkdir()
        shipped = build_rootfs(Path(args.binary), base, Path(args.debs))
        binary = app / BINARY_PATH
        binary.parent.mkdir(parents=True)
        shutil.copyfile(args.binary, binary)
        binary.chmod(0o755)
        for directory in [app / "usr/local/bin", app / "usr/local", app / "usr"]:
            directory.chmod(0o755)
        layout.mkdir()
        digest = oci_layout([layer(base, args.mtime), layer(app, args.mtime)], args, layout)
        archive(layout, Path(f"{stem}.oci.tar"), args.mtime)
    sbom = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("sbom.py")), "--version", args.version,
         "--commit", args.commit, "--mtime", str(args.mtime), "--debian", json.dumps(shipped)],
        check=True, capture_output=True, text=True,
    ).stdout
    Path(f"{stem}.cdx.json").write_text(sbom)
    Path(f"{stem}.digest").write_text(digest + "\n")
    size = Path(f"{stem}.oci.tar").stat().st_size
    if size > args.max_bytes:
        sys.exit(f"image: {stem}.oci.tar is {size} bytes, over the budget of {args.max_bytes}")
    print(f"{stem}.oci.tar {digest} {size}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rootfs = commands.add_parser("rootfs", help="the runtime root and the binary, as a directory")
    oci = commands.add_parser("oci", help="the OCI archive, digest and SBOM")
    for sub in (rootfs, oci):
        sub.add_argument("--binary", required=True)
        sub.add_argument("--out", required=True)
        sub.add_argument("--debs", required=True, help="where apt-get download keeps the .deb files")
    oci.add_argument("--version", required=True)
    oci.add_argument("--commit", required=True)
    oci.add_argument("--source", default="")
    oci.add_argument("--mtime", type=int, required=True, help="the commit's time (seconds)")
    oci.add_argument("--max-bytes", type=int, default=15_000_000)
    args = parser.parse_args()
    if args.command == "rootfs":
        command_rootfs(args)
    else:
        command_oci(args)


if __name__ == "__main__":
    main()
