#!/usr/bin/env python3
"""Code-shape figures for src/: the largest files, the longest functions
(test modules included), and the count of `unsafe` blocks. Run from the
repository root: `python3 scripts/code-metrics.py [--top N]`. The figures
in README.md's "Architecture" section come from this script.
"""
import os
import re
import sys

TOP = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 10
FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+([A-Za-z0-9_]+)")


def strip(line):
    """The line without string/char literals and comments (rough)."""
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def functions(path, lines):
    out = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = strip(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                out.append((j - i + 1, f"{path}:{i + 1}", m.group(1)))
                break
    return out


files, funcs, unsafe = [], [], 0
for root, _, names in os.walk("src"):
    for name in sorted(names):
        if not name.endswith(".rs"):
            continue
        path = os.path.join(root, name)
        lines = open(path, encoding="utf-8").read().split("\n")
        files.append((len(lines) - 1, path))
        funcs += functions(path, lines)
        unsafe += sum(len(re.findall(r"\bunsafe\s*(?:\{|fn\b|impl\b)", strip(l))) for l in lines)

files.sort(reverse=True)
funcs.sort(reverse=True)
print(f"files in src/: {len(files)}, lines: {sum(n for n, _ in files)}")
print(f"files over 600 lines: {sum(1 for n, _ in files if n > 600)}")
cli = [n for n, p in files if p == os.path.join("src", "cli", "mod.rs")]
print(f"src/cli/mod.rs: {cli[0] if cli else 0} lines")
print(f"largest files:")
for n, p in files[:TOP]:
    print(f"  {n:5} {p}")
print(f"longest functions:")
for n, where, name in funcs[:TOP]:
    print(f"  {n:5} {name} ({where})")
print(f"functions over 80 lines: {sum(1 for n, _, _ in funcs if n > 80)}")
print(f"unsafe blocks/fns/impls: {unsafe}")
