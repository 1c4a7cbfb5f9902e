#!/usr/bin/env bash
# Builds the Lambda deployment zip for the provided.al2023 runtime (SNS → Slack alerts):
#
#   out/lambda/pipeline-host-lambda.zip
#     bootstrap                    lambda/bootstrap: execs `pipeline-host lambda $LAMBDA_TASK_ROOT/<spec>`
#     pipeline-host                release build, Swift runtime linked statically (--static-swift-stdlib)
#     pipelines/lambda-slack.json  the spec (more with LAMBDA_SPECS="pipelines/a.json pipelines/b.json")
#     lib/*.so*                    shared libraries the binary needs that Amazon Linux 2023 does not ship
#                                  (libyajl; Lambda puts $LAMBDA_TASK_ROOT/lib on LD_LIBRARY_PATH)
#
# glibc: the binary must not need a newer glibc than the runtime's (AL2023: 2.34). The script checks the GLIBC_*
# symbol versions the binary references and fails when one is newer. On Debian 12 (2.36) it passes because
# Sources/CGlibcCompat pins hypot/hypotf, the only newer ones, to their old versions; when it does not, build inside
# an Amazon Linux Swift image:
#   SWIFT_IMAGE=swift:6.1-amazonlinux2 scripts/build-lambda-zip.sh     (needs docker; al2's glibc 2.26 runs on al2023)
#
# Environment: OUT (default out/lambda), LAMBDA_SPECS (default pipelines/lambda-slack.json), SWIFT_IMAGE (build in
# that container image instead of on the host), MAX_GLIBC (default 2.34), SWIFT_BUILD_FLAGS (extra flags).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-out/lambda}"
LAMBDA_SPECS="${LAMBDA_SPECS:-pipelines/lambda-slack.json}"
MAX_GLIBC="${MAX_GLIBC:-2.34}"
BUILD_FLAGS=(-c release --static-swift-stdlib --product pipeline-host ${SWIFT_BUILD_FLAGS:-})

for tool in zip ldd; do
    command -v "$tool" >/dev/null || { echo "build-lambda-zip: '$tool' is required" >&2; exit 1; }
done
for spec in $LAMBDA_SPECS; do
    [ -f "$spec" ] || { echo "build-lambda-zip: spec $spec not found" >&2; exit 1; }
done

echo "==> swift build ${BUILD_FLAGS[*]}${SWIFT_IMAGE:+ (in $SWIFT_IMAGE)}"
if [ -n "${SWIFT_IMAGE:-}" ]; then
    # A separate build directory: host and container objects must not mix.
    docker run --rm -v "$ROOT":/src -w /src "$SWIFT_IMAGE" bash -c \
        "(dnf install -y yajl-devel libcurl-devel openssl-devel zlib-devel >/dev/null 2>&1 || yum install -y yajl-devel libcurl-devel openssl-devel zlib-devel >/dev/null) \
         && swift build --scratch-path .build-lambda ${BUILD_FLAGS[*]} \
         && swift build --scratch-path .build-lambda ${BUILD_FLAGS[*]} --show-bin-path > .build-lambda/bin-path"
    BIN_DIR="$(cat .build-lambda/bin-path)"
    BIN_DIR="$ROOT/${BIN_DIR#/src/}"
else
    swift build "${BUILD_FLAGS[@]}"
    BIN_DIR="$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)"
fi
BIN="$BIN_DIR/pipeline-host"
[ -x "$BIN" ] || { echo "build-lambda-zip: $BIN was not built" >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
install -m 0755 lambda/bootstrap "$STAGE/bootstrap"
install -m 0755 "$BIN" "$STAGE/pipeline-host"
strip "$STAGE/pipeline-host" 2>/dev/null || true
for spec in $LAMBDA_SPECS; do
    mkdir -p "$STAGE/$(dirname "$spec")"
    cp "$spec" "$STAGE/$spec"
done

# The Swift runtime must be inside the binary, not a shared library.
if ldd "$STAGE/pipeline-host" | grep -q 'libswiftCore'; then
    echo "build-lambda-zip: pipeline-host links libswiftCore dynamically (was --static-swift-stdlib dropped?)" >&2
    exit 1
fi

# glibc symbol versions the binary needs.
NEWEST_GLIBC="$(objdump -T "$STAGE/pipeline-host" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1 || true)"
if [ -n "$NEWEST_GLIBC" ] && [ "$(printf '%s\n%s\n' "$NEWEST_GLIBC" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
    echo "build-lambda-zip: the binary needs GLIBC_$NEWEST_GLIBC but provided.al2023 has $MAX_GLIBC;" >&2
    echo "  build in an Amazon Linux image: SWIFT_IMAGE=swift:6.1-amazonlinux2 $0" >&2
    exit 1
fi
echo "==> newest glibc symbol needed: ${NEWEST_GLIBC:-unknown} (runtime has $MAX_GLIBC)"

# Shared libraries that Amazon Linux 2023 does not provide go into lib/. glibc, libgcc/libstdc++, zlib, OpenSSL 3
# and libcurl are part of the runtime image; yajl is not.
mkdir -p "$STAGE/lib"
ldd "$STAGE/pipeline-host" | awk '/=>/ {print $1, $3}' | while read -r name path; do
    case "$name" in
        libyajl*) cp -L "$path" "$STAGE/lib/$name"; echo "==> bundled $name" ;;
    esac
done
rmdir "$STAGE/lib" 2>/dev/null || true

mkdir -p "$OUT"
ZIP="$(cd "$OUT" && pwd)/pipeline-host-lambda.zip"
rm -f "$ZIP"
(cd "$STAGE" && zip -q -r -X "$ZIP" bootstrap pipeline-host pipelines $( [ -d lib ] && echo lib ))
# zip keeps the executable bits, which Lambda needs on bootstrap and pipeline-host.
unzip -Z1 "$ZIP" 2>/dev/null | sed "s/^/    /" || true
echo "==> $ZIP ($(du -h "$ZIP" | cut -f1))"
echo "    deploy: runtime provided.al2023, handler (unused) 'pipeline', architecture $(uname -m | sed 's/aarch64/arm64/')"
