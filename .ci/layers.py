#!/usr/bin/env python3
"""Checks the layering habits of the workspace's library code (crates/*/src and src/).

1. No import circle between the files of a crate. Each file is a node; an edge goes from a file
   to the file that defines what one of its `crate::…`, `super::…`, `self::…` or child-module
   paths names. Re-exports (`pub use`, `pub(crate) use`) are followed to the file that defines
   the item rather than counted as edges, and a file's `mod` declarations are not edges: so
   `lib.rs` (or a `mod.rs`) re-exporting its children is no circle, while a child that imports
   an item `lib.rs` itself defines is an edge into `lib.rs`.
2. No `unsafe` block, fn or impl outside the runtime's `sys` layer (`crates/runtime/src/sys/`).
3. No function longer than 150 lines outside tests (`#[cfg(test)]` modules and `tests.rs`).

Prints every finding and exits 1 when there is one. `--graph CRATE_DIR` prints the edges.
"""
import os
import re
import sys
from collections import defaultdict

MAX_FN_LINES = 150
UNSAFE_HOME = os.path.join("crates", "runtime", "src", "sys")


def strip(text):
    """Blanks comments, strings and char literals (keeping newlines and offsets)."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "r" and re.match(r'r(#*)"', text[i:i + 260]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.|\\x[0-9a-fA-F]{2}|\\u\{[0-9a-fA-F]+\}|[^\\'])'", text[i:i + 12])
            if m:
                blank(i, i + len(m.group(0)))
                i += len(m.group(0))
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


class File:
    def __init__(self, path, modpath):
        self.path = path
        self.modpath = tuple(modpath)
        self.raw = open(path, encoding="utf-8").read()
        self.text = strip(self.raw)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        # Inline modules: (start, end, name path relative to the file's module).
        self.inline = []
        self._find_inline()
        self.children = set()  # child modules declared with `mod x;` (by module path)

    def line_of(self, pos):
        lo, hi = 0, len(self.line_starts)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if self.line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid
        return lo + 1

    def matching(self, open_pos):
        depth = 0
        for k in range(open_pos, len(self.text)):
            ch = self.text[k]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return k
        return len(self.text) - 1

    def _find_inline(self):
        for m in re.finditer(r"\bmod\s+(\w+)\s*\{", self.text):
            end = self.matching(m.end() - 1)
            self.inline.append((m.start(), end, m.group(1)))

    def module_at(self, pos):
        """The module path at an offset (inline modules included)."""
        path = list(self.modpath)
        for start, end, name in sorted(self.inline):
            if start <= pos <= end:
                path.append(name)
        return tuple(path)

    def in_test(self, pos):
        for start, end, name in self.inline:
            if start <= pos <= end:
                head = self.text[max(0, start - 60):start]
                if "cfg(test)" in head or name == "tests":
                    return True
        return os.path.basename(self.path) == "tests.rs"


def parse_use_tree(s):
    """`a::{b, c::d as e, *}` -> [['a','b'], ['a','c','d'], ['a','*']]."""
    tokens = re.findall(r"::|\{|\}|,|\*|\w+", s)
    pos = 0

    def tree(prefix):
        nonlocal pos
        paths = []
        cur = list(prefix)
        while pos < len(tokens):
            t = tokens[pos]
            if t == "::":
                pos += 1
            elif t == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    paths.extend(tree(cur))
                    if pos < len(tokens) and tokens[pos] == ",":
                        pos += 1
                pos += 1
                return paths
            elif t in (",", "}"):
                break
            elif t == "as":
                pos += 2
            else:
                cur.append(t)
                pos += 1
        if len(cur) > len(prefix):
            paths.append(cur)
        return paths

    out = []
    while pos < len(tokens):
        out.extend(tree([]))
        if pos < len(tokens) and tokens[pos] in (",", "}"):
            pos += 1
    return out


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # modpath -> File
        self.modules = {}  # modpath (file or inline) -> File
        lib = os.path.join(src, "lib.rs")
        if not os.path.exists(lib):
            lib = os.path.join(src, "main.rs")
        self._load(lib, ())

    def _load(self, path, modpath):
        f = File(path, modpath)
        self.files[tuple(modpath)] = f
        self.modules[tuple(modpath)] = f
        for start, end, name in f.inline:
            self.modules[f.module_at(start + 1 + f.text[start:].index("{"))] = f
        for m in re.finditer(r"(?:#\[path\s*=\s*\"([^\"]+)\"\]\s*)?\b(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", f.raw):
            name = m.group(2)
            inner = f.module_at(m.start())
            base = os.path.dirname(path)
            stem = os.path.basename(path)[:-3]
            if stem not in ("lib", "main", "mod"):
                base = os.path.join(base, stem)
            for rel in inner[len(modpath):]:
                base = os.path.join(base, rel)
            if m.group(1):
                cands = [os.path.join(os.path.dirname(path), m.group(1))]
            else:
                cands = [os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")]
            for c in cands:
                if os.path.exists(c):
                    f.children.add(inner + (name,))
                    self._load(c, inner + (name,))
                    break

    def reexports(self, f):
        """name -> absolute path, for `pub use` items of a file's modules."""
        out = {}
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", f.text):
            mod = f.module_at(m.start())
            for p in parse_use_tree(m.group(1)):
                absolute = self.absolute(mod, p)
                if absolute and p[-1] != "*":
                    alias = re.search(r"\b" + re.escape(p[-1]) + r"\s+as\s+(\w+)", m.group(1))
                    out[(mod, alias.group(1) if alias else p[-1])] = absolute
        return out

    def absolute(self, mod, p):
        if not p:
            return None
        if p[0] == "crate":
            return tuple(p[1:])
        if p[0] == "self":
            return mod + tuple(p[1:])
        if p[0] == "super":
            base = list(mod)
            while p and p[0] == "super":
                if not base:
                    return None
                base.pop()
                p = p[1:]
            return tuple(base) + tuple(p)
        if mod + (p[0],) in self.modules:
            return mod + tuple(p)
        return None  # an external crate or std

    def resolve(self, absolute, depth=0):
        """The file that defines what an absolute path names."""
        for k in range(len(absolute), -1, -1):
            prefix = absolute[:k]
            if prefix in self.modules:
                f = self.modules[prefix]
                rest = absolute[k:]
                if rest and depth < 8:
                    target = self._reexports(f).get((prefix, rest[0]))
                    if target is not None:
                        return self.resolve(target + rest[1:], depth + 1)
                return f
        return None

    _cache = None

    def _reexports(self, f):
        if self._cache is None:
            self._cache = {}
        if f.path not in self._cache:
            self._cache[f.path] = self.reexports(f)
        return self._cache[f.path]

    def edges(self):
        edges = defaultdict(dict)  # from path -> to path -> line
        for f in self.files.values():
            spans = []
            for m in re.finditer(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", f.text):
                spans.append((m.start(), m.end()))
                if m.group(1):
                    continue  # a re-export: followed, not an edge
                mod = f.module_at(m.start())
                for p in parse_use_tree(m.group(2)):
                    self._edge(edges, f, mod, p, m.start())
            for m in re.finditer(r"(?<![\w:])((?:\w+::)+)\w+", f.text):
                if any(a <= m.start() < b for a, b in spans):
                    continue
                p = m.group(0).split("::")
                self._edge(edges, f, f.module_at(m.start()), p, m.start())
        return edges

    def _edge(self, edges, f, mod, p, pos):
        if p and p[-1] == "*":
            p = p[:-1]
        absolute = self.absolute(mod, p)
        if absolute is None:
            return
        target = self.resolve(absolute)
        if target is None or target is f:
            return
        edges[f.path].setdefault(target.path, f.line_of(pos))


def sccs(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

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
            out.append(comp)

    for v in nodes:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def cycle_in(comp, edges):
    """One concrete circle inside a strongly connected component."""
    members = set(comp)
    start = sorted(comp)[0]
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in edges.get(v, {}):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def long_functions(f):
    for m in re.finditer(r"\bfn\s+(\w+)", f.text):
        if f.in_test(m.start()):
            continue
        # The body starts at the first `{` after the signature (or there is none: `;`).
        k = m.end()
        depth = 0
        while k < len(f.text):
            ch = f.text[k]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1 if not (ch == ">" and f.text[k - 1] == "-") else 0
            elif ch == ";" and depth <= 0:
                k = -1
                break
            elif ch == "{" and depth <= 0:
                break
            k += 1
        if k < 0 or k >= len(f.text):
            continue
        end = f.matching(k)
        lines = f.line_of(end) - f.line_of(m.start()) + 1
        if lines > MAX_FN_LINES:
            yield m.group(1), f.line_of(m.start()), lines


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    srcs = sorted(os.path.join("crates", d, "src") for d in os.listdir("crates") if os.path.isdir(os.path.join("crates", d, "src")))
    if os.path.isdir("src"):
        srcs.append("src")
    if len(sys.argv) == 3 and sys.argv[1] == "--graph":
        crate = Crate(os.path.join(sys.argv[2], "src"))
        for a, targets in sorted(crate.edges().items()):
            for b, line in sorted(targets.items()):
                print(f"{a}:{line} -> {b}")
        return 0
    problems = []
    for src in srcs:
        crate = Crate(src)
        edges = crate.edges()
        for comp in sccs([f.path for f in crate.files.values()], edges):
            cyc = cycle_in(comp, edges)
            steps = " -> ".join(
                f"{a}:{edges[a][b]}" for a, b in zip(cyc, cyc[1:])
            ) + f" -> {cyc[-1]}"
            problems.append(f"import circle of {len(comp)} files in {src}: {', '.join(sorted(os.path.relpath(c, src) for c in comp))}\n    e.g. {steps}")
        for f in crate.files.values():
            if not f.path.startswith(UNSAFE_HOME + os.sep):
                for m in re.finditer(r"\bunsafe\s*(\{|fn\b|impl\b|extern\b)", f.text):
                    problems.append(f"{f.path}:{f.line_of(m.start())}: unsafe outside {UNSAFE_HOME}/")
            for name, line, lines in long_functions(f):
                problems.append(f"{f.path}:{line}: fn {name} is {lines} lines (at most {MAX_FN_LINES} outside tests)")
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} finding(s) in {len(srcs)} crate(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
