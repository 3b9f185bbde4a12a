#!/usr/bin/env python3
"""Import hygiene of the library crates: which module imports from which, and what is wrong.

    scripts/imports.py [--edges] [CRATE_DIR ...]     (default: every readiness-*/ crate)

For each module (a file under src/, or an inline `mod x { .. }`), every `use`
that names a module of the same crate (`crate::..`, `super::..`, `self::..`, or a child module)
is an edge to that module. A `pub use` / `pub(crate) use` is the module's public face, not what
its code depends on, so it is not an edge. Reported, exit 1 if any:

- a circle: modules that import from one another, directly or round a loop;
- an import from an ancestor module (the crate root or a `mod.rs` above) of an item that the
  ancestor does not define but only re-exports: import it from the module that defines it.

Unit-test modules (`tests`, inline or a file) are left out: they use the crate as its users
do and are no part of its layering. `--edges` also lists every module's edges. Text-based (no compiler): `use` lines, not paths
written inline in code or doc links.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEF = r"(?:fn|struct|enum|trait|type|const|static|union|mod|macro_rules!)\s+{name}\b"


def strip_comments(text):
    """Removes // and /* */ comments and the contents of string literals (lines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            seg = text[i : (n if j < 0 else j + 2)]
            out.append("\n" * seg.count("\n"))
            i = n if j < 0 else j + 2
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text[i:j].count("\n"))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i : i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i : i + 4])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, self}}` -> ["a::b", "a::c::d", "a::c"]."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)  # `x as y` imports x
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    out = []
    for p in filter(None, parts):
        for e in expand(p):
            out.append(prefix.rstrip(":") if e == "self" else prefix + e)
    return out


class Crate:
    def __init__(self, path):
        self.path = path
        self.name = path.name
        src = path / "src"
        self.files = {}  # module path (tuple) -> file
        for f in sorted(src.rglob("*.rs")):
            rel = f.relative_to(src).with_suffix("").parts
            if rel in (("lib",), ("main",)):
                mod = ()
            elif rel[-1] == "mod":
                mod = rel[:-1]
            else:
                mod = rel
            self.files[mod] = f
        self.modules = set(self.files)
        self.text = {m: strip_comments(f.read_text()) for m, f in self.files.items()}
        self.uses = []  # (from module, path as written, pub?)
        self.defs = {}  # module -> text holding its definitions
        for mod, text in self.text.items():
            self.scan(mod, text)

    def scan(self, file_mod, text):
        """Finds inline modules and `use` items, attributing each to its (inline) module."""
        stack = [(file_mod, -1)]  # (module, brace depth at which it opened)
        depth = 0
        self.defs.setdefault(file_mod, "")
        pos = 0
        pat = re.compile(
            r"(?P<mod>\b(?:pub(?:\([^)]*\))?\s+)?mod\s+(?P<name>\w+)\s*\{)"
            r"|(?P<use>\b(?P<pub>pub(?:\([^)]*\))?\s+)?use\s+(?P<tree>[^;]+);)"
            r"|(?P<open>\{)|(?P<close>\})"
        )
        for m in pat.finditer(text):
            cur = stack[-1][0]
            if m.group("mod"):
                name = m.group("name")
                depth += 1
                child = cur + (name,)
                self.modules.add(child)
                self.files.setdefault(child, self.files[file_mod])
                self.defs.setdefault(child, "")
                stack.append((child, depth))
            elif m.group("use"):
                for p in expand(m.group("tree")):
                    self.uses.append((cur, p, bool(m.group("pub"))))
            elif m.group("open"):
                depth += 1
            elif m.group("close"):
                if stack[-1][1] == depth and len(stack) > 1:
                    stack.pop()
                depth -= 1
            self.defs[cur] += text[pos : m.start()]
            pos = m.end()
        self.defs[stack[-1][0]] += text[pos:]

    def resolve(self, mod, path):
        """(target module, item) for a `use` path, or None when it names another crate."""
        segs = path.split("::")
        if segs[0] == "crate":
            base, segs = (), segs[1:]
        elif segs[0] in ("super", "self"):
            base = mod
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
        elif mod + (segs[0],) in self.modules:
            base = mod
        else:
            return None
        target = base
        while segs and target + (segs[0],) in self.modules:
            target, segs = target + (segs[0],), segs[1:]
        return target, (segs[0] if segs else "self")

    def defines(self, mod, item):
        if item in ("self", "*"):
            return True
        text = self.defs.get(mod, "")
        if "include!" in text or "include_proto!" in text:
            return True
        return re.search(DEF.format(name=re.escape(item)), text) is not None


def label(crate, mod):
    return crate.name + ("::" + "::".join(mod) if mod else " (root)")


def check(crate, show_edges):
    edges, problems = {}, []
    for mod, path, public in crate.uses:
        if "tests" in mod:
            continue  # unit tests use the crate as its users do, not part of its layering
        r = crate.resolve(mod, path)
        if r is None:
            continue
        target, item = r
        if target == mod:
            continue
        if not public:
            edges.setdefault(mod, {}).setdefault(target, set()).add(item)
        is_ancestor = target == mod[: len(target)]
        if not public and is_ancestor and not crate.defines(target, item):
            problems.append(
                f"{label(crate, mod)} imports `{item}` from its ancestor {label(crate, target)},"
                " which only re-exports it"
            )
    if show_edges:
        for mod in sorted(edges):
            targets = ", ".join(
                f"{'::'.join(t) or '(root)'} [{', '.join(sorted(i))}]"
                for t, i in sorted(edges[mod].items())
            )
            print(f"  {label(crate, mod)} -> {targets}")
    # Circles: strongly connected components with more than one module (Tarjan).
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(edges) | {t for e in edges.values() for t in e}):
        if v not in index:
            visit(v)
    for comp in out:
        links = [
            f"{'::'.join(a) or '(root)'} -> {'::'.join(b) or '(root)'} [{', '.join(sorted(edges[a][b]))}]"
            for a in comp
            for b in sorted(edges.get(a, {}))
            if b in comp
        ]
        problems.append(f"{crate.name}: import circle: " + "; ".join(links))
    return problems


def main(argv):
    show_edges = "--edges" in argv
    dirs = [Path(a) for a in argv if not a.startswith("--")]
    if not dirs:
        dirs = sorted(p for p in ROOT.glob("readiness-*") if (p / "src").is_dir())
    problems = []
    for d in dirs:
        crate = Crate(d.resolve())
        if show_edges:
            print(f"{crate.name}:")
        problems += check(crate, show_edges)
    for p in problems:
        print(p)
    print(f"imports: {len(problems)} problem(s) in {', '.join(d.name for d in dirs)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
