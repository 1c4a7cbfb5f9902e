#!/usr/bin/env bash
# Checks the pipeline-host image's runtime stage without a container engine, the way the Lambda zip is tested:
# the binary runs from a directory holding only what the image holds.
#
#   swift build -c release --product pipeline-host --static-swift-stdlib
#   scripts/check-image.sh "$(swift build -c release --show-bin-path)/pipeline-host"
#
# Steps (each passed or failed; the last line is "check-image: N passed, M failed", exit status non-zero on any
# failure):
#   host release     this machine runs the Debian release of the runtime image (package names, the base set and
#                    the library → package mapping below come from this machine's dpkg database)
#   static runtime   ldd BIN names no Swift runtime library (libswift*, libFoundation*, lib_Foundation*,
#                    libdispatch, libBlocksRuntime) and no library that is not found
#   libraries        every library of `ldd BIN` belongs (dpkg -S) to a package that the runtime stage installs, or
#                    to the base set of debian:<release>-slim, or to a dependency of either; a library the binary
#                    links directly (NEEDED) must come from an installed package or the base set itself, not only
#                    as some other package's dependency. The base set is every installed package with
#                    Essential: yes or Priority: required (dpkg-query -W -f='${Package} ${Essential} ${Priority}'):
#                    what a minbase debootstrap, and so the slim image, holds; libc6 and libgcc-s1 are optional
#                    themselves and enter as dependencies of those. Dependencies are Depends and Pre-Depends
#                    (apt-get --no-install-recommends), followed through this machine's dpkg status.
#   glibc            no GLIBC_* symbol version newer than the release's glibc (objdump -T)
#   layout           a temporary root holding exactly what the runtime stage's COPY lines put in the image (context
#                    files that .dockerignore lets through; the build stage's binary is BIN), plus WORKDIR and the
#                    VOLUME directories
#   spec paths       in every spec of the image, each model bundle path (with the image's ENV and the spec's
#                    ${VAR:-default}) resolves, from WORKDIR, to a bundle inside the image, and the checkpoint
#                    directory is under a VOLUME (ECS makes the root filesystem read-only); CMD's spec exists
#   validate SPEC    `BIN validate SPEC` for every spec of the image, from WORKDIR, as the image's USER (when this
#                    script runs as root), with a minimal environment: PATH, the image's ENV, and dummy values for
#                    the spec's ${VAR:?...} variables
#   run SPEC         every spec of the image with a file source runs to completion on samples/ (as a read-only
#                    mount would give them), writing only to a scratch directory standing in for the /tmp volume
#   health           `BIN health`, the image's HEALTHCHECK: exit 0 on HTTP 200 from /health at ADMIN_ADDRESS (also
#                    for a 0.0.0.0 host), 1 on a 503, on a closed port and on a server that never answers
#                    (--timeout 1), each with a reason on stderr
#
# Environment: DOCKERFILE (default Dockerfile.pipeline-host), KEEP=1 keeps the temporary root, PYTHON (python3).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1
DOCKERFILE="${DOCKERFILE:-Dockerfile.pipeline-host}"

if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 PATH/TO/pipeline-host   (built with --static-swift-stdlib)" >&2
  exit 2
fi
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
for tool in ldd dpkg dpkg-query readelf objdump "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "check-image: '$tool' is required" >&2; exit 2; }
done

PYTHONPATH="$ROOT/scripts" "$PYTHON" - "$BIN" "$DOCKERFILE" <<'PY'
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import dockerfile_scan as ds

BIN, DOCKERFILE = sys.argv[1], sys.argv[2]
ROOT = os.getcwd()
KEEP = os.environ.get("KEEP") == "1"
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # PATH of the Debian base images
passed, failed, failed_names = 0, 0, []
started = time.monotonic()


def step(name, fn):
    global passed, failed
    print(f"\n==> {name}", flush=True)
    t0 = time.monotonic()
    try:
        ok = fn()
    except Exception as e:  # a bug or an unexpected environment: report it as this step's failure
        print(f"  error: {type(e).__name__}: {e}")
        ok = False
    dt = time.monotonic() - t0
    if ok:
        passed += 1
        print(f"--> {name}: ok ({dt:.1f}s)", flush=True)
    else:
        failed += 1
        failed_names.append(name)
        print(f"--> {name}: FAILED ({dt:.1f}s)", flush=True)
    return ok


