#!/usr/bin/env bash
# Static checks of the Dockerfiles (no container engine needed):
#
#   scripts/check-dockerfile.sh [DOCKERFILE...]      default: Dockerfile (model-server) and Dockerfile.pipeline-host
#
# Per Dockerfile:
#   hadolint     when hadolint is on PATH: --failure-threshold warning, DL3008 (pin apt versions) ignored because
#                Debian's archive drops superseded versions, so a pinned version stops installing after the next
#                security update (the base image tag pins the release instead)
#   built-in     always (hadolint knows none of them): base images pinned by tag or digest (not :latest); a USER
#                that is not root in the final stage; no curl or wget installed in the final stage; every apt-get
#                install with --no-install-recommends and /var/lib/apt/lists removed in the same RUN; every COPY
#                source exists and is not cut out of the build context by .dockerignore; a stage that runs
#                `swift build` copies every target path of Package.swift (SwiftPM refuses to build without them)
#   host image   Dockerfile.pipeline-host only, against terraform/modules/pipeline_service: USER is the numeric
#                container_user default (10001:10001), /spec and /tmp are VOLUMEs owned by it, a HEALTHCHECK runs
#                `pipeline-host health`, and the task definition's health check and entry point name the binary
#                the image installs
# The last line is "check-dockerfile: N passed, M failed"; the exit status is non-zero when M > 0.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=(Dockerfile Dockerfile.pipeline-host)
fi

passed=0
failed=0
record() { # name status
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "--> $1: ok"; else failed=$((failed + 1)); echo "--> $1: FAILED"; fi
}

for f in "${files[@]}"; do
  if [ ! -f "$f" ]; then
    echo "==> $f: no such file"
    record "$f" 1
    continue
  fi
  if command -v hadolint >/dev/null 2>&1; then
    echo "==> hadolint $f ($(hadolint --version 2>/dev/null | head -1))"
    hadolint --no-color --failure-threshold warning --ignore DL3008 "$f"
    record "hadolint $f" $?
  else
    echo "==> hadolint $f: not on PATH, built-in checks only"
  fi
  echo "==> built-in checks $f"
  PYTHONPATH="$ROOT/scripts" "$PYTHON" - "$f" <<'PY'
import os
import re
import sys

import dockerfile_scan as ds

path = sys.argv[1]
name = os.path.basename(path)
context = "."
host_image = name == "Dockerfile.pipeline-host"
problems, notes = [], []
stages = ds.parse(path)
if not stages:
    print(f"  {path}: no FROM")
    sys.exit(1)
final = stages[-1]
stage_names = {s.name for s in stages if s.name}
WHERE = lambda line: f"{path}:{line}"

# --- base images pinned
for s in stages:
    if s.base in stage_names:
        continue
    if not s.base:
        problems.append(f"{WHERE(s.line)}: FROM resolves to nothing (an ARG without a default?)")
    elif "@sha256:" in s.base:
        notes.append(f"FROM {s.base} (digest)")
    else:
        last = s.base.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if not tag or tag == "latest":
            problems.append(f"{WHERE(s.line)}: base image {s.base} is not pinned: give a tag other than latest, or a digest")
        else:
            notes.append(f"FROM {s.base}")

# --- non-root USER in the final stage
user = final.last("USER")
if user is None:
    problems.append(f"{path}: the final stage has no USER, so the container runs as root")
else:
    u = user.args.strip()
    if u.partition(":")[0] in ("root", "0"):
        problems.append(f"{WHERE(user.line)}: USER {u} is root")
    else:
        notes.append(f"USER {u}")

# --- no curl/wget in the final stage
for line, tool, pkgs, _ in ds.installed_packages(final):
    for p in pkgs:
        if p in ("curl", "wget"):
            problems.append(f"{WHERE(line)}: the final stage installs {p} (health checks use the binary itself)")
hc = final.last("HEALTHCHECK")
if hc and re.search(r"\b(curl|wget)\b", hc.args):
    problems.append(f"{WHERE(hc.line)}: HEALTHCHECK uses curl/wget, which the image does not have")

# --- apt hygiene, every stage
for s in stages:
    for inst in s.all("RUN"):
        cmds = ds.shell_commands(inst.args)
        apt = [c for c in cmds if any(os.path.basename(t) in ("apt-get", "apt") for t in c[:3])]
        installs = [c for c in apt if "install" in c]
        updates = [c for c in apt if "update" in c or "install" in c]
        for c in installs:
            if "--no-install-recommends" not in c:
                problems.append(f"{WHERE(inst.line)}: apt-get install without --no-install-recommends")
        if updates and "/var/lib/apt/lists" not in " ".join(" ".join(c) for c in cmds if c and c[0] == "rm"):
            problems.append(f"{WHERE(inst.line)}: apt-get without `rm -rf /var/lib/apt/lists/*` in the same RUN (the lists stay in the layer)")

# --- COPY sources exist and reach the build context
ignore = ds.DockerIgnore(ds.ignore_file_for(path, context))
for s in stages:
    for c in ds.copies(s):
        if c.from_stage:
            continue
        for src in ds.expand_sources(context, c.sources):
            if not os.path.exists(os.path.join(context, src)):
                problems.append(f"{WHERE(c.line)}: {c.keyword} source {src} does not exist")
            elif not ignore.included_files(context, src):
                problems.append(f"{WHERE(c.line)}: {c.keyword} source {src} is excluded from the build context by {ignore.path}")

