#!/usr/bin/env bash
# Offline checks of the Terraform deployment (terraform/) and of the Glue job (glue/).
#
# Steps, each counted as passed or failed:
#   fmt                 terraform fmt -check -recursive terraform/
#   validate <env>      terraform init -backend=false + validate, per terraform/envs/*, offline against the
#                       provider filesystem mirror (skipped, with a message, when terraform or the mirror is
#                       missing)
#   checkov             checkov 3.3.30 in its own virtualenv, --skip-download; any failed check fails the step
#                       (a check may only be skipped in code: #checkov:skip=CKV_...:reason)
#   conventions         every variable has a type and a description; every module has main.tf,
#                       variables.tf, outputs.tf and README.md, and its README lists exactly its variables and
#                       outputs; no IAM statement allows "*" actions; every checkov skip gives a reason; the
#                       environments share main.tf, variables.tf and outputs.tf
#   glue-tests          pytest glue/tests (moto, in process)
# The last line is "terraform-check: N passed, M failed"; the exit status is non-zero when M > 0.
#
# Environment: TF_PLUGIN_MIRROR (default /opt/tf-plugins), CHECKOV_VENV (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/fraud-checkov-venv), CHECKOV_VERSION (default 3.3.30), PYTHON (default python3).
# Nothing is written into the repository: terraform runs on a copy in a temporary directory.

set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
TF_PLUGIN_MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
CHECKOV_VENV="${CHECKOV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fraud-checkov-venv}"