# ------------------------------------------------------------------------------------------ the runtime stage

stages = ds.parse(DOCKERFILE)
final = stages[-1]
stage_names = {s.name for s in stages if s.name}
PACKAGES = [p for _, _, pkgs, _ in ds.installed_packages(final) for p in pkgs]
IMAGE_ENV = ds.env_vars(final)
WORKDIR = ds.workdir(final)
VOLUMES = ds.volumes(final)
USER = (final.last("USER").args.strip() if final.last("USER") else "root")
ENTRYPOINT = ds.exec_form(final.last("ENTRYPOINT").args) if final.last("ENTRYPOINT") else None
CMD = ds.exec_form(final.last("CMD").args) if final.last("CMD") else None
BASE = final.base
print(f"{DOCKERFILE}: runtime stage FROM {BASE}")
print(f"  apt packages: {' '.join(PACKAGES) or '(none)'}")
print(f"  ENV {IMAGE_ENV}  WORKDIR {WORKDIR}  USER {USER}  VOLUME {VOLUMES}")
print(f"  ENTRYPOINT {ENTRYPOINT}  CMD {CMD}")

os_release = {}
with open("/etc/os-release", encoding="utf-8") as fh:
    for line in fh:
        k, _, v = line.strip().partition("=")
        os_release[k] = v.strip('"')
CODENAME = os_release.get("VERSION_CODENAME", "")


def host_release():
    tag = BASE.rsplit("/", 1)[-1]
    print(f"  this machine: {os_release.get('PRETTY_NAME', '?')}; runtime image: {BASE}")
    if os_release.get("ID") != "debian" or not CODENAME or CODENAME not in tag:
        print(f"  the runtime image is not {os_release.get('ID')} {CODENAME}: package names, the base set and the library "
              "mapping would not be the image's; run this on the image's Debian release")
        return False
    return True


# ----------------------------------------------------------------------------------------------- ldd and dpkg

