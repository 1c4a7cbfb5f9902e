"""Just enough Dockerfile and .dockerignore structure for scripts/check-dockerfile.sh and scripts/check-image.sh
(standard library only, so the checks run where no container engine or linter is installed)."""
import fnmatch
import json
import os
import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # continuation lines joined, comments inside the continuation dropped
    line: int  # first line


@dataclass
class Stage:
    index: int
    base: str  # image after ARG substitution, or the name of an earlier stage
    name: str | None
    line: int
    instructions: list = field(default_factory=list)

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword):
        found = self.all(keyword)
        return found[-1] if found else None


def instructions(text):
    out, buf, start = [], [], None
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment line inside a continuation is dropped by Docker too
        if start is None:
            start = n
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf).strip()
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf, start = [], None
    if buf:
        joined = " ".join(part.strip() for part in buf).strip()
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    return out


def substitute(value, variables):
    """$NAME, ${NAME} and ${NAME:-default} as Docker expands them in FROM, ENV, WORKDIR and COPY."""
    def repl(m):
        name = m.group("braced") or m.group("bare")
        v = variables.get(name, "")
        if not v and m.group("default") is not None:
            return m.group("default")
        return v
    return re.sub(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))",
                  repl, value)


def parse(path):
    """The stages of a Dockerfile; ARGs declared before the first FROM are substituted into FROM lines."""
    with open(path, encoding="utf-8") as fh:
        insts = instructions(fh.read())
    global_args, stages = {}, []
    for inst in insts:
        if inst.keyword == "ARG" and not stages:
            for a in shlex.split(inst.args):
                k, _, v = a.partition("=")
                global_args[k] = v
        elif inst.keyword == "FROM":
            words = [w for w in inst.args.split() if not w.startswith("--")]
            base = substitute(words[0], global_args) if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), base, name, inst.line))
        elif stages:
            stages[-1].instructions.append(inst)
    return stages


def exec_form(args):
    """["a", "b"] → list, shell form → None."""
    a = args.strip()
    if a.startswith("["):
        try:
            v = json.loads(a)
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return v
        except ValueError:
            pass
    return None


def shell_commands(run_args):
    """The simple commands of a RUN line (split on && || ; |), each as a token list."""
    form = exec_form(run_args)
    if form is not None:
        return [form]
    cmds = []
    for part in re.split(r"&&|\|\||;|\|", run_args):
        try:
            tokens = shlex.split(part)
        except ValueError:
            tokens = part.split()
        if tokens:
            cmds.append(tokens)
    return cmds


def installed_packages(stage):
    """(line, installer, [packages], tokens) of every apt-get/apt/apk/dnf/yum/microdnf install in the stage."""
    out = []
    for inst in stage.all("RUN"):
        for tokens in shell_commands(inst.args):
            # skip "export X=..", "env X=..", "DEBIAN_FRONTEND=.. apt-get"
            while tokens and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]) or tokens[0] in ("env", "sudo", "export")):
                tokens = tokens[1:]
            if not tokens:
                continue
            tool = os.path.basename(tokens[0])
            verb = {"apt-get": "install", "apt": "install", "apk": "add", "dnf": "install", "yum": "install", "microdnf": "install"}.get(tool)
            if verb and verb in tokens:
                after = tokens[tokens.index(verb) + 1:]
                pkgs = [t.split("=")[0] for t in after if not t.startswith("-")]
                out.append((inst.line, tool, pkgs, tokens))
    return out


@dataclass
class Copy:
    line: int
    keyword: str
    sources: list
    dest: str
    from_stage: str | None
    chown: str | None


def parse_copy(inst):
    """A COPY/ADD instruction (shell or JSON form, --from/--chown/--chmod/--link flags), or None."""
    if inst.keyword not in ("COPY", "ADD"):
        return None
    m = re.match(r"((?:--[A-Za-z-]+(?:=\S*)?\s+)*)(.*)$", inst.args.strip(), re.S)
    flags = dict(f[2:].partition("=")[::2] for f in m.group(1).split())
    rest = m.group(2)
    words = exec_form(rest)
    if words is None:
        words = shlex.split(rest)
    if len(words) < 2:
        return None
    return Copy(inst.line, inst.keyword, words[:-1], words[-1], flags.get("from"), flags.get("chown"))


def copies(stage):
    return [c for c in (parse_copy(i) for i in stage.instructions) if c]


def env_vars(stage):
    """ENV of the stage, in order (both ENV k=v ... and the legacy ENV k v)."""
    env = {}
    for inst in stage.all("ENV"):
        words = shlex.split(inst.args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for w in words:
            k, _, v = w.partition("=")
            env[k] = substitute(v, env)
    return env


def workdir(stage, default="/"):
    wd = default
    for inst in stage.all("WORKDIR"):
        p = inst.args.strip()
        wd = p if p.startswith("/") else os.path.normpath(os.path.join(wd, p))
    return wd


def volumes(stage):
    out = []
    for inst in stage.all("VOLUME"):
        form = exec_form(inst.args)
        out += form if form is not None else inst.args.split()
    return out


# ------------------------------------------------------------------------------------------- .dockerignore

def _pattern_regex(pattern):
    """Go filepath.Match semantics as Docker uses them: * and ? stop at '/', ** crosses directories."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                cls = pattern[i + 1:j].replace("\\", "\\\\")
                out += "[" + ("^" + cls[1:] if cls.startswith("^") else cls) + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


class DockerIgnore:
    """A .dockerignore: the last pattern that matches a path (or one of its parent directories) decides."""

    def __init__(self, path):
        self.path = path
        self.rules = []
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                for raw in fh:
                    line = raw.strip()
                    if not line or line.startswith("#"):
                        continue
                    negate = line.startswith("!")
                    if negate:
                        line = line[1:].strip()
                    line = os.path.normpath(line.lstrip("/"))
                    self.rules.append((negate, _pattern_regex(line), line))

    def excluded(self, rel):
        rel = os.path.normpath(rel)
        parts = rel.split("/")
        prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        result = False
        for negate, rx, _ in self.rules:
            if any(rx.match(p) for p in prefixes):
                result = not negate
        return result

    def included_files(self, root, rel):
        """Files under root/rel (itself if a file) that reach the build context."""
        full = os.path.join(root, rel)
        if os.path.isfile(full):
            return [rel] if not self.excluded(rel) else []
        found = []
        for dirpath, dirnames, filenames in os.walk(full):
            dirnames.sort()
            for f in sorted(filenames):
                r = os.path.relpath(os.path.join(dirpath, f), root)
                if not self.excluded(r):
                    found.append(r)
        return found


def ignore_file_for(dockerfile, context):
    """BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile before the context's .dockerignore."""
    specific = dockerfile + ".dockerignore"
    return specific if os.path.isfile(specific) else os.path.join(context, ".dockerignore")


def expand_sources(context, sources):
    """Context-relative paths a COPY source list names (wildcards expanded); a name that matches nothing is kept
    as is so that the caller can report it."""
    out = []
    for s in sources:
        s = s.lstrip("/")
        if any(ch in s for ch in "*?["):
            matches = sorted(os.path.relpath(p, context) for p in _glob(context, s))
            out += matches or [s]
        else:
            out.append(os.path.normpath(s))
    return out


def _glob(context, pattern):
    parts = pattern.split("/")
    paths = [context]
    for part in parts:
        nxt = []
        for p in paths:
            if not os.path.isdir(p):
                continue
            for name in sorted(os.listdir(p)):
                if fnmatch.fnmatchcase(name, part):
                    nxt.append(os.path.join(p, name))
        paths = nxt
    return paths
