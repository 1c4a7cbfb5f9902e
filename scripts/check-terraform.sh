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
#   egress <env>        no security group of the environment allows egress to 0.0.0.0/0 or ::/0: a plan of the
#                       root (terraform test with a mocked AWS provider, offline, inputs from the root's
#                       terraform.tfvars.example) is read as JSON and every aws_security_group /
#                       aws_default_security_group egress block, egress aws_security_group_rule,
#                       aws_vpc_security_group_egress_rule and managed prefix list entry is checked; a CIDR the
#                       plan cannot know yet fails too (skipped like validate)
#   conventions         every variable has a type and a description; every module has main.tf,
#                       variables.tf, outputs.tf and README.md, and its README lists exactly its variables and
#                       outputs; every variable of modules/stack has a validation; no IAM statement allows "*"
#                       actions; every checkov skip gives a reason; no symlinks under terraform/; each
#                       environment root calls modules/stack once and declares no resources of its own, and the
#                       roots share variables.tf and outputs.tf
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

# HCL scanning helpers shared by the Python parts of the steps (standard library only).
cat >"$WORK/hclscan.py" <<'PY'
"""Just enough HCL structure for the checks: comments, strings and heredocs masked out, top-level blocks."""
import re


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


def resource_blocks(text, masked):
    """Yield (type, name, body_masked, body_text) of the top-level `resource "type" "name" { ... }` blocks."""
    depth = 0
    depth_at = []
    for ch in masked:
        depth_at.append(depth)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
    for m in re.finditer(r'(?m)^[ \t]*resource[ \t]+"[^"\n]*"[ \t]+"[^"\n]*"[ \t]*\{', masked):
        if depth_at[m.start()] != 0:
            continue
        rtype, name = re.findall(r'"([^"\n]*)"', text[m.start():m.end()])[:2]
        start = m.end()
        level, j = 1, start
        while j < len(masked) and level:
            if masked[j] == "{":
                level += 1
            elif masked[j] == "}":
                level -= 1
            j += 1
        yield rtype, name, masked[start:j - 1], text[start:j - 1]
PY

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