passed=0
failed=0
failed_steps=()
skipped_steps=()
started=$(date +%s)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/terraform-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Offline CLI configuration for every terraform call of this script (also keeps the user's ~/.terraformrc
# and the checkpoint service out of the picture).
cat >"$WORK/terraform.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$TF_PLUGIN_MIRROR"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
export TF_CLI_CONFIG_FILE="$WORK/terraform.tfrc"
export CHECKPOINT_DISABLE=1
export TF_IN_AUTOMATION=1
export TF_INPUT=0
export PYTHONDONTWRITEBYTECODE=1

run_step() {
  local name="$1"
  shift
  echo
  echo "==> $name"
  local t0 t1
  t0=$(date +%s)
  if "$@"; then
    t1=$(date +%s)
    passed=$((passed + 1))
    echo "--> $name: ok ($((t1 - t0))s)"
  else
    t1=$(date +%s)
    failed=$((failed + 1))
    failed_steps+=("$name")
    echo "--> $name: FAILED ($((t1 - t0))s)"
  fi
}

skip_step() {
  echo
  echo "==> $1"
  echo "--> $1: SKIPPED: $2"
  skipped_steps+=("$1 ($2)")
}

have_terraform() { command -v terraform >/dev/null 2>&1; }

mirror_has_aws() { compgen -G "$TF_PLUGIN_MIRROR/registry.terraform.io/hashicorp/aws/*" >/dev/null; }

# ---------------------------------------------------------------------------------------------- steps

step_fmt() {
  terraform fmt -check -recursive -diff terraform/
}

prepare_copy() {
  # terraform init writes .terraform.lock.hcl next to the configuration; work on a copy so the repository
  # stays clean (glue/ is copied too because the environments reference the Glue script by path).
  if [ ! -d "$WORK/src/terraform" ]; then
    mkdir -p "$WORK/src"
    cp -R terraform "$WORK/src/terraform"
    [ -d glue ] && cp -R glue "$WORK/src/glue"
    find "$WORK/src" \( -name .terraform -o -name .terraform.lock.hcl -o -name __pycache__ \) -prune -exec rm -rf {} +
  fi
}

step_validate() {
  local env="$1"
  prepare_copy
  local dir="$WORK/src/terraform/envs/$env"
  export TF_DATA_DIR="$WORK/tf-data/$env"
  terraform -chdir="$dir" init -backend=false -input=false -no-color >"$WORK/init-$env.log" 2>&1 || {
    cat "$WORK/init-$env.log"
    unset TF_DATA_DIR
    return 1
  }
  terraform -chdir="$dir" validate -no-color
  local rc=$?
  unset TF_DATA_DIR
  return $rc
}

ensure_checkov() {
  if [ -x "$CHECKOV_VENV/bin/checkov" ] &&
    [ "$("$CHECKOV_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
    return 0
  fi
  echo "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  rm -rf "$CHECKOV_VENV"
  "$PYTHON" -m venv "$CHECKOV_VENV" &&
    "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
}

step_checkov() {
  ensure_checkov || {
    echo "could not install checkov $CHECKOV_VERSION (needs PyPI access once; the virtualenv is reused afterwards)"
    return 1
  }
  # Exit status is non-zero on any failed check; skips need a #checkov:skip comment in the code.
  "$CHECKOV_VENV/bin/checkov" -d terraform --framework terraform --skip-download --quiet --compact
}

step_conventions() {
  "$PYTHON" - terraform <<'PY'
"""Conventions of terraform/ that terraform and checkov do not check (standard library only)."""
import os
import re
import sys

ROOT = sys.argv[1]
REQUIRED_FILES = ("main.tf", "variables.tf", "outputs.tf", "README.md")


def mask(text):
    """Blank out comments, string contents and heredoc bodies (keeping length and newlines), so that braces
    and keywords found in the result are real HCL structure."""
    out = list(text)
    n = len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    def skip_string(i):  # text[i] == '"'; returns index after the closing quote
        i += 1
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
            elif text.startswith("$${", i) or text.startswith("%%{", i):
                i += 3
            elif text.startswith("${", i) or text.startswith("%{", i):
                i = skip_code(i + 2, "}")
            elif c == '"' or c == "\n":
                return i + 1
            else:
                i += 1
        return n

    def skip_code(i, closer):  # returns index after the matching closer
        depth = 0
        while i < n:
            c = text[i]
            if c == '"':
                i = skip_string(i)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0:
                    return i + 1
                depth -= 1
            i += 1
        return n

    i = 0
    while i < n:
        c = text[i]
        if c == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == '"':
            j = skip_string(i)
            blank(i + 1, j - 1)
            i = j
        elif text.startswith("<<", i):
            m = re.match(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n", text[i:])
            if not m:
                i += 2
                continue
            ident = m.group(1)
            j = i + m.end()
            while j < n:
                e = text.find("\n", j)
                e = n if e < 0 else e
                if text[j:e].strip() == ident:
                    j = e
                    break
                j = e + 1
            blank(i + m.end(), j)
            i = j
        else:
            i += 1
    return "".join(out)


def blocks(text, masked, kind):
    """Yield (label, body_masked, body_text) of the top-level `kind "label" { ... }` blocks."""
    depth = 0
    depth_at = []
    for ch in masked:
        depth_at.append(depth)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
    for m in re.finditer(r'(?m)^[ \t]*' + kind + r'[ \t]+"[^"\n]*"[ \t]*\{', masked):
        if depth_at[m.start()] != 0:
            continue
        label = re.search(r'"([^"\n]*)"', text[m.start():m.end()]).group(1)
        start = m.end()
        level, j = 1, start
        while j < len(masked) and level:
            if masked[j] == "{":
                level += 1
            elif masked[j] == "}":
                level -= 1
            j += 1
        yield label, masked[start:j - 1], text[start:j - 1]


def top_level_attributes(body_masked):
    names, depth = set(), 0
    for line in body_masked.split("\n"):
        if depth == 0:
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=(?!=)", line)
            if m:
                names.add(m.group(1))
        depth += line.count("{") + line.count("[") + line.count("(")
        depth -= line.count("}") + line.count("]") + line.count(")")
    return names


def readme_names(path, headings):
    """Names in backticks in the first column of the Markdown tables under the given `## ` headings."""
    names, section = [], None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("## "):
                section = line[3:].strip().lower()
                continue
            if section in headings:
                m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
                if m:
                    names.append(m.group(1))
    return names


problems = []
tf_files = []
for dirpath, dirnames, filenames in os.walk(ROOT):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    tf_files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".tf")]

module_dirs = sorted({os.path.dirname(f) for f in tf_files if os.sep + "modules" + os.sep in f})
variables_by_dir, outputs_by_dir = {}, {}
n_variables = 0

for path in tf_files:
    rel = os.path.relpath(path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    masked = mask(text)
    d = os.path.dirname(path)
    for name, body_masked, _ in blocks(text, masked, "variable"):
        n_variables += 1
        variables_by_dir.setdefault(d, []).append(name)
        missing = [a for a in ("type", "description") if a not in top_level_attributes(body_masked)]
        if missing:
            problems.append(f"{rel}: variable \"{name}\" has no {' and no '.join(missing)}")
    for name, body_masked, _ in blocks(text, masked, "output"):
        outputs_by_dir.setdefault(d, []).append(name)
        if "description" not in top_level_attributes(body_masked):
            problems.append(f"{rel}: output \"{name}\" has no description")
    # IAM: no statement may allow every action (deny statements may use service:* wildcards).
    for m in re.finditer(r'(?m)^\s*(not_)?actions\s*=\s*\[([^\]]*)\]', text):
        if re.search(r'"\*"', m.group(2)) and not m.group(1):
            problems.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: IAM statement allows action \"*\"")
    for m in re.finditer(r'"Action"\s*[:=]\s*"\*"', text):
        problems.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: IAM statement allows action \"*\"")
    # checkov skips must carry a reason.
    for lineno, line in enumerate(text.split("\n"), start=1):
        m = re.search(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", line)
        if m and len((m.group(2) or "").strip()) < 10:
            problems.append(f"{rel}:{lineno}: checkov skip of {m.group(1)} has no written reason")

for d in module_dirs:
    rel = os.path.relpath(d)
    for f in REQUIRED_FILES:
        if not os.path.isfile(os.path.join(d, f)):
            problems.append(f"module {rel}: {f} is missing")
    readme = os.path.join(d, "README.md")
    if not os.path.isfile(readme):
        continue
    for kind, actual, headings in (
        ("variables", variables_by_dir.get(d, []), ("inputs", "variables")),
        ("outputs", outputs_by_dir.get(d, []), ("outputs",)),
    ):
        listed = readme_names(readme, headings)
        dupes = sorted({x for x in listed if listed.count(x) > 1})
        missing = sorted(set(actual) - set(listed))
        extra = sorted(set(listed) - set(actual))
        if missing:
            problems.append(f"module {rel}: README.md does not list {kind}: {', '.join(missing)}")
        if extra:
            problems.append(f"module {rel}: README.md lists {kind} the module does not have: {', '.join(extra)}")
        if dupes:
            problems.append(f"module {rel}: README.md lists {kind} more than once: {', '.join(dupes)}")

# The environments share one composition (envs/shared, linked from each environment): main.tf, variables.tf and
# outputs.tf must be identical.
env_root = os.path.join(ROOT, "envs")
envs = sorted(e for e in os.listdir(env_root) if os.path.isdir(os.path.join(env_root, e)) and e != "shared") if os.path.isdir(env_root) else []
for f in ("main.tf", "variables.tf", "outputs.tf"):
    contents = {}
    for e in envs:
        path = os.path.join(env_root, e, f)
        contents[e] = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
    if len(set(contents.values())) > 1:
        problems.append(f"envs: {f} differs between environments ({', '.join(envs)}); "
                        "put environment differences in settings.tf or tfvars")

for p in problems:
    print("  " + p)
print(f"checked {len(tf_files)} .tf files, {n_variables} variables, {len(module_dirs)} modules: "
      f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY
}

step_glue_tests() {
  if ! "$PYTHON" -c 'import pytest, moto, boto3' 2>/dev/null; then
    echo "pytest, moto and boto3 are needed: $PYTHON -m pip install pytest boto3 'moto[server]==5.2.1'"
    return 1
  fi
  "$PYTHON" -m pytest -q -p no:cacheprovider glue/tests
}

# ------------------------------------------------------------------------------------------------ run

if have_terraform; then
  echo "terraform: $(terraform version | head -1)"
  run_step "fmt" step_fmt
else
  skip_step "fmt" "terraform is not installed"
fi

envs=()
for d in terraform/envs/*/; do
  # envs/shared holds the composition the environments link to; it is not a root of its own.
  [ -d "$d" ] && [ "$(basename "$d")" != shared ] && envs+=("$(basename "$d")")
done
for env in "${envs[@]}"; do
  if ! have_terraform; then
    skip_step "validate $env" "terraform is not installed"
  elif ! mirror_has_aws; then
    skip_step "validate $env" "no AWS provider in the filesystem mirror $TF_PLUGIN_MIRROR"
  else
    run_step "validate $env" step_validate "$env"
  fi
done

run_step "checkov" step_checkov
run_step "conventions" step_conventions
run_step "glue-tests" step_glue_tests

echo
for s in "${skipped_steps[@]+"${skipped_steps[@]}"}"; do
  echo "terraform-check: skipped: $s"
done
for s in "${failed_steps[@]+"${failed_steps[@]}"}"; do
  echo "terraform-check: failed: $s"
done
echo "terraform-check: took $(($(date +%s) - started))s"
echo "terraform-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
