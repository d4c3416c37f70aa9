#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The longest chain of calls from each PAM hook of pam_oo7.c, and from
the cleanup that pam_end runs: functions as ctags defines them, calls
within the file (a name followed by "("), a recursion cut where it
returns to a function already on the chain. Exits 1 when a chain is
deeper than the limit (10, or argv[2])."""
import re
import subprocess
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "pam_oo7.c"
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 10
src = open(path).read().split("\n")
tags = subprocess.run(["ctags", "--fields=+ne", "-o", "-", "--c-kinds=f",
                       path], capture_output=True, text=True,
                      check=True).stdout
spans = {}
for tag in tags.splitlines():
    name = tag.split("\t")[0]
    spans[name] = (int(re.search(r"\tline:(\d+)", tag).group(1)),
                   int(re.search(r"\tend:(\d+)", tag).group(1)))


def calls_of(name):
    first, last = spans[name]
    body = "\n".join(src[first - 1:last])
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    body = re.sub(r'"(\\.|[^"\\])*"', '""', body).split("{", 1)[-1]
    return {c for c in re.findall(r"\b([A-Za-z_]\w*)\s*\(", body)
            if c in spans and c != name}


calls = {name: calls_of(name) for name in spans}


def chain(name, seen):
    best = []
    for callee in sorted(calls[name] - seen):
        sub = chain(callee, seen | {name})
        if len(sub) > len(best):
            best = sub
    return [name] + best


roots = sorted(n for n in spans if n.startswith("pam_sm_") or n == "kept_cleanup")
deepest = 0
for root in roots:
    c = chain(root, frozenset())
    deepest = max(deepest, len(c))
    print(f"{len(c):2} {' -> '.join(c)}")
print(f"{len(spans)} functions; deepest chain {deepest} (limit {limit})")
sys.exit(deepest > limit)