def ldd(path):
    """[(soname, resolved path or None)] of ldd; vdso left out."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    if "not a dynamic executable" in r.stdout + r.stderr or "statically linked" in r.stdout:
        return []
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        m = re.match(r"(\S+) => (not found|(\S+) \(0x[0-9a-f]+\))", line)
        if m:
            libs.append((m.group(1), None if m.group(2) == "not found" else m.group(3)))
            continue
        m = re.match(r"(/\S+) \(0x[0-9a-f]+\)", line)
        if m:
            libs.append((os.path.basename(m.group(1)), m.group(1)))
    return [(n, p) for n, p in libs if not n.startswith("linux-vdso") and not n.startswith("linux-gate")]


LIBS = ldd(BIN)
SWIFT_RUNTIME = re.compile(r"^(libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime)")


def static_runtime():
    with open(BIN, "rb") as fh:
        if fh.read(4) != b"\x7fELF":
            print(f"  FAIL {BIN} is not an ELF binary")
            return False
    ok = True
    if not LIBS:
        print("  ldd lists no shared libraries (a fully static binary)")
    for name, path in LIBS:
        if SWIFT_RUNTIME.match(name):
            print(f"  {name} => {path}: a Swift runtime library, which the image does not have (build with --static-swift-stdlib)")
            ok = False
        elif path is None:
            print(f"  {name}: not found")
            ok = False
    if ok:
        print(f"  {len(LIBS)} shared libraries, none of them Swift's")
    return ok


def dpkg_status():
    fmt = "${Package}\\t${Essential}\\t${Priority}\\t${db:Status-Status}\\t${Provides}\\t${Pre-Depends}\\t${Depends}\\n"
    out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], capture_output=True, text=True, check=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 7 or f[3] != "installed":
            continue
        rec = pkgs.setdefault(f[0], {"essential": False, "priority": f[2], "deps": []})
        rec["essential"] |= f[1] == "yes"
        for group in (f[5] + "," + f[6]).split(","):
            alts = [re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", a).strip().split(":")[0] for a in group.split("|")]
            alts = [a for a in alts if a]
            if alts:
                rec["deps"].append(alts)
        for v in f[4].split(","):
            v = re.sub(r"\(.*?\)", "", v).strip().split(":")[0]
            if v:
                provides.setdefault(v, []).append(f[0])
    return pkgs, provides


def closure(start, pkgs, provides):
    """{package: parent} of start and its Depends/Pre-Depends as apt would pick them (an alternative already
    present wins, else the first installed alternative or provider)."""
    seen = {p: None for p in start}
    queue = list(start)
    while queue:
        p = queue.pop(0)
        for alts in pkgs.get(p, {}).get("deps", []):
            if any(a in seen or any(q in seen for q in provides.get(a, [])) for a in alts):
                continue
            pick = next((a for a in alts if a in pkgs), None) or next((q for a in alts for q in provides.get(a, []) if q in pkgs), None)
            if pick:
                seen[pick] = p
                queue.append(pick)
    return seen


def owners(paths):
    """{path: package} via one dpkg -S call."""
    r = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True)
    found = {}
    for line in r.stdout.splitlines():
        if line.startswith("diversion "):
            continue
        pkg, _, path = line.partition(": ")
        found[path.strip()] = pkg.split(",")[0].split(":")[0].strip()
    return found


def candidates(path):
    # usrmerge: ldd prints /lib/... while a package may list /usr/lib/... (or the other way round), and a soname is
    # often a symlink to the versioned file.
    out = []
    for p in (path, os.path.realpath(path)):
        out += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    return list(dict.fromkeys(out))


def libraries():
    pkgs, provides = dpkg_status()
    base = sorted(p for p, r in pkgs.items() if r["essential"] or r["priority"] == "required")
    base_closure = closure(base, pkgs, provides)
    allowed = closure(list(dict.fromkeys(PACKAGES + base)), pkgs, provides)
    print(f"  base set of {BASE}: {len(base)} Essential/required packages, {len(base_closure)} with their dependencies")
    missing_from_host = [p for p in PACKAGES if p not in pkgs]
    if missing_from_host:
        print(f"  note: not installed on this machine, so their dependencies are not followed: {' '.join(missing_from_host)}")
    paths = [p for _, p in LIBS if p]
    owner_of = owners([c for p in paths for c in candidates(p)])
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True).stdout))
    ok = True

    def why(pkg, seen):
        chain, p = [], pkg
        while seen.get(p):
            p = seen[p]
            chain.append(p)
        return chain

    for name, path in LIBS:
        if not path:
            continue
        pkg = next((owner_of[c] for c in candidates(path) if c in owner_of), None)
        direct = name in needed
        tag = "NEEDED" if direct else "indirect"
        if pkg is None:
            print(f"  FAIL {name} ({path}, {tag}): no Debian package ships it, so the image cannot have it")
            ok = False
            continue
        if pkg in PACKAGES:
            reason = "installed by the Dockerfile"
        elif pkg in base:
            reason = f"base set ({'Essential' if pkgs[pkg]['essential'] else 'Priority: required'})"
        elif pkg in base_closure:
            reason = "base set, dependency of " + " <- ".join(why(pkg, base_closure))
        elif pkg in allowed and not direct:
            reason = "dependency of " + " <- ".join(why(pkg, allowed))
        elif pkg in allowed:
            print(f"  FAIL {name} ({tag}): the binary links it directly, but {pkg} comes in only as a dependency of "
                  f"{' <- '.join(why(pkg, allowed))}; install {pkg} in the Dockerfile")
            ok = False
            continue
        else:
            print(f"  FAIL {name} ({tag}): package {pkg} is neither installed by {DOCKERFILE} nor in {BASE}'s base set")
            ok = False
            continue
        print(f"  {name:28} {tag:8} {pkg:22} {reason}")
    return ok


def glibc():
    # The runtime image's glibc is this machine's (same release, checked above).
    ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True).stdout
    max_glibc = re.match(r"(\d+\.\d+)", ver).group(1)
    syms = subprocess.run(["objdump", "-T", BIN], capture_output=True, text=True).stdout
    versions = sorted(set(re.findall(r"GLIBC_([0-9.]+)", syms)), key=lambda v: [int(x) for x in v.split(".")])
    newest = versions[-1] if versions else None
    print(f"  newest GLIBC symbol version needed: {newest or 'none'}; {BASE} has {max_glibc}")
    return newest is None or [int(x) for x in newest.split(".")] <= [int(x) for x in max_glibc.split(".")]


# ---------------------------------------------------------------------------------------------------- layout

STAGE = tempfile.mkdtemp(prefix="check-image.")
os.chmod(STAGE, 0o755)  # the image's USER must be able to walk it
SCRATCH = tempfile.mkdtemp(prefix="check-image-tmp.")  # stands in for the /tmp volume
os.chmod(SCRATCH, 0o1777)
SPECS = []  # image paths of the specs the image holds
IMAGE_BIN = None


def in_stage(image_path):
    return os.path.join(STAGE, image_path.lstrip("/"))


def layout():
    global IMAGE_BIN
    ok = True
    ignore = ds.DockerIgnore(ds.ignore_file_for(DOCKERFILE, "."))
    entry = ENTRYPOINT[0] if ENTRYPOINT else None
    wd = "/"
    for inst in final.instructions:
        if inst.keyword == "WORKDIR":
            wd = os.path.normpath(os.path.join(wd, inst.args.strip()))
            os.makedirs(in_stage(wd), exist_ok=True)
            continue
        c = ds.parse_copy(inst)
        if not c:
            continue
        dest = os.path.normpath(os.path.join(wd, c.dest))
        into_dir = c.dest.endswith("/") or len(c.sources) > 1
        if c.from_stage:
            if c.from_stage not in stage_names:
                print(f"  FAIL {DOCKERFILE}:{c.line}: COPY --from={c.from_stage}: not a stage of this Dockerfile")
                ok = False
                continue
            for src in c.sources:
                target = os.path.join(dest, os.path.basename(src)) if into_dir else dest
                if os.path.basename(src) != "pipeline-host":
                    print(f"  FAIL {DOCKERFILE}:{c.line}: COPY --from={c.from_stage} {src}: only the pipeline-host binary can stand in here")
                    ok = False
                    continue
                os.makedirs(os.path.dirname(in_stage(target)), exist_ok=True)
                shutil.copy2(BIN, in_stage(target))
                os.chmod(in_stage(target), 0o755)
                IMAGE_BIN = target
                print(f"  {target}  <- {BIN}")
            continue
        for src in ds.expand_sources(".", c.sources):
            files = ignore.included_files(".", src)
            if not files:
                print(f"  FAIL {DOCKERFILE}:{c.line}: {src} is missing or excluded by .dockerignore")
                ok = False
                continue
            is_dir = os.path.isdir(src)
            for f in files:
                if is_dir:
                    target = os.path.join(dest, os.path.relpath(f, src))
                else:
                    target = os.path.join(dest, os.path.basename(f)) if into_dir else dest
                os.makedirs(os.path.dirname(in_stage(target)), exist_ok=True)
                shutil.copy2(f, in_stage(target))
                os.chmod(in_stage(target), 0o644)
                if target.endswith(".json"):
                    try:
                        doc = json.load(open(f, encoding="utf-8"))
                        if isinstance(doc, dict) and "source" in doc and "sinks" in doc:
                            SPECS.append(target)
                    except ValueError:
                        pass
            print(f"  {dest}{'/' if into_dir or is_dir else ''}  <- {src} ({len(files)} file{'s' if len(files) != 1 else ''})")
    for v in VOLUMES:
        os.makedirs(in_stage(v), exist_ok=True)
    for dirpath, dirnames, _ in os.walk(STAGE):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    if entry and IMAGE_BIN != entry:
        print(f"  FAIL ENTRYPOINT {entry} is not the binary the image installs ({IMAGE_BIN})")
        ok = False
    print(f"  root: {STAGE}; specs: {', '.join(SPECS) or 'none'}")
    return ok and IMAGE_BIN is not None


# ------------------------------------------------------------------------------------------------ spec paths

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}")


def interpolate(value, env):
    def repl(m):
        v = env.get(m.group(1))
        if v:
            return v
        return m.group(3) if m.group(2) == "-" else ""
    return VAR.sub(repl, value)


def walk(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)
    else:
        yield key, node


def load_spec(image_path):
    with open(in_stage(image_path), encoding="utf-8") as fh:
        return json.load(fh)


def resolve(path):
    return os.path.normpath(path if path.startswith("/") else os.path.join(WORKDIR, path))


def spec_paths():
    ok = True
    for spec in SPECS:
        doc = load_spec(spec)
        bundles = dict.fromkeys(v for k, v in walk(doc) if k == "bundle" and isinstance(v, str))
        for value in bundles:
            b = interpolate(value, IMAGE_ENV)
            if b.startswith("s3://"):
                print(f"  {spec}: bundle {value} -> {b} (S3, read at start-up)")
                continue
            p = resolve(b)
            missing = [f for f in ("manifest.json", "model.json", "scaler.json") if not os.path.isfile(os.path.join(in_stage(p), f))]
            if missing:
                print(f"  FAIL {spec}: bundle {value} -> {p}: not a bundle in the image (missing {', '.join(missing)})")
                ok = False
            else:
                print(f"  {spec}: bundle {value} -> {p}")
        ck = doc.get("checkpoint", {}).get("dir") if isinstance(doc.get("checkpoint"), dict) else None
        if isinstance(ck, str):
            p = resolve(interpolate(ck, IMAGE_ENV))
            if not any(p == v or p.startswith(v.rstrip("/") + "/") for v in VOLUMES):
                print(f"  FAIL {spec}: checkpoint dir {ck} -> {p} is not under a VOLUME ({', '.join(VOLUMES)}): "
                      "the root filesystem is read-only on ECS")
                ok = False
            else:
                print(f"  {spec}: checkpoint dir {ck} -> {p} (volume)")
    for arg in (CMD or []):
        if arg.endswith(".json"):
            if resolve(arg) not in [resolve(s) for s in SPECS]:
                print(f"  FAIL CMD names {arg}, which is not a spec of the image")
                ok = False
            else:
                print(f"  CMD spec {arg} is in the image")
    return ok


# --------------------------------------------------------------------------------------- running the binary

AS_USER = []
if os.geteuid() == 0 and shutil.which("setpriv") and re.fullmatch(r"\d+(:\d+)?", USER):
    uid, _, gid = USER.partition(":")
    AS_USER = ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", "--no-new-privs", "--"]
    os.chown(SCRATCH, int(uid), int(gid or uid))


def run_bin(args, env, timeout=60):
    """BIN as the image runs it: from WORKDIR, as USER, with only the given environment."""
    full_env = {"PATH": DEBIAN_PATH, "HOME": "/nonexistent", **IMAGE_ENV, **env}
    return subprocess.run(AS_USER + [in_stage(IMAGE_BIN), *args], cwd=in_stage(WORKDIR), env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def spec_arg(spec):
    # The path as the image would pass it: relative to WORKDIR when inside it.
    rel = os.path.relpath(spec, WORKDIR)
    return rel if not rel.startswith("..") else in_stage(spec)


def dummy_env(spec):
    text = open(in_stage(spec), encoding="utf-8").read()
    env = {}
    for name, op, _ in VAR.findall(text):
        if op == "?" and name not in IMAGE_ENV:
            # Shapes that validation might check: an ARN for *_ARN, a plain name otherwise.
            env[name] = "arn:aws:sns:eu-west-1:123456789012:check-image" if name.endswith("_ARN") else "check-image-dummy"
    return env


def validate(spec):
    def fn():
        env = dummy_env(spec)
        if env:
            print(f"  dummy values for: {' '.join(sorted(env))}")
        r = run_bin(["validate", spec_arg(spec)], env)
        for line in (r.stdout + r.stderr).strip().splitlines():
            print("  " + line)
        print(f"  exit {r.returncode}{' (as ' + USER + ')' if AS_USER else ''}")
        return r.returncode == 0
    return fn


# Sample inputs as `docker run -v "$PWD/samples:/samples:ro"` gives them; outputs to the /tmp stand-in.
def offline_env():
    return {
        "INPUT": os.path.join(ROOT, "samples/transactions.jsonl.gz"),
        "USERS": os.path.join(ROOT, "samples/user_demographics.jsonl"),
        "OUT": os.path.join(SCRATCH, "out"),
        "CHECKPOINT_DIR": os.path.join(SCRATCH, "checkpoint"),
        "LOG_LEVEL": "warning",
    }


def run_offline(spec):
    def fn():
        env = {**dummy_env(spec), **offline_env()}
        r = run_bin(["run", spec_arg(spec)], env, timeout=300)
        for line in r.stdout.strip().splitlines()[-12:]:
            print("  " + line)
        for line in r.stderr.strip().splitlines()[-10:]:
            print("  stderr: " + line)
        print(f"  exit {r.returncode}")
        outputs = sorted(os.listdir(env["OUT"])) if os.path.isdir(env["OUT"]) else []
        sizes = {f: os.path.getsize(os.path.join(env["OUT"], f)) for f in outputs}
        print(f"  wrote: {', '.join(f'{f} ({n} bytes)' for f, n in sizes.items()) or 'nothing'}")
        leftovers = [os.path.join(d, f) for d, _, fs in os.walk(STAGE) for f in fs
                     if os.path.getmtime(os.path.join(d, f)) > t_layout]
        if leftovers:
            print(f"  FAIL wrote inside the image's filesystem (read-only on ECS): {', '.join(leftovers)}")
        return r.returncode == 0 and any(n > 0 for n in sizes.values()) and not leftovers
    return fn


# ----------------------------------------------------------------------------------------------------- health

class Stub(http.server.BaseHTTPRequestHandler):
    status = 200
    paths = []

    def do_GET(self):
        type(self).paths.append(self.path)
        code = self.status if self.path == "/health" else 404
        body = b'{"status":"ok"}' if code == 200 else b'{"status":"failing"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def stub(status):
    handler = type(f"Stub{status}", (Stub,), {"status": status, "paths": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, handler


def health():
    # Without the subcommand, ArgumentParser answers `health --help` with the top-level help (exit 0).
    probe = run_bin(["health", "--help"], {}, timeout=10)
    if "USAGE: pipeline-host health" not in probe.stdout + probe.stderr:
        print("  FAIL the binary has no `health` subcommand (`pipeline-host health --help` shows no usage of it); the "
              "image's HEALTHCHECK and the ECS health check run it")
        return False
    ok200, h200 = stub(200)
    bad, hbad = stub(503)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # accepts connections (kernel backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    cases = [
        ("200 at ADMIN_ADDRESS", [], {"ADMIN_ADDRESS": f"127.0.0.1:{ok200.server_port}"}, 0),
        ("200, ADMIN_ADDRESS on 0.0.0.0", [], {"ADMIN_ADDRESS": f"0.0.0.0:{ok200.server_port}"}, 0),
        ("200 at --address", ["--address", f"127.0.0.1:{ok200.server_port}"], {"ADMIN_ADDRESS": f"127.0.0.1:{closed_port}"}, 0),
        ("503", [], {"ADMIN_ADDRESS": f"127.0.0.1:{bad.server_port}"}, 1),
        ("closed port", [], {"ADMIN_ADDRESS": f"127.0.0.1:{closed_port}"}, 1),
        ("no answer, --timeout 1", ["--timeout", "1"], {"ADMIN_ADDRESS": f"127.0.0.1:{silent.getsockname()[1]}"}, 1),
    ]
    ok = True
    try:
        for label, args, env, want in cases:
            t0 = time.monotonic()
            try:
                r = run_bin(["health", *args], env, timeout=10)
                code, err = r.returncode, r.stderr.strip()
            except subprocess.TimeoutExpired:
                code, err = None, "still running after 10 s"
            dt = time.monotonic() - t0
            good = code == want and (want == 0 or err) and not (label.startswith("no answer") and dt > 4)
            print(f"  {'ok  ' if good else 'FAIL'} {label:32} exit {code} (want {want}), {dt:.1f}s{': ' + err.splitlines()[0] if err else ''}")
            ok &= bool(good)
        if h200.paths and set(h200.paths) != {"/health"}:
            print(f"  FAIL requested {sorted(set(h200.paths))}, not /health")
            ok = False
    finally:
        ok200.shutdown()
        bad.shutdown()
        silent.close()
    return ok


# ------------------------------------------------------------------------------------------------------- run

try:
    step("host release", host_release)
    step("static runtime", static_runtime)
    step("libraries", libraries)
    step("glibc", glibc)
    laid_out = step("layout", layout)
    t_layout = time.time()
    if laid_out:
        step("spec paths", spec_paths)
        for spec in SPECS:
            step(f"validate {spec}", validate(spec))
        for spec in SPECS:
            src = load_spec(spec).get("source", {})
            if isinstance(src, dict) and src.get("type") == "file":
                step(f"run {spec}", run_offline(spec))
        step("health", health)
finally:
    if KEEP:
        print(f"\nkept: {STAGE} (image root), {SCRATCH} (/tmp stand-in)")
    else:
        shutil.rmtree(STAGE, ignore_errors=True)
        shutil.rmtree(SCRATCH, ignore_errors=True)

print()
for name in failed_names:
    print(f"check-image: failed: {name}")
print(f"check-image: took {time.monotonic() - started:.0f}s")
print(f"check-image: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