# A plan of the environment root without AWS: `terraform test` with a mocked AWS provider plans the whole
# configuration with the root's terraform.tfvars.example, and -json -verbose prints that plan as a
# "test_plan" message in the format of `terraform show -json` (resource_changes). Data sources get mocked
# values; the few whose values matter to the configuration (policy JSON, region, partition, account) get
# fixed ones below.
step_egress() {
  local env="$1"
  prepare_copy
  local dir="$WORK/src/terraform/envs/$env"
  if [ ! -f "$dir/terraform.tfvars.example" ]; then
    echo "terraform/envs/$env has no terraform.tfvars.example to plan with"
    return 1
  fi
  rm -f "$dir/terraform.tfvars" "$dir"/*.auto.tfvars "$dir"/*.auto.tfvars.json
  cp "$dir/terraform.tfvars.example" "$dir/terraform.tfvars"
  local vars=""
  if grep -q '^slack_formatter_zip_path' "$dir/terraform.tfvars"; then
    # The Lambda zip is a build output; the plan only needs a file to hash.
    printf 'placeholder\n' >"$WORK/slack-formatter.zip"
    vars="  slack_formatter_zip_path = \"$WORK/slack-formatter.zip\""
  fi
  mkdir -p "$dir/egress-check"
  cat >"$dir/egress-check/plan.tftest.hcl" <<EOF
mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

variables {
$vars
}

run "plan" {
  command = plan
}
EOF
  export TF_DATA_DIR="$WORK/tf-data/$env"
  if [ ! -d "$TF_DATA_DIR/providers" ]; then
    terraform -chdir="$dir" init -backend=false -input=false -no-color >"$WORK/init-$env.log" 2>&1 || {
      cat "$WORK/init-$env.log"
      unset TF_DATA_DIR
      return 1
    }
  fi
  terraform -chdir="$dir" test -test-directory=egress-check -json -verbose -no-color >"$WORK/egress-$env.json" 2>"$WORK/egress-$env.err"
  unset TF_DATA_DIR
  PYTHONPATH="$WORK" "$PYTHON" - "$WORK/egress-$env.json" "$WORK/egress-$env.err" terraform <<'PY'
"""Fails when a security group of the plan allows egress to the whole internet (a /0 such as 0.0.0.0/0 or
::/0), or when the plan cannot tell (an egress CIDR still unknown)."""
import ipaddress
import json
import os
import re
import sys

from hclscan import mask, resource_blocks

plan_log, err_log, tf_root = sys.argv[1:4]

plans, diagnostics = [], []
with open(plan_log, encoding="utf-8") as fh:
    for line in fh:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "test_plan":
            plans.append(msg["test_plan"])
        elif msg.get("type") == "diagnostic":
            diagnostics.append(msg.get("@message", ""))
if not plans:
    print("no plan was produced:")
    for d in diagnostics:
        print("  " + d)
    with open(err_log, encoding="utf-8") as fh:
        sys.stdout.write(fh.read())
    sys.exit(1)

# aws_security_group.egress is optional and computed: when the configuration has no inline egress, the plan
# shows it as unknown (the provider reads the group's rules back after apply, and those rules are the separate
# rule resources checked below). An unknown egress is accepted only for groups whose definitions have no
# inline egress at all (by resource type and name, in any .tf file, so a name collision can only fail).
inline_egress = set()
for dirpath, dirnames, filenames in os.walk(tf_root):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    for f in filenames:
        if f.endswith(".tf"):
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                text = fh.read()
            for rtype, name, body_masked, body_text in resource_blocks(text, mask(text)):
                if rtype in ("aws_security_group", "aws_default_security_group") and (
                        re.search(r"(?m)^\s*egress\s*[{=]", body_masked)
                        or re.search(r'(?m)^\s*dynamic\s+"egress"', body_text)):
                    inline_egress.add((rtype, name))

UNKNOWN = object()  # a value the plan does not know yet


def internet(cidr):
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return True  # not a CIDR at all: refuse rather than guess


def values(after, after_u, key):
    """The CIDR value(s) of attribute `key`: a list of strings or UNKNOWN (nulls and empty lists give [])."""
    u = after_u.get(key) if isinstance(after_u, dict) else None
    if u is True:
        return [UNKNOWN]
    v = after.get(key)
    if v is None:
        return []
    if isinstance(v, list):
        return [UNKNOWN if isinstance(u, list) and j < len(u) and u[j] is True else c for j, c in enumerate(v)]
    return [v]


problems, groups, rules = [], 0, 0
for plan in plans:
    for rc in plan.get("resource_changes", []):
        change = rc.get("change", {})
        if change.get("actions") == ["delete"]:
            continue
        after, after_u = change.get("after") or {}, change.get("after_unknown") or {}
        addr, rtype = rc["address"], rc["type"]
        checks = []  # (attribute, [values])
        if rtype in ("aws_security_group", "aws_default_security_group"):
            groups += 1
            if after_u.get("egress") is True:
                if (rtype, rc["name"]) in inline_egress:
                    problems.append(f"{addr}: inline egress whose value the plan does not know, so it could be the internet")
                continue
            blocks_u = after_u.get("egress") if isinstance(after_u.get("egress"), list) else []
            for i, block in enumerate(after.get("egress") or []):
                rules += 1
                bu = blocks_u[i] if i < len(blocks_u) else {}
                for key in ("cidr_blocks", "ipv6_cidr_blocks"):
                    checks.append((f"egress[{i}].{key}", values(block, bu, key)))
        elif rtype == "aws_security_group_rule":
            if after.get("type") != "egress" and after_u.get("type") is not True:
                continue
            rules += 1
            for key in ("cidr_blocks", "ipv6_cidr_blocks"):
                checks.append((key, values(after, after_u, key)))
        elif rtype == "aws_vpc_security_group_egress_rule":
            rules += 1
            for key in ("cidr_ipv4", "cidr_ipv6"):
                checks.append((key, values(after, after_u, key)))
        elif rtype == "aws_ec2_managed_prefix_list":
            checks.append(("entry", [UNKNOWN] if after_u.get("entry") is True else [e.get("cidr") for e in after.get("entry") or []]))
        elif rtype == "aws_ec2_managed_prefix_list_entry":
            checks.append(("cidr", values(after, after_u, "cidr")))
        for where, vals in checks:
            for v in vals:
                if v is UNKNOWN:
                    problems.append(f"{addr}: {where} is not known at plan time, so it could be the internet")
                elif v is not None and internet(v):
                    problems.append(f"{addr}: {where} = {v} allows egress to the whole internet")

for p in problems:
    print("  " + p)
print(f"checked {groups} security groups and {rules} egress rules in {sum(len(p.get('resource_changes', [])) for p in plans)} planned resources: "
      f"{len(problems)} problem(s)")
if groups == 0:
    print("  the plan has no security group at all: the check did not see the configuration it is meant to check")
    sys.exit(1)
sys.exit(1 if problems else 0)
PY
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
  PYTHONPATH="$WORK" "$PYTHON" - terraform <<'PY'
"""Conventions of terraform/ that terraform and checkov do not check (standard library only)."""
import os
import re
import sys

ROOT = sys.argv[1]
REQUIRED_FILES = ("main.tf", "variables.tf", "outputs.tf", "README.md")


from hclscan import blocks, mask, readme_names, resource_blocks, top_level_attributes  # noqa: E402


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

# No symlinks: every root and module is made of its own files (the environments used to link a shared main.tf).
for dirpath, dirnames, filenames in os.walk(ROOT):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    for f in dirnames + filenames:
        if os.path.islink(os.path.join(dirpath, f)):
            problems.append(f"{os.path.relpath(os.path.join(dirpath, f))}: is a symlink; give the root or module its own files")

# The environment roots are thin: each calls modules/stack exactly once and declares no resources or data
# sources of its own, and their inputs and outputs (variables.tf, outputs.tf) are the same.
env_root = os.path.join(ROOT, "envs")
envs = sorted(e for e in os.listdir(env_root) if os.path.isdir(os.path.join(env_root, e)) and not e.startswith(".")) if os.path.isdir(env_root) else []
for e in envs:
    d = os.path.join(env_root, e)
    module_sources, own = [], []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".tf"):
            continue
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            text = fh.read()
        masked = mask(text)
        for name, body_masked, body_text in blocks(text, masked, "module"):
            m = re.search(r'(?m)^\s*source\s*=\s*"([^"]*)"', body_text)
            module_sources.append((name, m.group(1) if m else None))
        own += [f"{t}.{n}" for t, n, _, _ in resource_blocks(text, masked)]
        own += ["data." + ".".join(re.findall(r'"([^"\n]*)"', text[m.start():m.end()])) for m in re.finditer(r'(?m)^data[ \t]+"[^"\n]*"[ \t]+"[^"\n]*"', masked)]
    rel = os.path.relpath(d)
    if [src for _, src in module_sources] != ["../../modules/stack"]:
        problems.append(f"{rel}: must call ../../modules/stack exactly once and no other module (found {module_sources or 'none'})")
    if own:
        problems.append(f"{rel}: declares {', '.join(own)}; an environment root only configures and calls modules/stack")
    if not os.path.isfile(os.path.join(d, "terraform.tfvars.example")):
        problems.append(f"{rel}: terraform.tfvars.example is missing (the egress step plans with it)")
for f in ("variables.tf", "outputs.tf"):
    contents = {}
    for e in envs:
        path = os.path.join(env_root, e, f)
        contents[e] = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
    if len(set(contents.values())) > 1:
        problems.append(f"envs: {f} differs between environments ({', '.join(envs)}); "
                        "environment differences belong in the arguments of module \"stack\" in main.tf")

# The stack module is the typed interface of every environment: each of its variables is validated.
stack_dir = os.path.join(ROOT, "modules", "stack")
if os.path.isdir(stack_dir):
    for f in sorted(os.listdir(stack_dir)):
        if not f.endswith(".tf"):
            continue
        path = os.path.join(stack_dir, f)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        for name, body_masked, _ in blocks(text, mask(text), "variable"):
            if not re.search(r"(?m)^\s*validation\s*\{", body_masked):
                problems.append(f"{os.path.relpath(path)}: variable \"{name}\" of the stack module has no validation")
else:
    problems.append("modules/stack is missing")

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
  [ -d "$d" ] && envs+=("$(basename "$d")")
done
for env in "${envs[@]}"; do
  if ! have_terraform; then
    skip_step "validate $env" "terraform is not installed"
    skip_step "egress $env" "terraform is not installed"
  elif ! mirror_has_aws; then
    skip_step "validate $env" "no AWS provider in the filesystem mirror $TF_PLUGIN_MIRROR"
    skip_step "egress $env" "no AWS provider in the filesystem mirror $TF_PLUGIN_MIRROR"
  else
    run_step "validate $env" step_validate "$env"
    run_step "egress $env" step_egress "$env"
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
