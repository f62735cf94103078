#!/usr/bin/python3
"""`make demo`: the agent running real tasks against the mock server.

Starts the mock server on a free loopback port, starts the agent against
it, sends a few shell tasks and prints their output as it streams in, with
the time each message arrived, then stops the agent with SIGTERM.
"""

import argparse
import os
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import launch  # noqa: E402
import nodelink_pb2 as pb  # noqa: E402
from mockserver import MockServer, print_response, shell_request  # noqa: E402

TASKS = [
    ("hello", "echo \"hello from $(hostname), $(uname -sr)\""),
    ("count", "for i in 1 2 3 4 5; do echo \"step $i of 5\"; sleep 0.4; done"),
    ("progress", "printf 'working: '; for i in 1 2 3; do printf '%s.. ' $i; "
                 "sleep 0.5; done; echo done"),
    ("both", "echo 'to stdout'; echo 'to stderr' >&2; exit 3"),
    ("missing", "ls /nonexistent"),
]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", default=os.path.join(HERE, "..", "..",
                                                    "nodelink-agent"))
    args = ap.parse_args(argv)

    server = MockServer()
    server.start()
    print("== mock nodelink server on 127.0.0.1:%d" % server.port)
    agent = launch.start_agent(
        args.agent, ["--server", "127.0.0.1:%d" % server.port,
                     "--agent-id", "demo-agent", "--agent-token",
                     "demo-token"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    lock = threading.Lock()

    def relay():
        for line in agent.stdout:
            with lock:
                sys.stdout.write("   agent log | " +
                                 line.decode(errors="replace"))
                sys.stdout.flush()
    threading.Thread(target=relay, daemon=True).start()

    start = time.monotonic()
    pending = {tid for tid, _ in TASKS}

    def handle(ev):
        if ev[0] == "connect":
            print("== agent %r connected; sending %d tasks" % (
                ev[1].metadata.get("agent_id"), len(TASKS)))
            for tid, cmd in TASKS:
                print("[%s] $ %s" % (tid, cmd))
                ev[1].send_request(shell_request(tid, cmd))
        elif ev[0] == "message":
            resp = pb.TaskResponse.FromString(ev[2])
            sys.stdout.write("%5.2fs " % (time.monotonic() - start))
            print_response(resp)
            if resp.is_final:
                pending.discard(resp.task_id)

    try:
        while pending and time.monotonic() < start + 30:
            try:
                ev = server.events.get(timeout=1)
            except queue.Empty:
                if agent.poll() is not None:
                    print("== the agent exited with %d" % agent.returncode)
                    return 1
                continue
            with lock:
                handle(ev)
                sys.stdout.flush()
    finally:
        agent.terminate()
        agent.wait(10)
        server.stop(0)
    print("== %s; the agent exited with %d" % (
        "all tasks finished" if not pending else "timed out",
        agent.returncode))
    return 0 if not pending and agent.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
