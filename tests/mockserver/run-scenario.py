#!/usr/bin/python3
"""Runs one scenario file against the built agent; for automake's harness.

Exit status: 0 passed, 1 failed, 77 skipped (no grpc/protobuf modules),
99 the scenario itself is broken.  The transcript and the agent's log go
to stdout, which the harness keeps in the scenario's .log file.
"""

import os
import shutil
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("NODELINK_MOCKSERVER_DIR", HERE))


def _kill_leftovers(sc):
    """Kills task processes that outlived a failed scenario's agents.

    Every task process carries NODELINK_AGENT_TASK=<agent pid>-<n>; without
    this, one failure would leave processes that confuse later scenarios.
    """
    import signal
    marks = [("NODELINK_AGENT_TASK=%d-" % p).encode() for p in sc.agent_pids]
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(m) for e in env for m in marks):
            print("(killing leftover task process %s)" % name)
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass


def main(argv):
    if len(argv) != 1:
        print("usage: run-scenario.py SCENARIO", file=sys.stderr)
        return 99
    try:
        import scenario
    except ImportError as e:
        print("SKIP: the mock server needs Python's grpc and protobuf "
              "modules (Debian: python3-grpcio python3-protobuf): %s" % e)
        return 77
    agent = os.environ.get("NODELINK_AGENT",
                           os.path.join(HERE, "..", "..", "nodelink-agent"))
    if not os.access(agent, os.X_OK):
        print("no agent binary at %s (set NODELINK_AGENT)" % agent)
        return 99
    workdir = tempfile.mkdtemp(prefix="nodelink-scenario-")
    sc = scenario.Scenario(argv[0], agent, workdir,
                           out=lambda s: print(s, flush=True))
    status = 0
    try:
        sc.run()
        print("PASS: %s" % argv[0])
    except scenario.ScenarioFailure as e:
        print("FAIL: %s" % e)
        status = 1
    except scenario.ScenarioSkipped as e:
        print("SKIP: %s" % e)
        status = 77
    except Exception:
        traceback.print_exc()
        status = 99
    _kill_leftovers(sc)
    for n in range(1, sc.agents_started + 1):
        log = os.path.join(workdir, "agent-%d.log" % n)
        if not os.path.exists(log):
            continue
        print("---- log of agent %d ----" % n)
        with open(log, errors="replace") as f:
            for line in f:
                sys.stdout.write(line if len(line) < 2000 else
                                 line[:2000] + "...\n")
    sys.stdout.flush()
    shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
