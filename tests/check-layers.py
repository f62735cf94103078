#!/usr/bin/python3
"""
check-layers.py: the agent's modules call each other only downwards.

The graph is read from the built library itself (nm libagent.a): a
module calls another when one of its undefined symbols is defined there.
Calls through function pointers (the link's handlers, the outbox's resume
hook, a task's cancel) are not edges: that is how a lower layer reports
back without depending on the one above.

Fails when
  - a module calls a module of a layer above its own, or
  - modules call each other in a cycle (a strongly connected component of
    more than one module), except inside the base layer (allocation,
    logging, escaping, UTF-8, buffers: an allocation failure is logged,
    and logging escapes what it writes, so they are one unit), or
  - a module of the library is in no layer (a new file must be placed).

doc/architecture.md draws the same layers.  Usage:
  check-layers.py [LIBRARY]       (default: ./libagent.a)
  check-layers.py --self-test     (proves that a cycle and an upward call
                                   are caught)
"""

import collections
import os
import shutil
import subprocess
import sys

# Top to bottom.  A module may call modules of its own layer (without a
# cycle) and of the layers below.
LAYERS = [
    ("main", ["main"]),
    ("wiring", ["dispatch", "http", "metrics-text", "reload", "notify",
                "recovery", "handover", "head"]),
    ("tasks", ["task-shell", "task-docker", "task-proc", "task-file",
               "admit", "task"]),
    ("outbox and state", ["outbox", "state", "finished", "record",
                          "journal", "crc32c"]),
    ("link", ["link", "link-cq", "spool", "backoff", "wire",
              "wire-head",
              "msg"]),
    ("helpers", ["framer", "mask", "policy", "limits", "user", "docker",
                 "files", "hostinfo", "kill", "reaper", "track", "metrics", "options",
                 "tls",
                 "config", "timer"]),
    ("contain", ["spawn-fork", "spawn-posix", "cgroup-linux", "cgroup-none",
                 "proctree-linux", "proctree-none"]),
    ("compat", ["pipe-cloexec", "monotime", "pty", "features", "rbtree",
                "datasync", "anonfile", "closefrom"]),
    ("base", ["log", "vis", "utf8", "buf", "xmalloc"]),
]
BASE = "base"


def read_graph(lib):
    """{module: {callee: a symbol}} from nm's view of the archive."""
    nm = os.environ.get("NM") or shutil.which("nm") or "nm"
    out = subprocess.run([nm, lib], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined, member = {}, collections.defaultdict(set), None
    for line in out.splitlines():
        if line.endswith(".o:"):
            member = line[:-3]
            # (libtool-style prefixes, if any: libagent_a-state.o)
            member = member.split("-", 1)[1] if member.startswith(
                "libagent_a-") else member
            undefined[member]
            continue
        parts = line.split()
        if member is None or not parts:
            continue
        if len(parts) == 3 and parts[1] in "TDBRCG":
            defined[parts[2]] = member
        elif len(parts) == 2 and parts[0] == "U":
            undefined[member].add(parts[1])
    graph = collections.defaultdict(dict)
    for caller, symbols in undefined.items():
        graph[caller]
        for sym in sorted(symbols):
            callee = defined.get(sym)
            if callee is not None and callee != caller:
                graph[caller].setdefault(callee, sym)
    return graph


def strongly_connected(graph):
    """Tarjan's algorithm, iterative: the components of more than one."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return out


def check(graph):
    """The problems found, as lines."""
    layer_of = {}
    for rank, (name, modules) in enumerate(LAYERS):
        for m in modules:
            layer_of[m] = (rank, name)
    problems = []
    for m in sorted(graph):
        if m not in layer_of:
            problems.append("%s.c is in no layer: place it in "
                            "tests/check-layers.py and "
                            "doc/architecture.md" % m)
    for caller in sorted(graph):
        for callee, sym in sorted(graph[caller].items()):
            if caller not in layer_of or callee not in layer_of:
                continue
            if layer_of[callee][0] < layer_of[caller][0]:
                problems.append("%s.c (%s) calls up into %s.c (%s): %s" % (
                    caller, layer_of[caller][1], callee,
                    layer_of[callee][1], sym))
    for comp in strongly_connected(graph):
        if all(layer_of.get(m, (None, None))[1] == BASE for m in comp):
            continue
        edges = ["%s -> %s (%s)" % (a, b, graph[a][b])
                 for a in comp for b in sorted(graph[a]) if b in comp]
        problems.append("a call cycle: %s" % "; ".join(edges))
    return problems


def self_test():
    """A clean graph passes; a cycle and an upward call are caught."""
    clean = {"task": {"outbox": "outbox_send"},
             "outbox": {"link": "link_send"},
             "link": {"spool": "spool_push"}, "spool": {"msg": "msg_free"},
             "msg": {}, "log": {"vis": "vis_escape"},
             "vis": {"xmalloc": "xmalloc"}, "xmalloc": {"log": "fatalx"}}
    assert check(clean) == [], check(clean)
    cyclic = {k: dict(v) for k, v in clean.items()}
    cyclic["link"]["task"] = "task_find"
    found = check(cyclic)
    assert any("calls up" in p for p in found), found
    same_layer = {k: dict(v) for k, v in clean.items()}
    same_layer["msg"]["spool"] = "spool_push"
    found = check(same_layer)
    assert any("a call cycle" in p for p in found), found
    stray = {k: dict(v) for k, v in clean.items()}
    stray["newfile"] = {}
    assert any("in no layer" in p for p in check(stray))
    print("ok - the checker catches a cycle, an upward call and a stray "
          "file")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    lib = sys.argv[1] if len(sys.argv) > 1 else "libagent.a"
    if not os.path.exists(lib):
        print("%s: not built" % lib, file=sys.stderr)
        return 99
    self_test()
    graph = read_graph(lib)
    problems = check(graph)
    edges = sum(len(v) for v in graph.values())
    for p in problems:
        print("FAIL: " + p)
    print("%d modules, %d calls between them: %s" % (
        len(graph), edges, "%d problems" % len(problems) if problems
        else "every call goes down a layer or across one, no cycle"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
