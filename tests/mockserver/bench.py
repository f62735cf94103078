#!/usr/bin/python3
"""`make bench`: the agent's speed and memory, each against a floor
measured in the same run on the same machine.

The server is tests/bench/bench-sink (gRPC's C++ server), not the Python
mock, whose ~2,400 messages/s would be what is measured.  For each figure
a fresh agent connects to a fresh sink; the agent's CPU time is read from
/proc just before the sink starts and just after it has its answer.

 1. dispatch: 1,000 sequential `true` tasks, p50/p99 request-to-final and
    agent CPU per task; floor: posix_spawn + wait of `bash -c true`;
 2. the same with 0, 1,000 and 5,000 idle processes on the host;
 3. 1 GiB of 64-byte lines: MB/s and agent CPU-s per GiB; floor: the same
    pipeline into /dev/null;
 4. `seq 1 10000000`: agent CPU;
 5. 1,000 and 5,000 concurrent sleeping tasks: KiB of agent memory per
    task, time to start all, time to cancel all with every final
    delivered; floor: killing and reaping as many sleeps directly;
 6. 1,000 tasks ending together: how long an unrelated task sent then
    takes;
 7. idle: 60 s connected with nothing to do: wakeups per second (the
    voluntary and involuntary context switches of every thread, from
    /proc/PID/task/*/status), CPU, RSS and threads; and the time from
    exec to the first connected stream.

Medians of BENCH_RUNS runs (default 3) where a figure is cheap to repeat.
Figures only: nothing here passes or fails.  The table goes to stdout, the
figures as JSON to bench.json (or --json FILE).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import launch  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
LINE64 = "a" * 63
GIB = 1 << 30


def cpu_s(pid):
    """User + system CPU seconds of PID so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wakeups(pid):
    """Context switches (voluntary + involuntary) of each thread of PID,
    and the threads' names: {tid: (name, switches)}."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                status = f.read()
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
        except OSError:
            continue        # it ended meanwhile
        n = sum(int(line.split()[1]) for line in status.splitlines()
                if line.startswith(("voluntary_ctxt_switches",
                                    "nonvoluntary_ctxt_switches")))
        out[tid] = (name, n)
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Run:
    """One sink and one agent for one measurement."""

    def __init__(self, sink, agent, mode, agent_args=()):
        self.dir = tempfile.mkdtemp(prefix="nodelink-bench-")
        portfile = os.path.join(self.dir, "port")
        self.sink = subprocess.Popen([sink, portfile] + mode,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        while not os.path.exists(portfile) or \
                not open(portfile).read().endswith("\n"):
            if self.sink.poll() is not None:
                raise RuntimeError("the sink exited")
            time.sleep(0.01)
        port = int(open(portfile).read())
        t0 = time.monotonic()
        self.agent = launch.start_agent(
            agent, ["--server", "127.0.0.1:%d" % port, "--agent-id",
                    "bench", "--agent-token", "bench", "--log-level",
                    "error"] + list(agent_args))
        if self.readline() != "connected":
            raise RuntimeError("the sink saw no agent")
        self.connect_ms = (time.monotonic() - t0) * 1000
        self.cpu0 = cpu_s(self.agent.pid)
        self.rss0 = rss_kib(self.agent.pid)

    def readline(self):
        return self.sink.stdout.readline().strip()

    def go(self):
        self.sink.stdin.write("go\n")
        self.sink.stdin.flush()

    def result(self):
        """The sink's JSON answer, with the agent's CPU used for it."""
        out = json.loads(self.readline())
        out["agent_cpu_s"] = cpu_s(self.agent.pid) - self.cpu0
        return out

    def close(self):
        self.agent.terminate()
        self.agent.wait(30)
        self.sink.wait(30)


def floor(sink, mode):
    return json.loads(subprocess.run([sink, "-"] + mode, check=True,
                                     capture_output=True,
                                     text=True).stdout)


def dispatch(args, n=1000, host=0, agent_args=()):
    idle = [subprocess.Popen(["sleep", "100000"]) for _ in range(host)]
    try:
        r = Run(args.sink, args.agent, ["dispatch", str(n)], agent_args)
        r.go()
        out = r.result()
        r.close()
    finally:
        for p in idle:
            p.kill()
            p.wait()
    out["cpu_ms_per_task"] = out["agent_cpu_s"] * 1000 / n
    return out


def stream(args, cmd, agent_args=()):
    """One task running CMD; with the CPU the sink and the task's own
    processes used, which share the machine with the agent."""
    fd, times = tempfile.mkstemp(prefix="nodelink-bench-times-")
    os.close(fd)
    r = Run(args.sink, args.agent,
            ["stream", "%s; times > %s" % (cmd, times)], agent_args)
    sink0 = cpu_s(r.sink.pid)
    r.go()
    out = r.result()
    out["sink_cpu_s"] = cpu_s(r.sink.pid) - sink0
    r.close()
    # `times`: the shell's own line, then its children's ("0m0.046s ...").
    with open(times) as f:
        lines = f.read().split("\n")
    os.unlink(times)
    out["task_cpu_s"] = sum(float(t.split("m")[0]) * 60 +
                            float(t.split("m")[1].rstrip("s"))
                            for line in lines[:2] for t in line.split())
    return out


def hold(args, n):
    r = Run(args.sink, args.agent, ["hold", str(n), "echo up; exec sleep "
                                    "100000"],
            ["--max-concurrent-tasks", str(n), "--max-queued-tasks",
             str(n)])
    r.go()
    started = r.readline()
    kib = (rss_kib(r.agent.pid) - r.rss0) / n
    r.go()
    out = r.result()
    r.close()
    out["kib_per_task"] = kib
    out["started_line"] = started
    return out


def burst(args, n):
    r = Run(args.sink, args.agent, ["burst", str(n)],
            ["--max-concurrent-tasks", str(n + 1)])
    r.go()
    out = r.result()
    r.close()
    return out


def idle(args, seconds=60):
    r = Run(args.sink, args.agent, ["idle", str(seconds)])
    time.sleep(1)               # the connection's own start settles
    r.cpu0 = cpu_s(r.agent.pid)
    before = wakeups(r.agent.pid)
    t0 = time.monotonic()
    r.go()
    out = r.result()
    after = wakeups(r.agent.pid)
    took = time.monotonic() - t0
    per_thread = {}
    for tid, (name, n) in after.items():
        per_thread.setdefault(name, 0)
        per_thread[name] += n - before.get(tid, (name, 0))[1]
    out["wakeups_per_s"] = sum(per_thread.values()) / took
    out["wakeups_by_thread"] = per_thread
    out["threads"] = len(after)
    out["rss_kib"] = rss_kib(r.agent.pid)
    out["cpu_ms_per_min"] = out["agent_cpu_s"] * 1000 * 60 / took
    out["connect_ms"] = r.connect_ms
    r.close()
    return out


def median_of(runs, fn, key):
    results = [fn() for _ in range(runs)]
    results.sort(key=lambda x: x[key])
    return results[len(results) // 2]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", default=os.path.join(HERE, "..", "..",
                                                    "nodelink-agent"))
    ap.add_argument("--sink", required=True)
    ap.add_argument("--json", default="bench.json")
    args = ap.parse_args(argv)
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    big = "yes %s | head -c %d" % (LINE64, GIB)
    res = {"runs": runs}

    print("== 1, 2. dispatch of 1,000 sequential `true` tasks", flush=True)
    res["floor_spawn"] = median_of(runs, lambda: floor(
        args.sink, ["floor-spawn", "1000"]), "p50_ms")
    for host in (0, 1000, 5000):
        res["dispatch_host_%d" % host] = median_of(
            runs, lambda: dispatch(args, host=host), "p50_ms")

    print("== 3. 1 GiB of 64-byte lines", flush=True)
    t = []
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run(["bash", "-c", big + " > /dev/null"], check=True)
        t.append(time.monotonic() - t0)
    res["floor_pipe_mb_per_s"] = GIB / statistics.median(t) / 1e6
    res["stream_1gib"] = median_of(runs, lambda: stream(args, big),
                                   "mb_per_s")

    print("== 4. seq 1 10000000", flush=True)
    res["seq_10m"] = median_of(runs, lambda: stream(args, "seq 1 10000000"),
                               "agent_cpu_s")

    print("== 5. 1,000 and 5,000 sleeping tasks: start all, cancel all",
          flush=True)
    for n in (1000, 5000):
        res["floor_kill_%d" % n] = floor(args.sink, ["floor-kill", str(n)])
        res["hold_%d" % n] = hold(args, n)

    print("== 6. 1,000 tasks ending together, one unrelated", flush=True)
    res["burst_1000"] = median_of(runs, lambda: burst(args, 1000),
                                  "unrelated_ms")

    print("== 7. idle for 60 s", flush=True)
    res["idle_60s"] = idle(args)

    print("== 8. with a state directory (the journal)", flush=True)
    states = []

    def journal():
        # A fresh directory each run: a reused one would send the last
        # run's unacknowledged messages again, and answer its task IDs.
        states.append(tempfile.mkdtemp(prefix="nodelink-bench-state-"))
        return ["--state-dir", states[-1]]
    res["stream_1gib_journal"] = median_of(
        runs, lambda: stream(args, big, journal()), "mb_per_s")
    res["dispatch_journal"] = median_of(
        runs, lambda: dispatch(args, agent_args=journal()), "p50_ms")
    for d in states:
        shutil.rmtree(d, ignore_errors=True)

    fs = res["floor_spawn"]["p50_ms"]
    rows = [("measure", "agent", "floor", "ratio", "target")]
    for host in (0, 1000, 5000):
        d = res["dispatch_host_%d" % host]
        rows.append(("dispatch p50, %d host procs (ms)" % host,
                     "%.3f" % d["p50_ms"], "%.3f" % fs,
                     "%.2fx" % (d["p50_ms"] / fs), "<= 1.25x"))
        rows.append(("  p99 (ms)", "%.3f" % d["p99_ms"],
                     "%.3f" % res["floor_spawn"]["p99_ms"], "", ""))
        rows.append(("  agent CPU per task (ms)",
                     "%.3f" % d["cpu_ms_per_task"], "", "", "<= 0.3"))
    s = res["stream_1gib"]
    fp = res["floor_pipe_mb_per_s"]
    rows.append(("1 GiB of 64-byte lines (MB/s)", "%.0f" % s["mb_per_s"],
                 "%.0f" % fp, "%.2fx" % (s["mb_per_s"] / fp), ">= 0.5x"))
    rows.append(("  agent CPU per GiB (s)", "%.2f" % s["agent_cpu_s"], "",
                 "", "<= 1"))
    # On a small machine the four processes share the CPUs: what the
    # others need bounds what the agent can reach.
    rows.append(("  sink / task (yes, head) CPU per GiB (s)",
                  "%.2f / %.2f" % (s["sink_cpu_s"], s["task_cpu_s"]), "",
                  "", ""))
    allcpu = s["agent_cpu_s"] + s["sink_cpu_s"] + s["task_cpu_s"]
    rows.append(("  all four per GiB (s), on %d CPUs" % os.cpu_count(),
                 "%.2f" % allcpu, "", "",
                 "<= %.2f for 0.5x" % (os.cpu_count() * 2 / fp * GIB /
                                       1e6)))
    rows.append(("seq 1 10000000: agent CPU (s)",
                 "%.2f" % res["seq_10m"]["agent_cpu_s"], "", "", "<= 1"))
    for n in (1000, 5000):
        h = res["hold_%d" % n]
        fk = res["floor_kill_%d" % n]["kill_all_s"]
        rows.append(("%d sleeping tasks: KiB per task" % n,
                     "%.2f" % h["kib_per_task"], "", "", "<= 2"))
        rows.append(("  start all (s)", "%.2f" % h["start_all_s"], "", "",
                     ""))
        rows.append(("  cancel all, %d/%d finals (s)" % (h["finals"], n),
                     "%.2f" % h["cancel_all_s"], "%.2f" % fk,
                     "%.2fx" % (h["cancel_all_s"] / fk), "<= 2x"))
    rows.append(("1,000 ending together: unrelated task (ms)",
                 "%.1f" % res["burst_1000"]["unrelated_ms"], "", "",
                 "< 100"))
    i = res["idle_60s"]
    rows.append(("idle 60 s: wakeups per second",
                 "%.2f" % i["wakeups_per_s"], "", "", "<= 1 (0.2)"))
    rows.append(("  by thread (in 60 s)", ", ".join(
        "%s %d" % kv for kv in sorted(i["wakeups_by_thread"].items(),
                                      key=lambda kv: -kv[1]) if kv[1]),
        "", "", ""))
    rows.append(("  agent CPU per minute (ms)", "%.1f" % i["cpu_ms_per_min"],
                 "", "", "<= 2"))
    rows.append(("  RSS (MiB), threads", "%.1f, %d" % (
        i["rss_kib"] / 1024, i["threads"]), "", "", ""))
    rows.append(("exec to first connected stream (ms)",
                 "%.1f" % i["connect_ms"], "", "", ""))
    sj, dj, d0 = (res["stream_1gib_journal"], res["dispatch_journal"],
                  res["dispatch_host_0"])
    rows.append(("journal: 1 GiB (MB/s), vs memory only",
                 "%.0f" % sj["mb_per_s"], "%.0f" % s["mb_per_s"],
                 "%.2fx" % (sj["mb_per_s"] / s["mb_per_s"]), ">= 0.9x"))
    rows.append(("  agent CPU per GiB (s)", "%.2f" % sj["agent_cpu_s"],
                 "%.2f" % s["agent_cpu_s"],
                 "%.2fx" % (sj["agent_cpu_s"] / s["agent_cpu_s"]),
                 "<= 1.1x"))
    rows.append(("journal: dispatch p50 (ms), vs memory only",
                 "%.3f" % dj["p50_ms"], "%.3f" % d0["p50_ms"],
                 "%.2fx" % (dj["p50_ms"] / d0["p50_ms"]), "<= 1.1x"))
    rows.append(("  agent CPU per task (ms)", "%.3f" % dj["cpu_ms_per_task"],
                 "%.3f" % d0["cpu_ms_per_task"],
                 "%.2fx" % (dj["cpu_ms_per_task"] / d0["cpu_ms_per_task"]),
                 "<= 1.1x"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print("(figures as JSON in %s)" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
