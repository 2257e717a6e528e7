#!/usr/bin/env bash
# airlock quickstart: one whole transfer, offline, on the example data in
# examples/data (tiny but real Trivy databases, checks bundle and VEX repo).
#
#   connected side:   keygen -> export (one signed bundle)
#   air-gapped side:  inspect -> verify -> import -> scan with Trivy
#
# Everything is written under $AIRLOCK_QUICKSTART_DIR (default:
# target/quickstart); nothing else on the machine is touched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ -z "${AIRLOCK:-}" ]; then
    cargo build --locked --quiet
    AIRLOCK="$root/target/debug/airlock"
fi
out="${AIRLOCK_QUICKSTART_DIR:-$root/target/quickstart}"
rm -rf "$out"
mkdir -p "$out"
data="$root/examples/data"

step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "1. make a signing key (connected side)" \
    "$AIRLOCK" keygen --out "$out/builder" --comment "quickstart builder" --unencrypted

step "2. export the downloaded artifacts into one signed bundle" \
    "$AIRLOCK" export -o "$out/transfer.airlock" --sign-key "$out/builder.key" \
    --trivy-db "$data/db.tar.gz" --java-db "$data/javadb.tar.gz" --checks "$data/bundle.tar.gz" \
    --vex-manifest "$data/vex-repository.json" --vex-archive "$data/vexhub-main.zip" \
    --label ticket=QUICKSTART-1

step "3. (air-gapped side) see what the bundle claims to hold" \
    "$AIRLOCK" inspect "$out/transfer.airlock" --key "$out/builder.pub"

step "4. verify every signature and every byte" \
    "$AIRLOCK" verify "$out/transfer.airlock" --key "$out/builder.pub"

step "5. import into a Trivy cache and a static VEX repository" \
    "$AIRLOCK" import "$out/transfer.airlock" --key "$out/builder.pub" \
    --cache-dir "$out/trivy-cache" --vex-dir "$out/vex-repo"

trivy="${AIRLOCK_TRIVY:-}"
if [ -z "$trivy" ] && [ -x "$root/target/tools/trivy" ]; then trivy="$root/target/tools/trivy"; fi
if [ -z "$trivy" ]; then trivy="$(command -v trivy || true)"; fi
flags=(--cache-dir "$out/trivy-cache" --skip-db-update --skip-java-db-update --skip-check-update
       --skip-vex-repo-update --skip-version-check --disable-telemetry -q)
printf '\n== 6. scan with the imported data\n$ trivy rootfs %s --vex repo examples/data/rootfs\n' "${flags[*]}"
if [ -z "$trivy" ]; then
    echo "(no trivy binary found: scripts/install-test-tools.sh installs Trivy 0.76 into target/tools/)"
    exit 0
fi
# Trivy writes its default VEX configuration under HOME: keep it inside $out.
export HOME="$out/home" XDG_DATA_HOME="$out/home/.local/share"
mkdir -p "$HOME"
echo "vulnerabilities found (VEX repository applied):"
"$trivy" rootfs "${flags[@]}" --vex repo --scanners vuln -f template \
    --template '{{range .}}{{range .Vulnerabilities}}  {{.VulnerabilityID}} {{.PkgName}} {{.InstalledVersion}} ({{.Severity}}){{println}}{{end}}{{end}}' \
    "$data/rootfs"
echo "misconfigurations found by the imported checks bundle:"
"$trivy" config --cache-dir "$out/trivy-cache" --skip-check-update --skip-version-check --disable-telemetry -q \
    -f template --template '{{range .}}{{range .Misconfigurations}}  {{.ID}} {{.Title}}{{println}}{{end}}{{end}}' \
    "$data/project"