# --- a stage that runs swift build has every target path of Package.swift
if os.path.isfile("Package.swift"):
    manifest = open("Package.swift", encoding="utf-8").read()
    required = set()
    for m in re.finditer(r'path:\s*"([^"]*)"', manifest):
        p = m.group(1).split("\\(")[0].rstrip("/")
        if p:
            required.add(os.path.normpath(p))
    if os.path.isdir("Sources"):
        required.add("Sources")
    if ".testTarget(" in manifest:
        required.add("Tests")
    required = {p for p in required if not any(p != q and p.startswith(q + "/") for q in required)}
    for s in stages:
        builds = [i for i in s.all("RUN") if re.search(r"\bswift\s+build\b", i.args)]
        if not builds:
            continue
        first_build = builds[0].line
        copied = []  # (source, destination as an absolute path)
        wd = "/"
        for inst in s.instructions:
            if inst.line >= first_build:
                break
            if inst.keyword == "WORKDIR":
                wd = os.path.normpath(os.path.join(wd, inst.args.strip()))
            elif inst.keyword in ("COPY", "ADD"):
                c = ds.parse_copy(inst)
                if c and not c.from_stage:
                    for src in ds.expand_sources(context, c.sources):
                        copied.append((src, os.path.normpath(os.path.join(wd, c.dest))))
        for p in sorted(required):
            ok = any((p == src or p.startswith(src + "/")) and dest == os.path.normpath(os.path.join(wd, src))
                     for src, dest in copied)
            if not ok:
                problems.append(f"{WHERE(first_build)}: stage {s.name or s.index} runs swift build without COPY {p} ./{p} "
                                "before it (a target path of Package.swift; SwiftPM refuses to build without it)")

# --- the host image against terraform/modules/pipeline_service
if host_image:
    before = len(problems)
    tf_dir = "terraform/modules/pipeline_service"
    variables = open(os.path.join(tf_dir, "variables.tf"), encoding="utf-8").read()
    main_tf = open(os.path.join(tf_dir, "main.tf"), encoding="utf-8").read()
    m = re.search(r'variable\s+"container_user"\s*\{.*?default\s*=\s*"([0-9]+):([0-9]+)"', variables, re.S)
    want_uid, want_gid = (m.group(1), m.group(2)) if m else ("10001", "10001")
    if user is not None:
        u = user.args.strip()
        uid, _, gid = u.partition(":")
        if uid != want_uid or (gid and gid != want_gid):
            problems.append(f"{WHERE(user.line)}: USER {u}: the task definition runs as {want_uid}:{want_gid} (container_user); "
                            f"use the numeric USER {want_uid}:{want_gid}")
    vols = ds.volumes(final)
    for v in ("/spec", "/tmp"):
        if v not in vols:
            problems.append(f"{path}: {v} is not a VOLUME of the final stage (Fargate takes the task volume's owner and mode from it)")
    run_text = " ".join(i.args for i in final.all("RUN"))
    if not re.search(rf"chown\s+{want_uid}:{want_gid}\s+[^&;]*/spec", run_text):
        problems.append(f"{path}: /spec is not chowned to {want_uid}:{want_gid} in the final stage (the spec-fetch and host containers run as that user)")
    dests = {os.path.normpath(c.dest if not c.dest.endswith("/") else c.dest + os.path.basename(c.sources[0]))
             for c in ds.copies(final)}
    if hc is None or hc.args.strip().upper() == "NONE":
        problems.append(f"{path}: the final stage has no HEALTHCHECK")
    else:
        form = ds.exec_form(hc.args.split("CMD", 1)[-1]) if "CMD" in hc.args else None
        if not form or len(form) < 2 or form[1] != "health":
            problems.append(f"{WHERE(hc.line)}: HEALTHCHECK is not CMD [\"<binary>\", \"health\", ...] (exec form, no shell or curl)")
        elif form[0] not in dests:
            problems.append(f"{WHERE(hc.line)}: HEALTHCHECK runs {form[0]}, which no COPY of the final stage installs")
    m = re.search(r'healthCheck\s*=\s*\{[^}]*?command\s*=\s*\[([^\]]*)\]', main_tf, re.S)
    tf_cmd = re.findall(r'"([^"]*)"', m.group(1)) if m else []
    if len(tf_cmd) < 3 or tf_cmd[0] != "CMD" or tf_cmd[2] != "health":
        problems.append(f"{tf_dir}/main.tf: the container healthCheck is not [\"CMD\", \"<binary>\", \"health\"] (found {tf_cmd or 'none'})")
    elif tf_cmd[1] not in dests:
        problems.append(f"{tf_dir}/main.tf: healthCheck runs {tf_cmd[1]}, which {path} does not install")
    m = re.search(r'host_container\s*=.*?entryPoint\s*=\s*\[\s*"([^"]+)"', main_tf, re.S)
    if m:
        ep = m.group(1)
        # Debian images set PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin.
        on_path = {os.path.join(d, ep) for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")}
        if not (ep in dests or on_path & dests):
            problems.append(f"{tf_dir}/main.tf: the task definition's entryPoint {ep} is not a binary {path} installs on PATH")
    if len(problems) == before:
        notes.append(f"matches {tf_dir}: USER {want_uid}:{want_gid}, /spec and /tmp volumes, health check {' '.join(tf_cmd[1:])}")

for n in notes:
    print("  " + n)
for p in problems:
    print("  FAIL " + p)
print(f"  {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY
  record "built-in $f" $?
done

echo
echo "check-dockerfile: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
