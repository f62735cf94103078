"""How every test program starts the agent: scenario.py, demo.py, bench.py.

The agent under test gets an environment built from scratch: a fixed PATH
and nothing of the caller's NODELINK_* settings (a NODELINK_CONFIG in the
developer's shell must not change what a scenario tests).  Sanitizer
options pass through, since the build that needs them sets them.

NODELINK_TEST_WRAPPER, if set, is a command line the agent runs under,
for example "valgrind --error-exitcode=99 --leak-check=full" to run the
whole scenario suite under valgrind, as memcached's harness can.
"""

import os
import resource
import shlex
import subprocess

FIXED_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSED_THROUGH = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                  "TMPDIR", "HOME")


def agent_env(extra=None):
    """The agent's environment: fixed, plus EXTRA (a dict)."""
    # NODELINK_CONFIG=none: an agent.yaml installed on the machine running
    # the tests is not read (a scenario names its own file).
    # NODELINK_STATE_DIR=none: no state directory of the machine's is used
    # (scenario.py gives each scenario its own).
    env = {"PATH": FIXED_PATH, "LANG": "C.UTF-8", "NODELINK_CONFIG": "none",
           "NODELINK_STATE_DIR": "none"}
    for name in PASSED_THROUGH:
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def agent_argv(agent, args):
    """The command line: the wrapper, if any, the agent, ARGS."""
    wrapper = shlex.split(os.environ.get("NODELINK_TEST_WRAPPER", ""))
    return wrapper + [agent] + list(args)


def start_agent(agent, args, env=None, nofile=None, cgroup=None, **popen):
    """Starts the agent with ARGS, at most NOFILE descriptors if given (a
    number, or a (soft, hard) pair), inside cgroup v2 directory CGROUP if
    given; POPEN goes to subprocess.Popen."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    soft = hard = None
    if nofile is not None:
        soft, hard = nofile if isinstance(nofile, tuple) else (nofile,
                                                                nofile)
    if nofile is not None or cgroup is not None:
        def limit():
            if soft is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            if cgroup is not None:      # started inside it, as systemd does
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                    f.write("0")
        popen["preexec_fn"] = limit
    return subprocess.Popen(agent_argv(agent, args),
                            env=env if env is not None else agent_env(),
                            **popen)
