#!/usr/bin/python3
"""`make bench`: the agent's speed and memory, each against a baseline
measured in the same run on the same machine.

- output throughput: a task writing 256 MiB of 100-byte lines, streamed to
  the mock server, against the same command writing into a local pipe;
- task rate: 2000 short tasks through the agent, against starting the same
  command 2000 times from here;
- memory: the agent's RSS idle, and its peak while streaming.

Figures only: nothing here passes or fails on time.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import launch  # noqa: E402
import nodelink_pb2 as pb  # noqa: E402
from mockserver import MockServer, shell_request  # noqa: E402

BIG = "head -c 268435456 /dev/zero | tr '\\\\0' x | fold -w 99"
SMALL = "true"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_finals(server, stream_box, want, pid=None, peak=None):
    """Consumes events until WANT final messages; returns output bytes."""
    finals, nbytes = 0, 0
    while finals < want:
        ev = server.events.get(timeout=300)
        if ev[0] == "connect":
            stream_box.append(ev[1])
        elif ev[0] == "message":
            nbytes += len(ev[2])
            if pid is not None and peak is not None:
                peak[0] = max(peak[0], rss_kib(pid))
            resp = pb.TaskResponse.FromString(ev[2])
            if resp.is_final:
                finals += 1
    return nbytes


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", default=os.path.join(HERE, "..", "..",
                                                    "nodelink-agent"))
    args = ap.parse_args(argv)

    server = MockServer()
    server.start()
    agent = launch.start_agent(
        args.agent, ["--server", "127.0.0.1:%d" % server.port,
                     "--agent-id", "bench", "--agent-token", "bench",
                     "--log-level", "warn"])
    try:
        ev = server.events.get(timeout=30)
        stream = ev[1]
        time.sleep(0.5)  # settle before sampling idle memory
        idle = rss_kib(agent.pid)

        t0 = time.monotonic()
        subprocess.run(["bash", "-c", BIG + " > /dev/null"], check=True)
        base_big = time.monotonic() - t0

        peak = [idle]
        t0 = time.monotonic()
        stream.send_request(shell_request("big", BIG))
        nbytes = wait_finals(server, [], 1, agent.pid, peak)
        agent_big = time.monotonic() - t0

        t0 = time.monotonic()
        for _ in range(2000):
            subprocess.run(["bash", "-c", SMALL], check=True)
        base_small = time.monotonic() - t0

        t0 = time.monotonic()
        for i in range(2000):
            stream.send_request(shell_request("small-%d" % i, SMALL))
        wait_finals(server, [], 2000)
        agent_small = time.monotonic() - t0
    finally:
        agent.terminate()
        agent.wait(30)
        server.stop(0)

    mib = 256.0
    print("output throughput: %.0f MiB/s through the agent to the server; "
          "%.0f MiB/s into a local pipe (baseline); ratio %.2f" % (
              mib / agent_big, mib / base_big, base_big / agent_big))
    print("  (%d bytes of messages for 256 MiB of output)" % nbytes)
    print("task rate: %.0f tasks/s through the agent (100 at a time); "
          "%.0f tasks/s started one by one from Python (baseline); "
          "ratio %.2f" % (2000 / agent_small, 2000 / base_small,
                          base_small / agent_small))
    print("memory: %.1f MiB RSS idle; %.1f MiB peak while streaming "
          "(spool limit 64 MiB)" % (idle / 1024.0, peak[0] / 1024.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
