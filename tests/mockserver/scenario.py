"""Scenario files: the server's side of a conversation with the agent.

A scenario is a text file of steps, one per line, split like a shell line
(quotes group words; '#' starts a comment).  ${TMP} is a fresh directory for
the scenario, ${PORT} the server's port, ${AGENT} the agent binary,
${AGENT_PID} the running agent's process ID, ${FREE_PORT} a loopback port
where nothing listens, ${NL} ${CR} ${ESC} those control characters.

    agent [ARG...]           start the agent against this server (with
                             --agent-id agent1 --agent-token secret1 -v
                             unless `agent-bare` is used instead)
    agent-bare [ARG...]      start the agent with exactly these arguments
    agent-env NAME=VALUE     environment for the agent started next
    agent-exits CODE [stderr=RE] [stderr-lacks=RE]
                             the agent exits by itself with CODE
    stop-agent [exit=CODE]   SIGTERM, then the agent exits (default 0)
    kill-agent               SIGKILL: the agent dies at once, as by the
                             OOM killer (${STATE}: its state directory)
    server-ack every|N|never the server acknowledges each message (or every
                             N-th, up to it) with a TaskRequest ack
    duplicates-at-most ID N  task ID had at most N messages sent twice
    wait-acked ID            wait until the agent has taken the server's ack
                             of the last message of task ID received
    mount-tmpfs DIR KIB      (root) a tmpfs of KIB at DIR, unmounted when
                             the scenario ends: a disk that fills up
    input ID TEXT [eof]      TaskInput (TEXT with \n-style escapes)
    input-eof ID             TaskInput with eof only
    input-file ID FILE [N]   FILE's bytes as TaskInputs of N bytes (64 KiB)
    resize ID ROWS COLS      TaskResize
    upload ID PATH FILE [chunk=N] [mode=OCTAL] [overwrite] [sha=auto|none|HEX]
          [count=N]          FILE in FileUpload chunks (count: only the
                             first N are sent)
    upload-chunk ID PATH OFFSET TEXT [last] [overwrite] [sha=HEX] [mode=M]
    download ID PATH [offset=N] [length=N]
    expect checks for files: upload-size=N sha256=HEX|of:FILE
        download-bytes=N download-of=FILE[:OFFSET[:LENGTH]]
        download-size=N (the final's size)
    accept [KEY=VALUE...]    a stream opens with this metadata
                             (default agent_id=agent1 agent_token=secret1)
    reject CODE DETAILS      end new streams at once with this status
    accept-again             stop rejecting
    shell ID CMD [env=K=V]... [env-count=N] [dir=D] [timeout=N] [agent_id=A]
          [traceparent=TP] [secret=K=V]... [user=U] [sandbox=IMAGE]
          [sandbox-network=yes] [memory=N] [cpu=N] [procs=N] [nofile=N]
          [fsize=N] [output=N] [cmd-file=FILE]
                             send a ShellExecute task (env-count adds
                             E1=1 .. EN=N; memory .. output are its limits;
                             cmd-file: CMD is read from FILE instead)
    docker ID OP ...         send a DockerOperation: run IMG [name=N]
                             [arg=A]... [env=K=V]... [port=P]... [volume=V]...
                             [detach] [rm] | start C | stop C [timeout=N] |
                             logs C [follow] [tail=N] [timestamps] | pull IMG |
                             rm C [force] | ps [all] | inspect C | empty
    docker-calls N           the fake Docker CLI ran N times (it records to
                             ${TMP}/docker.log)
    docker-call N ARG...     its N-th argument vector, '*' matching anything
    docker-call-match RE     wait for a call whose arguments match RE
    require-docker           skip unless a real Docker engine answers
    request ID none          send a TaskRequest with no task set
    request ID docker-run IMG
    cancel ID [reason=TEXT]  send a TaskCancel (at field 5, or 6 after
                             `server-dialect upstream`)
    server-dialect design|upstream
                             the numbering the server speaks: upstream's
                             sends cancels at TaskRequest 6 and reads
                             TaskResponse 7 as the cancel's answer
    raw HEX                  send these bytes as one message
    end [CODE DETAILS]       end the stream (status OK, or CODE)
    output ID stdout|stderr RE
                             wait until the task's output so far matches
    expect ID [CHECK...]     wait for the task's final message, then check:
        status=COMPLETED|FAILURE   exit=N   cancelled=yes|no
        stdout=RE  stderr=RE       (re.search, DOTALL)
        stdout-lacks=RE  stderr-lacks=RE
        stdout-is=TEXT  stderr-is=TEXT   stdout-of=CMD (bash output)
        stdout-bytes=N  max-chunk=N  min-chunks=N  whole-lines
        container-id=RE  kind=shell_execute|docker_operation
        reason=NAME (FailureReason; REASON_NONE for none)
        used-stdout=N  used-stderr=N  used-cpu-ms-min=N  used-rss-kib-min=N
        used-wall-ms-min=N  used-wall-ms-max=N  no-usage
    cancel-reply ID [message=RE] [field=7|8]
                             wait for the agent's answer to a cancel
    no-message ID            nothing was ever sent for ID
    no-final ID              ID has not sent its final message (yet)
    shell-many PREFIX N CMD  send N tasks PREFIX-1 .. PREFIX-N running CMD
    expect-many PREFIX N [CHECK...]
                             `expect` each of them
    duplicates ID N          wait until N exact resends of earlier messages
                             have arrived, and no more
    signal-agent SIGNAME     send the agent a signal, without waiting
    agent-log-close          stop reading the agent's log: its stderr is
                             then a pipe with no reader
    process RE               wait until a process's command line matches
    no-process RE            wait until no process's command line matches
    fd-count NAME            ${NAME} = descriptors the agent holds now
    fd-count-same NAME       the agent holds ${NAME} descriptors
    no-zombies               wait until the agent has no zombie children
    server-stop              stop the server: every stream breaks and new
                             connections are refused
    server-start             listen again on the same port
    server-allow-pings       restart the server allowing frequent keep-alive
                             pings (default servers allow one per 5 minutes)
    server-small-window      restart the server with a fixed 64 KiB HTTP/2
                             window (no BDP probing)
    server-tls CERT KEY [CLIENT-CA]
                             restart the server serving TLS with this
                             certificate and key (PEM files), requiring
                             client certificates from CLIENT-CA if given
    proxy                    a TCP proxy to the server at ${PROXY_PORT}
    proxy-freeze             the proxy stops forwarding, closing nothing: a
                             server host gone from the network
    proxy-thaw               ...and forwards again
    rejections N             wait until N streams were rejected, no more
    pause-reading            the server stops reading the agent's messages
    resume-reading           ...and reads again
    rss-reset                start sampling the agent's peak RSS anew (it is
                             sampled while steps wait)
    rss-peak-below MIB       the peak stayed below MIB
    log RE                   wait for an agent log line matching RE
    log-lacks RE             no agent log line so far matches RE
    log-every RE             every agent log line so far matches RE
    log-json                 every agent log line so far is a JSON object
                             with time, level and msg
    log-count RE N           wait for N agent log lines matching RE
    rejections-match-log RE  the server rejected as many streams as the
                             agent logged lines matching RE (or one more,
                             under way)
    exec CMD                 run CMD with bash here; it must succeed
    expect-within ID SECONDS the task's final came at most SECONDS (scaled by
                             $NODELINK_TEST_TIMEOUT_SCALE) after its request
    host-processes N         start N idle processes on the host (ended with
                             the scenario)
    agent-cgroup DIR         the agent started next starts inside cgroup v2
                             directory DIR (as systemd starts a unit)
    agent-nofile N[:HARD]    the agent started next has N descriptors at most
                             (soft limit N, hard limit HARD)
    require-cgroups          skip unless the agent gives tasks cgroups
    require-root             skip unless the suite runs as root
    require-log RE WHY       skip (saying WHY) unless an agent log line so
                             far matches RE
    notify-socket            a NOTIFY_SOCKET (systemd's) for the next agent
    notify RE                wait for a notification matching RE
    log-var NAME RE          wait for a log line matching RE; ${NAME} = its
                             first group
    promtool URL             `promtool check metrics` accepts a scrape of URL
    http-hold ADDR N         hold N idle connections to ADDR (host:port)
    http-release             close them
    http-held-closed         wait until the agent has closed them all
    http URL CODE|refused [body=RE] [method=M] [once]
                             an HTTP request answers CODE (and a body
                             matching RE; JSON for .../healthz, /readyz)
    metric URL NAME VALUE    a scrape of URL (parsed strictly as Prometheus
                             text) has sample NAME (with its labels sorted,
                             as name{a="1",b="2"}) equal to VALUE, within 5 s
    timeout SECONDS          how long later steps wait (default 30; scaled
                             by $NODELINK_TEST_TIMEOUT_SCALE)
    require FEATURE...       skip the scenario unless the agent was built
                             with these (see `nodelink-agent --version`)
    set NAME VALUE           define ${NAME}
    set-scaled NAME N [min=M]
                             define ${NAME} as N times $NODELINK_TEST_SCALE
                             (default 1; at least M, default 1), for heavy
                             scenarios
    set-repeat NAME TEXT N   define ${NAME} as TEXT repeated N times
    set-file NAME FILE       define ${NAME} as FILE's first line
    cancel-many PREFIX N     cancel PREFIX-1 .. PREFIX-N
    cancel-reply-many PREFIX N [message=RE]

Every message is checked as it arrives: it must parse as a TaskResponse
(valid UTF-8 included), carry the expected agent_id, number its task's
messages from 1 without gaps (an AGENT_RESTARTED final may skip
ahead past a reservation), hold exactly one of stdout/stderr when
IN_PROGRESS, and never follow its task's final message.  A FAILURE final
must carry a reason, and a COMPLETED one (a process ran) its usage.  An exact copy of
an earlier message (same seq, same bytes) is a resend: counted, not failed.
"""

import codecs
import fnmatch
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time

import grpc

import launch
import nodelink_pb2 as pb

from head_steps import HeadSteps
from mockserver import FreezingProxy, MockServer, shell_request


class ScenarioFailure(Exception):
    pass


HeadSteps.Failure = ScenarioFailure


class ScenarioSkipped(Exception):
    pass


def _scale():
    """NODELINK_TEST_SCALE shrinks heavy scenarios (0.1: a tenth)."""
    try:
        return float(os.environ.get("NODELINK_TEST_SCALE", "1"))
    except ValueError:
        return 1.0


def _timeout_scale():
    try:
        return float(os.environ.get("NODELINK_TEST_TIMEOUT_SCALE", "1"))
    except ValueError:
        return 1.0


class TaskLog:
    """Everything the agent sent about one task."""

    def __init__(self, task_id):
        self.task_id = task_id
        self.messages = []
        self._out = {"stdout": [], "stderr": []}
        self._joined = {}
        self.chunks = []  # (stream, text) of each IN_PROGRESS message
        self.final = None
        self.cancel_reply = None
        self.cancel_reply_field = None
        self.sent_at = self.final_at = None
        self.last_seq = 0
        self.raw_by_seq = {}
        self.duplicates = 0
        self.dl_next = None  # a download: the offset expected next
        self.dl_sha = hashlib.sha256()
        self.dl_bytes = 0

    def add_output(self, which, text):
        self._out[which].append(text)
        self._joined.pop(which, None)
        if len(text) < 65536:
            self.chunks.append((which, text))
        else:  # keep the size, not a second copy of a large chunk
            self.chunks.append((which, _Size(text)))

    def _get(self, which):
        if which not in self._joined:
            self._joined[which] = "".join(self._out[which])
        return self._joined[which]

    stdout = property(lambda self: self._get("stdout"))
    stderr = property(lambda self: self._get("stderr"))


class _Size(str):
    """Stands for a large chunk in TaskLog.chunks: its end and its size."""

    def __new__(cls, text):
        obj = super().__new__(cls, text[-1:])
        obj.size = len(text.encode("utf-8"))
        return obj

    def encode(self, *args):
        return b"x" * self.size


class Agent:
    """The agent process, its log collected line by line."""

    def __init__(self, argv, env, log_path, nofile=None, cgroup=None):
        self.lines = []
        self.stop_reading = False
        self.cond = threading.Condition()
        self.log = open(log_path, "w")
        self.proc = launch.start_agent(argv[0], argv[1:], env=env,
                                       nofile=nofile, cgroup=cgroup,
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.write(line + "\n")
            self.log.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
            if self.stop_reading:
                self.log.write("(the scenario stops reading this log)\n")
                self.proc.stdout.close()
                break
        with self.cond:
            self.cond.notify_all()

    def close_log(self):
        """The reader closes the pipe after the next line it reads."""
        self.stop_reading = True

    def wait_log(self, pattern, timeout):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 not self.reader.is_alive()):
                    raise ScenarioFailure("no agent log line matches %r" %
                                          pattern)
                self.cond.wait(left)

    def wait_exit(self, timeout):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ScenarioFailure("agent still running after %.0f s" %
                                  timeout)
        self.reader.join(5)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        self.log.close()


class Scenario(HeadSteps):
    def __init__(self, path, agent_path, workdir, out=print):
        self.path = path
        self.agent_path = agent_path
        self.workdir = workdir
        self.out = out
        self.timeout = 30.0 * _timeout_scale()
        self.vars = {"TMP": workdir, "AGENT": agent_path,
                     "NL": "\n", "CR": "\r", "ESC": "\x1b",
                     "MOCKDIR": os.path.dirname(os.path.abspath(__file__)),
                     "FREE_PORT": _free_port()}
        self.rss_peak_kib = 0
        self.agent_env = launch.agent_env()
        # Each scenario's agents share a state directory of their own, as
        # an installed agent's restarts share its one; the whole suite
        # runs memory-only with NODELINK_TEST_MEMORY_ONLY=1.
        self.vars["STATE"] = os.path.join(workdir, "state")
        if not os.environ.get("NODELINK_TEST_MEMORY_ONLY"):
            self.agent_env["NODELINK_STATE_DIR"] = self.vars["STATE"]
        self._progress_at = time.monotonic()
        self.server = MockServer()
        self.agent = None
        self.agents_started = 0
        self.agent_pids = []
        self.stream = None
        self.tasks = {}
        self.expected_agent_id = "agent1"
        self.dialect = "design"
        self.host_procs = []
        self.agent_nofile = None
        self.agent_cgroup = None
        self.ack_every = 0
        self.acked_count = 0
        self.mounts = []
        self._head_init()

    # -- events -------------------------------------------------------------

    def _task(self, task_id):
        if task_id not in self.tasks:
            self.tasks[task_id] = TaskLog(task_id)
        return self.tasks[task_id]

    def _pump(self, timeout):
        """Handles one server event; False if none came in time."""
        import queue
        try:
            ev = self.server.events.get(timeout=max(timeout, 0))
        except queue.Empty:
            return False
        kind = ev[0]
        if kind == "connect":
            self._pending_connects.append(ev[1])
        elif kind == "message" and ev[1].head:
            self._on_head_message(ev[2])
        elif kind == "message":
            self._on_message(ev[2])
        elif kind == "error":
            raise ScenarioFailure("stream error at the server: %s" % ev[2])
        return True

    def _on_message(self, raw):
        self._progress_at = time.monotonic()
        try:
            resp, reply_field = self._decode_response(raw)
        except Exception as e:
            raise ScenarioFailure("agent sent a message that is not a valid "
                                  "TaskResponse (%d bytes): %s" % (len(raw), e))
        t = self._task(resp.task_id)
        if resp.seq <= t.last_seq and resp.seq in t.raw_by_seq:
            # At-least-once: a resend must repeat the message exactly.
            if t.raw_by_seq[resp.seq] != _digest(raw):
                raise ScenarioFailure("task %r: seq %d sent again with "
                                      "different content" % (
                                          resp.task_id[:60], resp.seq))
            t.duplicates += 1
            return
        where = "task %r message %d" % (resp.task_id[:60], len(t.messages) + 1)
        if resp.agent_id != self.expected_agent_id:
            raise ScenarioFailure("%s: agent_id %r, expected %r" % (
                where, resp.agent_id, self.expected_agent_id))
        # A restarted agent numbers an interrupted task's final past
        # every seq its predecessor may have used (a reservation), which
        # may skip some; anything else comes one after the last.
        restarted = (resp.is_final and resp.reason ==
                     pb.TaskResponse.AGENT_RESTARTED)
        if resp.seq != t.last_seq + 1 and not (
                restarted and resp.seq > t.last_seq):
            raise ScenarioFailure("%s: seq %d after %d" % (
                where, resp.seq, t.last_seq))
        t.last_seq = resp.seq
        t.raw_by_seq[resp.seq] = _digest(raw)
        t.messages.append(resp)
        if self.ack_every and self.stream is not None:
            self.acked_count += 1
            if self.acked_count % self.ack_every == 0:
                ack = pb.TaskRequest(task_id=resp.task_id)
                ack.ack.seq = resp.seq
                self.stream.send_request(ack)
        if resp.HasField("task_cancel"):
            if not (resp.is_final and resp.cancelled and
                    resp.status == pb.TaskResponse.COMPLETED):
                raise ScenarioFailure("%s: cancel reply must be final, "
                                      "cancelled, COMPLETED: %s" % (where, resp))
            t.cancel_reply = resp
            t.cancel_reply_field = reply_field
            return
        if t.final is not None:
            raise ScenarioFailure("%s: sent after the task's final message"
                                  % where)
        out = (resp.docker_operation if resp.HasField("docker_operation")
               else resp.shell_execute)
        if (resp.status == pb.TaskResponse.IN_PROGRESS and
                resp.HasField("file_download")):
            d = resp.file_download
            if t.dl_next is not None and d.offset != t.dl_next:
                raise ScenarioFailure("%s: download piece at %d, expected "
                                      "%d" % (where, d.offset, t.dl_next))
            if len(d.data) > 1024 * 1024 or not d.data:
                raise ScenarioFailure("%s: a download piece of %d bytes" %
                                      (where, len(d.data)))
            t.dl_next = d.offset + len(d.data)
            t.dl_sha.update(d.data)
            t.dl_bytes += len(d.data)
            return
        if resp.status == pb.TaskResponse.IN_PROGRESS:
            if resp.is_final:
                raise ScenarioFailure("%s: IN_PROGRESS and final" % where)
            if bool(out.stdout) == bool(out.stderr):
                raise ScenarioFailure("%s: an output message must hold "
                                      "exactly one of stdout and stderr"
                                      % where)
            if out.stdout:
                t.add_output("stdout", out.stdout)
            else:
                t.add_output("stderr", out.stderr)
        else:
            if not resp.is_final:
                raise ScenarioFailure("%s: status %s without is_final" % (
                    where, pb.TaskResponse.Status.Name(resp.status)))
            if resp.status not in (pb.TaskResponse.COMPLETED,
                                   pb.TaskResponse.FAILURE):
                raise ScenarioFailure("%s: final status %s" % (
                    where, pb.TaskResponse.Status.Name(resp.status)))
            if (resp.status == pb.TaskResponse.FAILURE and
                    resp.reason == pb.TaskResponse.REASON_NONE):
                raise ScenarioFailure("%s: a FAILURE final without a "
                                      "reason: %s" % (where, resp))
            if (resp.status == pb.TaskResponse.COMPLETED and
                    resp.WhichOneof("response") in ("shell_execute",
                                                    "docker_operation") and
                    not resp.HasField("usage")):
                raise ScenarioFailure("%s: a COMPLETED final without its "
                                      "usage" % where)
            t.final = resp
            t.final_at = time.monotonic()

    def _decode_response(self, raw):
        """A TaskResponse, and the field its cancel answer came at (8 in
        the design's numbering; 7, upstream's, when the server speaks
        upstream's: its 7 is then read as task_cancel, not Docker)."""
        if self.dialect != "upstream":
            resp = pb.TaskResponse.FromString(raw)
            return resp, 8 if resp.HasField("task_cancel") else None
        rest, seven = b"", None
        for field, start, end, payload in _top_fields(raw):
            if field == 7:
                seven = payload
            else:
                rest += raw[start:end]
        resp = pb.TaskResponse.FromString(rest)
        if seven is None:
            return resp, 8 if resp.HasField("task_cancel") else None
        resp.task_cancel.CopyFrom(pb.TaskCancelResponse.FromString(seven))
        return resp, 7

    def _sample_rss(self):
        if self.agent is not None and self.agent.proc.poll() is None:
            self.rss_peak_kib = max(self.rss_peak_kib,
                                    _rss_kib(self.agent.proc.pid))

    def _wait(self, pred, what, timeout=None):
        """Waits until PRED() holds.  The limit counts from the start or
        from the agent's last message, whichever is later: a busy machine
        makes progress slowly, a broken agent makes none."""
        limit = timeout or self.timeout
        start = time.monotonic()
        self._sample_rss()
        while not pred():
            self._sample_rss()
            left = max(start, self._progress_at) + limit - time.monotonic()
            if left <= 0:
                raise ScenarioFailure("timed out waiting for %s (no "
                                      "progress for %.0f s)" % (what, limit))
            if self.agent is not None and self.agent.proc.poll() is not None \
                    and self.server.events.empty():
                raise ScenarioFailure("agent exited (status %s) while "
                                      "waiting for %s" % (
                                          self.agent.proc.returncode, what))
            self._pump(min(left, 0.2))

    # -- steps --------------------------------------------------------------

    def _expand(self, word):
        def value(m):
            name = m.group(1)
            if name in self.vars:
                return str(self.vars[name])
            if name in self.agent_env:
                return self.agent_env[name]
            raise ScenarioFailure("${%s} is not defined" % name)
        return re.sub(r"\$\{(\w+)\}", value, word)

    @staticmethod
    def _kv(words):
        opts, rest = {}, []
        for w in words:
            k, eq, v = w.partition("=")
            if eq and re.match(r"^[a-z][a-z0-9_-]*$", k):
                opts.setdefault(k, []).append(v)
            else:
                rest.append(w)
        return opts, rest

    def _start_agent(self, args, bare):
        argv = [self.agent_path]
        if not bare:
            argv += ["--server", "127.0.0.1:%d" % self.server.port,
                     "--agent-id", "agent1", "--agent-token", "secret1", "-v"]
        argv += args
        if self.agent is not None:
            self.agent.kill()
        self.agents_started += 1
        self.agent = Agent(argv, self.agent_env, os.path.join(
            self.workdir, "agent-%d.log" % self.agents_started),
            nofile=self.agent_nofile, cgroup=self.agent_cgroup)
        self.agent_cgroup = None
        self.vars["AGENT_PID"] = self.agent.proc.pid
        self.agent_pids.append(self.agent.proc.pid)

    def step_agent(self, args):
        self._start_agent(args, bare=False)

    def step_agent_bare(self, args):
        self._start_agent(args, bare=True)

    def step_agent_binary(self, args):
        """The next agent starts from this file (an installed copy)."""
        self.agent_path = args[0]

    def step_agent_env(self, args):
        for a in args:
            k, _, v = a.partition("=")
            self.agent_env[k] = v

    def step_agent_exits(self, args):
        opts, rest = self._kv(args[1:])
        code = self.agent.wait_exit(self.timeout)
        if code != int(args[0]):
            raise ScenarioFailure("agent exited with %d, expected %s" % (
                code, args[0]))
        for pattern in opts.get("stderr", []):
            self.agent.wait_log(pattern, 1)
        for pattern in opts.get("stderr-lacks", []):
            self._log_lacks(pattern)

    def step_stop_agent(self, args):
        opts, _ = self._kv(args)
        want = int(opts.get("exit", ["0"])[0])
        self.agent.proc.send_signal(signal.SIGTERM)
        code = self.agent.wait_exit(self.timeout)
        if code != want:
            raise ScenarioFailure("agent exited with %d after SIGTERM, "
                                  "expected %d" % (code, want))

    def step_kill_agent(self, args):
        self.agent.proc.kill()
        self.agent.wait_exit(self.timeout)

    def step_wait_acked(self, args):
        t = self._task(args[0])
        self.step_log(["task %s: acknowledged up to seq %d$" % (
            re.escape(args[0]), t.last_seq)])

    def step_input(self, args):
        req = pb.TaskRequest(task_id=args[0])
        req.task_input.data = codecs.decode(args[1], "unicode_escape").encode(
            "latin-1")
        req.task_input.eof = "eof" in args[2:]
        self._need_stream().send_request(req)

    def step_input_eof(self, args):
        req = pb.TaskRequest(task_id=args[0])
        req.task_input.eof = True
        self._need_stream().send_request(req)

    def step_input_file(self, args):
        st = self._need_stream()
        piece = int(args[2]) if len(args) > 2 else 65536
        with open(args[1], "rb") as f:
            for block in iter(lambda: f.read(piece), b""):
                req = pb.TaskRequest(task_id=args[0])
                req.task_input.data = block
                st.send_request(req)

    def step_resize(self, args):
        req = pb.TaskRequest(task_id=args[0])
        req.task_resize.rows = int(args[1])
        req.task_resize.cols = int(args[2])
        self._need_stream().send_request(req)

    def step_upload(self, args):
        task_id, path, local = args[0], args[1], args[2]
        opts, rest = self._kv(args[3:])
        chunk = int(opts.get("chunk", [str(1 << 20)])[0])
        sha = opts.get("sha", ["auto"])[0]
        count = int(opts.get("count", ["-1"])[0])
        st = self._need_stream()
        size = os.path.getsize(local)
        off, sent = 0, 0
        with open(local, "rb") as f:
            while True:
                block = f.read(chunk)
                last = f.tell() >= size
                req = pb.TaskRequest(task_id=task_id)
                up = req.file_upload
                up.path, up.offset, up.data, up.last = path, off, block, last
                up.mode = int(opts.get("mode", ["0"])[0], 8)
                up.overwrite = "overwrite" in rest
                if last and sha != "none":
                    up.sha256 = _sha256_of(local) if sha == "auto" else sha
                if count < 0 or sent < count:
                    st.send_request(req)
                sent += 1
                off += len(block)
                if last:
                    break

    def step_upload_chunk(self, args):
        task_id, path, offset = args[0], args[1], int(args[2])
        opts, rest = self._kv(args[4:])
        req = pb.TaskRequest(task_id=task_id)
        up = req.file_upload
        up.path, up.offset = path, offset
        up.data = codecs.decode(args[3], "unicode_escape").encode("latin-1")
        up.last = "last" in rest
        up.overwrite = "overwrite" in rest
        if "sha" in opts:
            up.sha256 = opts["sha"][0]
        if "mode" in opts:
            up.mode = int(opts["mode"][0], 8)
        self._need_stream().send_request(req)

    def step_download(self, args):
        opts, _ = self._kv(args[2:])
        req = pb.TaskRequest(task_id=args[0])
        d = req.file_download
        d.path = args[1]
        d.offset = int(opts.get("offset", ["0"])[0])
        d.length = int(opts.get("length", ["0"])[0])
        self._task(args[0]).dl_next = d.offset
        self._need_stream().send_request(req)

    def step_mount_tmpfs(self, args):
        os.makedirs(args[0], exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%sk,mode=0700"
                        % args[1], "tmpfs", args[0]], check=True)
        self.mounts.append(args[0])

    def step_server_ack(self, args):
        named = {"every": 1, "never": 0}
        self.ack_every = (named[args[0]] if args[0] in named
                          else int(args[0]))

    def step_duplicates_at_most(self, args):
        t = self._task(args[0])
        if t.duplicates > int(args[1]):
            raise ScenarioFailure("task %s: %d messages sent twice, at most "
                                  "%s expected" % (args[0], t.duplicates,
                                                   args[1]))
        self.out("task %s: %d messages sent twice" % (args[0],
                                                      t.duplicates))

    def step_accept(self, args):
        opts, _ = self._kv(args)
        want = {"agent_id": "agent1", "agent_token": "secret1"}
        protocol = opts.pop("protocol", [None])[0]
        want.update({k: v[0] for k, v in opts.items()})
        self._wait(lambda: self._pending_connects, "the agent to connect")
        self.stream = self._pending_connects.pop(0)
        if protocol is not None and self.stream.head != (protocol == "head"):
            raise ScenarioFailure("the agent opened %s, expected %s" % (
                "StreamCommunication" if self.stream.head else "StreamTasks",
                protocol))
        for k, v in want.items():
            got = self.stream.metadata.get(k)
            if got != v:
                raise ScenarioFailure("stream metadata %s=%r, expected %r" %
                                      (k, got, v))

    def step_reject(self, args):
        code = getattr(grpc.StatusCode, args[0])
        self.server.reject = (code, args[1] if len(args) > 1 else "rejected")

    def step_accept_again(self, args):
        self.server.reject = None

    def _need_stream(self):
        if self.stream is None:
            raise ScenarioFailure("no stream: use `accept` first")
        return self.stream

    def step_shell(self, args):
        opts, rest = self._kv(args[2:])
        if rest:
            raise ScenarioFailure("unknown shell options %r" % rest)
        env = opts.get("env", [])
        env += ["E%d=%d" % (i, i) for i in
                range(1, int(opts.get("env-count", ["0"])[0]) + 1)]
        cmd = args[1]
        if "cmd-file" in opts:
            with open(opts["cmd-file"][0]) as f:
                cmd = f.read()
        req = shell_request(args[0], cmd, env=env,
                            working_dir=opts.get("dir", [""])[0],
                            timeout=int(opts.get("timeout", ["0"])[0]),
                            agent_id=opts.get("agent_id", [""])[0])
        if "traceparent" in opts:
            req.traceparent = opts["traceparent"][0]
        sh = req.shell_execute
        sh.secret_env.extend(opts.get("secret", []))
        if "user" in opts:
            sh.user = opts["user"][0]
        sh.stdin = opts.get("stdin", ["no"])[0] == "yes"
        sh.pty = opts.get("pty", ["no"])[0] == "yes"
        sh.rows = int(opts.get("rows", ["0"])[0])
        sh.cols = int(opts.get("cols", ["0"])[0])
        if "sandbox" in opts:
            sh.sandbox.image = opts["sandbox"][0]
            sh.sandbox.network = opts.get("sandbox-network",
                                          ["no"])[0] == "yes"
        for key, field in (("memory", "memory_bytes"),
                           ("cpu", "cpu_seconds"),
                           ("procs", "max_processes"),
                           ("nofile", "max_open_files"),
                           ("fsize", "max_file_bytes"),
                           ("output", "max_output_bytes")):
            if key in opts:
                setattr(sh.limits, field, int(opts[key][0]))
        self._need_stream().send_request(req)
        self._task(args[0]).sent_at = time.monotonic()

    def step_expect_within(self, args):
        t = self._task(args[0])
        limit = float(args[1]) * _timeout_scale()
        self._wait(lambda: t.final is not None,
                   "the final message of task %s" % args[0])
        took = t.final_at - t.sent_at
        self.out("(task %s: final %.3f s after it was sent)" % (args[0],
                                                                 took))
        if took > limit:
            raise ScenarioFailure("task %s took %.3f s from request to final"
                                  ", more than %.1f s" % (args[0], took,
                                                          limit))

    def step_host_processes(self, args):
        for _ in range(int(args[0])):
            self.host_procs.append(subprocess.Popen(
                ["sleep", "100000"], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.out("(%d idle processes on the host)" % len(_processes()))

    def step_agent_cgroup(self, args):
        self.agent_cgroup = args[0]

    def step_agent_nofile(self, args):
        soft, _, hard = args[0].partition(":")
        self.agent_nofile = (int(soft), int(hard or soft))

    def step_require_cgroups(self, args):
        try:
            self.agent.wait_log("task processes: a cgroup each", 5)
        except ScenarioFailure:
            raise ScenarioSkipped("the agent uses no cgroups here")

    def step_require_log(self, args):
        rx = re.compile(args[0])
        if not any(rx.search(line) for line in self.agent.lines):
            raise ScenarioSkipped(args[1])

    def step_require_root(self, args):
        if os.geteuid() != 0:
            raise ScenarioSkipped("not running as root: the agent cannot "
                                  "switch users")

    def step_log_var(self, args):
        line = self.agent.wait_log(args[1], self.timeout)
        self.vars[args[0]] = re.search(args[1], line).group(1)

    def _http(self, url, method="GET"):
        import urllib.error
        import urllib.request
        req = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def step_http_hold(self, args):
        host, port = args[0].rsplit(":", 1)
        self.held = getattr(self, "held", [])
        for _ in range(int(args[1])):
            self.held.append(socket.create_connection((host, int(port))))

    def step_http_held_closed(self, args):
        """Waits until the agent has closed every held connection."""
        for s in getattr(self, "held", []):
            s.settimeout(self.timeout)
            try:
                if s.recv(1) != b"":
                    raise ScenarioFailure("a held connection got data")
            except socket.timeout:
                raise ScenarioFailure("a held connection is still open "
                                      "after %.0f s" % self.timeout)
            except ConnectionResetError:
                pass

    def step_http_release(self, args):
        for s in getattr(self, "held", []):
            s.close()
        self.held = []

    def step_http(self, args):
        opts, rest = self._kv(args[2:])
        method = opts.get("method", ["GET"])[0]
        if args[1] == "refused":
            try:
                code, body = self._http(args[0], method)
            except OSError:
                return
            raise ScenarioFailure("%s %s answered %d, expected no answer"
                                  % (method, args[0], code))
        # Closed connections may still count for a moment: try again
        # while the connection itself fails (but for `once`: the first
        # attempt must be answered).
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                code, body = self._http(args[0], method)
                break
            except OSError as e:
                if "once" in rest:
                    raise ScenarioFailure("%s %s: no answer at the first "
                                          "attempt: %s" % (method, args[0],
                                                           e))
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if code != int(args[1]):
            raise ScenarioFailure("%s %s: status %d, expected %s: %r" % (
                method, args[0], code, args[1], _clip(body)))
        for pattern in opts.get("body", []):
            if not re.search(pattern, body):
                raise ScenarioFailure("%s %s: body does not match %r: %r"
                                      % (method, args[0], pattern,
                                         _clip(body)))
        if args[0].endswith("z"):
            json.loads(body)    # /healthz and /readyz: JSON

    def _scrape(self, url):
        """Samples of a scrape, parsed strictly (prometheus_client)."""
        from prometheus_client.parser import text_string_to_metric_families
        code, text = self._http(url)
        if code != 200:
            raise ScenarioFailure("GET %s: status %d" % (url, code))
        samples = {}
        for family in text_string_to_metric_families(text):
            for smp in family.samples:
                labels = ",".join('%s="%s"' % kv for kv in
                                  sorted(smp.labels.items()))
                samples["%s{%s}" % (smp.name, labels) if labels
                        else smp.name] = smp.value
        return samples

    def step_promtool(self, args):
        import shutil
        if shutil.which("promtool") is None:
            self.out("(promtool is not installed: not run; Debian's "
                     "prometheus package has it)")
            return
        code, text = self._http(args[0])
        r = subprocess.run(["promtool", "check", "metrics"],
                           input=text.encode(), capture_output=True)
        if code != 200 or r.returncode != 0:
            raise ScenarioFailure("promtool check metrics: %s" %
                                  _clip((r.stdout + r.stderr).decode()))

    def step_metric(self, args):
        want = float(args[2])
        got = [None]

        def ok():
            got[0] = self._scrape(args[0]).get(args[1])
            return got[0] == want
        try:
            self._wait(ok, "metric %s to be %s" % (args[1], args[2]), 5)
        except ScenarioFailure:
            raise ScenarioFailure("metric %s is %s, expected %s" % (
                args[1], got[0], args[2]))

    def step_notify_socket(self, args):
        path = os.path.join(self.workdir, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(path)
        self.agent_env["NOTIFY_SOCKET"] = path

    def step_notify(self, args):
        self.notify.settimeout(self.timeout)
        while True:
            try:
                msg = self.notify.recv(4096).decode("utf-8", "replace")
            except socket.timeout:
                raise ScenarioFailure("no notification matching %r"
                                      % args[0])
            if re.search(args[0], msg):
                return

    def step_request(self, args):
        req = pb.TaskRequest(task_id=args[0])
        if args[1] == "none":
            pass
        elif args[1] == "docker-run":
            req.docker_operation.docker_run.img = args[2]
        else:
            raise ScenarioFailure("unknown request kind %r" % args[1])
        self._need_stream().send_request(req)

    def step_docker(self, args):
        task_id, op, rest = args[0], args[1], args[2:]
        opts, pos = self._kv(rest)
        flags = set(p for p in pos if p in (
            "detach", "rm", "follow", "timestamps", "force", "all"))
        pos = [p for p in pos if p not in flags]
        req = pb.TaskRequest(task_id=task_id)
        d = req.docker_operation
        one = lambda k, default="": opts.get(k, [default])[0]
        if op == "run":
            r = d.docker_run
            r.img = pos[0]
            r.name = one("name")
            r.args.extend(opts.get("arg", []))
            r.env.extend(opts.get("env", []))
            r.ports.extend(opts.get("port", []))
            r.volumes.extend(opts.get("volume", []))
            r.detach = "detach" in flags
            r.remove = "rm" in flags
        elif op == "start":
            d.docker_start.id = pos[0]
        elif op == "stop":
            d.docker_stop.id = pos[0]
            d.docker_stop.timeout_seconds = int(one("timeout", "0"))
        elif op == "logs":
            d.docker_logs.id = pos[0]
            d.docker_logs.follow = "follow" in flags
            d.docker_logs.tail = one("tail")
            d.docker_logs.timestamps = "timestamps" in flags
        elif op == "pull":
            d.docker_pull.img = pos[0]
        elif op == "rm":
            d.docker_remove.id = pos[0]
            d.docker_remove.force = "force" in flags
        elif op == "ps":
            d.docker_list.all = "all" in flags
        elif op == "inspect":
            d.docker_inspect.id = pos[0]
        elif op == "empty":
            d.SetInParent()
        else:
            raise ScenarioFailure("unknown docker operation %r" % op)
        self._need_stream().send_request(req)

    def _docker_calls(self):
        path = self._expand("${TMP}/docker.log")
        calls = []
        if os.path.exists(path):
            with open(path) as f:
                calls = [json.loads(l) for l in f if l.strip()]
        return [c for c in calls if isinstance(c, list)]

    def step_docker_calls(self, args):
        want = int(args[0])
        self._wait(lambda: len(self._docker_calls()) >= want,
                   "%d Docker CLI call(s)" % want)
        calls = self._docker_calls()
        if len(calls) != want:
            raise ScenarioFailure("%d Docker CLI calls, expected %d: %s" % (
                len(calls), want, calls))

    def step_docker_call(self, args):
        n, want = int(args[0]), args[1:]
        self._wait(lambda: len(self._docker_calls()) >= n,
                   "Docker CLI call %d" % n)
        got = self._docker_calls()[n - 1]
        if len(got) != len(want) or not all(
                fnmatch.fnmatchcase(g, w) for g, w in zip(got, want)):
            raise ScenarioFailure("Docker CLI call %d was %s, expected %s" % (
                n, got, want))

    def step_docker_call_match(self, args):
        rx = re.compile(args[0])
        self._wait(lambda: any(rx.search(" ".join(c))
                               for c in self._docker_calls()),
                   "a Docker CLI call matching %r" % args[0])

    def step_require_docker(self, args):
        try:
            ok = subprocess.run(["docker", "info"], capture_output=True,
                                timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            raise ScenarioSkipped("no Docker engine answers `docker info`")

    def step_cancel(self, args):
        opts, _ = self._kv(args[1:])
        req = pb.TaskRequest(task_id=args[0])
        reason = opts.get("reason", [""])[0]
        if self.dialect == "upstream":
            # Upstream's numbering: TaskCancel at TaskRequest field 6.
            body = pb.TaskCancel(reason=reason).SerializeToString()
            self._need_stream().send(req.SerializeToString() + b"\x32" +
                                     _varint(len(body)) + body)
            return
        req.task_cancel.reason = reason
        self._need_stream().send_request(req)

    def step_server_dialect(self, args):
        if args[0] not in ("design", "upstream"):
            raise ScenarioFailure("server-dialect design|upstream")
        self.dialect = args[0]

    def step_log_message(self, args):
        """The released upstream server's TaskRequest.log_message (5)."""
        def field(number, data):
            out, n = bytearray([number << 3 | 2]), len(data)
            while True:
                out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
                n >>= 7
                if n == 0:
                    break
            return bytes(out) + data
        self._need_stream().send(field(2, args[0].encode()) +
                                 field(5, args[1].encode()))

    def step_raw(self, args):
        self._need_stream().send(bytes.fromhex("".join(args)))

    def step_end(self, args):
        st = self._need_stream()
        if args:
            st.abort(getattr(grpc.StatusCode, args[0]),
                     args[1] if len(args) > 1 else "")
        else:
            st.end()
        self.stream = None

    def step_output(self, args):
        task_id, which, pattern = args
        rx = re.compile(pattern, re.S)
        self._wait(lambda: rx.search(getattr(self._task(task_id), which)),
                   "%s of task %s to match %r" % (which, task_id, pattern))

    def step_cancel_reply(self, args):
        opts, _ = self._kv(args[1:])
        t = self._task(args[0])
        self._wait(lambda: t.cancel_reply is not None,
                   "the cancel reply for task %s" % args[0])
        for want in opts.get("field", []):
            if t.cancel_reply_field != int(want):
                raise ScenarioFailure("cancel reply for %s came at field "
                                      "%s, expected %s" % (
                                          args[0], t.cancel_reply_field,
                                          want))
        if "message" in opts:
            msg = t.cancel_reply.task_cancel.message
            if not re.search(opts["message"][0], msg):
                raise ScenarioFailure("cancel reply %r does not match %r" % (
                    msg, opts["message"][0]))

    def step_no_final(self, args):
        t = self.tasks.get(args[0])
        if t is not None and t.final is not None:
            raise ScenarioFailure("task %s already sent its final message"
                                  % args[0])

    def step_no_message(self, args):
        t = self.tasks.get(args[0])
        if t is not None and t.messages:
            raise ScenarioFailure("task %s got %d message(s), expected none"
                                  % (args[0], len(t.messages)))

    def step_expect(self, args):
        task_id = args[0]
        opts, rest = self._kv(args[1:])
        if [r for r in rest if r not in ("whole-lines", "no-usage")]:
            raise ScenarioFailure("unknown expect checks %r" % rest)
        t = self._task(task_id)
        self._wait(lambda: t.final is not None,
                   "the final message of task %s" % task_id)
        fin = t.final
        fout = (fin.docker_operation if fin.HasField("docker_operation")
                else fin.shell_execute)
        problems = []

        def check(ok, text):
            if not ok:
                problems.append(text)

        status = pb.TaskResponse.Status.Name(fin.status)
        for want in opts.get("status", []):
            check(status == want, "status %s, expected %s" % (status, want))
        for want in opts.get("exit", []):
            check(fout.exit_code == int(want),
                  "exit code %d, expected %s" % (fout.exit_code, want))
        for want in opts.get("container-id", []):
            cid = fin.docker_operation.container_id
            check(re.search(want, cid), "container_id %r does not match %r"
                  % (cid, want))
        for want in opts.get("kind", []):
            kind = fin.WhichOneof("response")
            check(kind == want, "final's response is %s, expected %s" % (
                kind, want))
        for want in opts.get("upload-size", []):
            got = fin.file_upload.size
            check(got == int(want), "uploaded %d bytes, expected %s" % (
                got, want))
        for want in opts.get("sha256", []):
            got = (fin.file_upload.sha256 if fin.HasField("file_upload")
                   else fin.file_download.sha256)
            if want.startswith("of:"):
                want = _sha256_of(self._expand(want[3:]))
            check(got == want, "sha256 %s, expected %s" % (got, want))
        for want in opts.get("download-size", []):
            got = fin.file_download.size
            check(got == int(want), "final's size %d, expected %s" % (
                got, want))
        for want in opts.get("download-bytes", []):
            check(t.dl_bytes == int(want), "downloaded %d bytes, expected "
                  "%s" % (t.dl_bytes, want))
        for want in opts.get("download-of", []):
            # FILE[:OFFSET[:LENGTH]]: the pieces are those bytes, and the
            # final's sha256 is theirs.
            path, _, rng = want.partition(":")
            off, _, ln = rng.partition(":")
            with open(path, "rb") as f:
                f.seek(int(off or 0))
                data = f.read(int(ln) if ln else -1)
            h = hashlib.sha256(data).hexdigest()
            check(t.dl_sha.hexdigest() == h and t.dl_bytes == len(data),
                  "downloaded %d bytes (sha256 %s), expected %d (%s)" % (
                      t.dl_bytes, t.dl_sha.hexdigest(), len(data), h))
            check(fin.file_download.sha256 == h, "final sha256 %s, "
                  "expected %s" % (fin.file_download.sha256, h))
        for want in opts.get("reason", []):
            got = pb.TaskResponse.FailureReason.Name(fin.reason)
            check(got == want, "reason %s, expected %s" % (got, want))
        u = fin.usage
        for key, field, op in (("used-stdout", "stdout_bytes", "=="),
                               ("used-stderr", "stderr_bytes", "=="),
                               ("used-cpu-ms-min", "cpu", ">="),
                               ("used-rss-kib-min", "max_rss_kib", ">="),
                               ("used-wall-ms-min", "wall_ms", ">="),
                               ("used-wall-ms-max", "wall_ms", "<=")):
            for want in opts.get(key, []):
                got = ((u.user_cpu_us + u.system_cpu_us) // 1000
                       if field == "cpu" else getattr(u, field))
                ok = got == int(want) if op == "==" else (
                    got >= int(want) if op == ">=" else got <= int(want))
                check(fin.HasField("usage") and ok,
                      "usage %s is %d, expected %s %s" % (field, got, op,
                                                          want))
        if "no-usage" in rest:
            check(not fin.HasField("usage"), "the final carries usage")
        for want in opts.get("cancelled", []):
            check(fin.cancelled == (want == "yes"),
                  "cancelled=%s, expected %s" % (fin.cancelled, want))
        stderr_all = t.stderr + fout.stderr
        for which, text in (("stdout", t.stdout), ("stderr", stderr_all)):
            for pattern in opts.get(which, []):
                check(re.search(pattern, text, re.S),
                      "%s does not match %r: %r" % (which, pattern,
                                                    _clip(text)))
            for pattern in opts.get(which + "-lacks", []):
                m = re.search(pattern, text, re.S)
                check(not m, "%s matches %r: %r" % (
                    which, pattern, m and _clip(text[m.start():])))
            for want in opts.get(which + "-is", []):
                want = codecs.decode(want, "unicode_escape")
                check(text == want, "%s is %r, expected %r" % (
                    which, _clip(text), _clip(want)))
        for cmd in opts.get("stdout-of", []):
            want = subprocess.run(["bash", "-c", cmd], capture_output=True,
                                  check=True).stdout.decode("utf-8",
                                                            "replace")
            check(t.stdout == want,
                  "stdout differs from `%s` (%d vs %d characters%s)" % (
                      cmd, len(t.stdout), len(want),
                      _first_difference(t.stdout, want)))
        for want in opts.get("stdout-bytes", []):
            n = len(t.stdout.encode("utf-8"))
            check(n == int(want), "stdout is %d bytes, expected %s" % (n, want))
        for want in opts.get("max-chunk", []):
            big = max((len(c.encode("utf-8")) for _, c in t.chunks), default=0)
            check(big <= int(want), "a chunk of %d bytes, limit %s" % (
                big, want))
        for want in opts.get("min-chunks", []):
            check(len(t.chunks) >= int(want), "%d chunks, expected at least "
                  "%s" % (len(t.chunks), want))
        if "whole-lines" in rest:
            for i, (which, c) in enumerate(t.chunks):
                if not c.endswith("\n"):
                    problems.append("chunk %d (%s) does not end a line: %r"
                                    % (i + 1, which, _clip(c[-80:])))
                    break
        if problems:
            raise ScenarioFailure("task %s: %s" % (task_id,
                                                   "; ".join(problems)))

    def step_server_stop(self, args):
        self.server.stop(0)
        self.stream = None
        self._pending_connects = []

    def step_server_start(self, args):
        self.server.start()

    def step_server_allow_pings(self, args):
        self.server.options = [
            ("grpc.http2.min_ping_interval_without_data_ms", 100),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 100),
            ("grpc.http2.max_ping_strikes", 0)]
        self.server.stop(0)
        self.server.start()

    def step_server_small_window(self, args):
        # HTTP/2's window at its 64 KiB start, never grown by BDP probes:
        # a server that stops reading holds the agent back at once, and
        # for good, instead of after megabytes taken now and then.
        self.server.options = [("grpc.http2.bdp_probe", 0),
                               ("grpc.http2.lookahead_bytes", 65536)]
        self.server.stop(0)
        self.server.start()

    def step_server_tls(self, args):
        with open(args[1], "rb") as k, open(args[0], "rb") as c:
            self.server.tls = (k.read(), c.read())
        self.server.tls_client_ca = None
        if len(args) > 2:
            with open(args[2], "rb") as ca:
                self.server.tls_client_ca = ca.read()
        self.server.stop(0)
        self.server.start()

    def step_proxy(self, args):
        self.proxy = FreezingProxy(self.server.port)
        self.vars["PROXY_PORT"] = self.proxy.port

    def step_proxy_freeze(self, args):
        self.proxy.freeze()

    def step_proxy_thaw(self, args):
        self.proxy.thaw()

    def step_rejections(self, args):
        opts, _ = self._kv(args[1:])
        want = int(args[0])
        self._wait(lambda: self.server.rejections >= want,
                   "%d rejected stream(s)" % want)
        if self.server.rejections != want:
            raise ScenarioFailure("%d streams rejected, expected %d" % (
                self.server.rejections, want))

    def step_pause_reading(self, args):
        self._need_stream().pause_reading()

    def step_resume_reading(self, args):
        self._need_stream().resume_reading()

    def step_rss_reset(self, args):
        self.rss_peak_kib = 0

    def step_rss_peak_below(self, args):
        limit = int(args[0]) * 1024
        self._sample_rss()
        if self.rss_peak_kib == 0:
            raise ScenarioFailure("no RSS sample of the agent was taken")
        self.out("(agent RSS peak: %.1f MiB)" % (self.rss_peak_kib / 1024))
        if os.environ.get("NODELINK_TEST_SANITIZED"):
            self.out("(not checked: a sanitized agent's memory is not its "
                     "own)")
            return
        if self.rss_peak_kib >= limit:
            raise ScenarioFailure("agent RSS peaked at %d KiB, limit %d KiB"
                                  % (self.rss_peak_kib, limit))

    def step_agent_log_close(self, args):
        # The reader goes away after the next line: the agent's later log
        # lines meet a closed pipe (EPIPE, and SIGPIPE were it not ignored).
        self.agent.close_log()

    def step_signal_agent(self, args):
        self.agent.proc.send_signal(getattr(signal, args[0]))

    def step_shell_many(self, args):
        prefix, n, cmd = args[0], int(args[1]), args[2]
        st = self._need_stream()
        for i in range(1, n + 1):
            st.send_request(shell_request("%s-%d" % (prefix, i), cmd))

    def step_expect_many(self, args):
        prefix, n = args[0], int(args[1])
        for i in range(1, n + 1):
            self.step_expect(["%s-%d" % (prefix, i)] + args[2:])

    def step_duplicates(self, args):
        t = self._task(args[0])
        want = int(args[1])
        self._wait(lambda: t.duplicates >= want,
                   "%d resent message(s) of task %s" % (want, args[0]))
        if t.duplicates != want:
            raise ScenarioFailure("task %s: %d duplicate message(s), "
                                  "expected %s" % (args[0], t.duplicates,
                                                   args[1]))

    def step_process(self, args):
        self._wait_procs(args[0], True)

    def step_no_process(self, args):
        self._wait_procs(args[0], False)

    def _wait_procs(self, pattern, present):
        rx = re.compile(pattern)
        deadline = time.monotonic() + self.timeout
        while True:
            found = [p for p in _processes() if rx.search(p[2])]
            if bool(found) == present:
                return
            if time.monotonic() > deadline:
                raise ScenarioFailure(
                    "processes matching %r: %s" % (pattern, found)
                    if found else "no process matches %r" % pattern)
            self._pump(0.05)

    def step_fd_count(self, args):
        self.vars[args[0]] = len(os.listdir("/proc/%d/fd" %
                                            self.agent.proc.pid))

    def step_fd_count_same(self, args):
        n = len(os.listdir("/proc/%d/fd" % self.agent.proc.pid))
        if n != int(self.vars[args[0]]):
            raise ScenarioFailure("the agent holds %d descriptors, %s "
                                  "before" % (n, self.vars[args[0]]))

    def step_no_zombies(self, args):
        pid = self.agent.proc.pid
        deadline = time.monotonic() + self.timeout
        while True:
            zombies = [p for p in _processes() if p[1] == pid and p[3] == "Z"]
            if not zombies:
                return
            if time.monotonic() > deadline:
                raise ScenarioFailure("zombie children of the agent: %s" %
                                      zombies)
            self._pump(0.05)

    def step_log(self, args):
        self._sample_rss()
        self.agent.wait_log(args[0], self.timeout)
        self._sample_rss()

    def step_log_count(self, args):
        rx, want = re.compile(args[0]), int(args[1])

        def enough():
            with self.agent.cond:
                return sum(1 for l in self.agent.lines if rx.search(l)) >= want
        self._wait(enough, "%d agent log lines matching %r" % (want, args[0]))

    def step_rejections_match_log(self, args):
        rx = re.compile(args[0])
        with self.agent.cond:
            logged = sum(1 for l in self.agent.lines if rx.search(l))
        # One more attempt may be under way, not yet logged.
        if not logged <= self.server.rejections <= logged + 1:
            raise ScenarioFailure("the server rejected %d streams, the agent "
                                  "logged %d rejections" % (
                                      self.server.rejections, logged))

    def step_log_every(self, args):
        rx = re.compile(args[0])
        with self.agent.cond:
            lines = list(self.agent.lines)
        for i, line in enumerate(lines):
            if not rx.search(line):
                raise ScenarioFailure("agent log line %d does not match %r: "
                                      "%r" % (i + 1, args[0], _clip(line)))

    def step_log_json(self, args):
        with self.agent.cond:
            lines = list(self.agent.lines)
        for i, line in enumerate(lines):
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise ScenarioFailure("agent log line %d is not JSON (%s): "
                                      "%r" % (i + 1, e, _clip(line)))
            if not (isinstance(obj, dict) and
                    set(obj) >= {"time", "level", "msg"}):
                raise ScenarioFailure("agent log line %d lacks time, level "
                                      "or msg: %r" % (i + 1, _clip(line)))

    def step_log_lacks(self, args):
        self._log_lacks(args[0])

    def _log_lacks(self, pattern):
        rx = re.compile(pattern)
        with self.agent.cond:
            for line in self.agent.lines:
                if rx.search(line):
                    raise ScenarioFailure("agent log line matches %r: %r" %
                                          (pattern, _clip(line)))

    def step_exec(self, args):
        r = subprocess.run(["bash", "-c", args[0]], capture_output=True,
                           timeout=self.timeout)
        if r.returncode != 0:
            raise ScenarioFailure("`%s` failed with %d: %s" % (
                args[0], r.returncode, r.stderr.decode(errors="replace")))

    def step_timeout(self, args):
        self.timeout = float(args[0]) * _timeout_scale()

    def step_require(self, args):
        out = subprocess.run([self.agent_path, "--version"],
                             capture_output=True, text=True).stdout
        built = re.search(r"^Built with: (.*)$", out, re.M)
        have = built.group(1).split() if built else []
        for feature in args:
            if feature not in have:
                raise ScenarioSkipped("this build lacks %s (built with: %s)"
                                      % (feature, " ".join(have)))

    def step_set_scaled(self, args):
        opts, _ = self._kv(args[2:])
        low = int(opts.get("min", ["1"])[0])
        self.vars[args[0]] = max(low, int(round(int(args[1]) * _scale())))

    def step_set(self, args):
        self.vars[args[0]] = args[1]

    def step_set_file(self, args):
        with open(self._expand(args[1])) as f:
            self.vars[args[0]] = f.readline().rstrip("\n")

    def step_set_repeat(self, args):
        self.vars[args[0]] = args[1] * int(args[2])

    def step_cancel_many(self, args):
        st = self._need_stream()
        for i in range(1, int(args[1]) + 1):
            req = pb.TaskRequest(task_id="%s-%d" % (args[0], i))
            req.task_cancel.reason = "flood"
            st.send_request(req)

    def step_cancel_reply_many(self, args):
        opts, _ = self._kv(args[2:])
        for i in range(1, int(args[1]) + 1):
            self.step_cancel_reply(["%s-%d" % (args[0], i)] + args[2:])

    # -- running ------------------------------------------------------------

    def parse(self):
        steps = []
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                words = shlex.split(line, comments=True)
                if not words:
                    continue
                name = "step_" + words[0].replace("-", "_")
                if not hasattr(self, name):
                    raise ScenarioFailure("%s:%d: unknown step %r" % (
                        self.path, number, words[0]))
                steps.append((number, line.strip(), name, words[1:]))
        return steps

    def run(self):
        self._pending_connects = []
        steps = self.parse()
        self.server.start()
        self.vars["PORT"] = self.server.port
        try:
            for number, text, name, args in steps:
                self.out("%s:%d: %s" % (os.path.basename(self.path), number,
                                        text))
                try:
                    getattr(self, name)([self._expand(a) for a in args])
                except ScenarioFailure as e:
                    raise ScenarioFailure("line %d `%s`: %s" % (number, text,
                                                                e))
            if self.agent is not None and self.agent.proc.poll() is None:
                self.out("(end of scenario: stopping the agent)")
                self.step_stop_agent([])
            dups = sum(t.duplicates for t in self.tasks.values())
            msgs = sum(len(t.messages) for t in self.tasks.values())
            self.out("(%d messages received, %d exact resends dropped as "
                     "duplicates)" % (msgs, dups))
        finally:
            if self.agent is not None:
                self.agent.kill()
            self.server.stop(0)
            for p in self.host_procs:
                p.kill()
                p.wait()
            for m in self.mounts:
                subprocess.run(["umount", "-l", m])


def _sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _read_varint(raw, i):
    n = shift = 0
    while True:
        b = raw[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _top_fields(raw):
    """(field, start, end, payload) of each top-level field of a message."""
    i = 0
    while i < len(raw):
        start = i
        key, i = _read_varint(raw, i)
        field, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, i = _read_varint(raw, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = _read_varint(raw, i)
            payload = raw[i:i + n]
            i += n
        elif wire == 5:
            i += 4
        else:
            raise ValueError("wire type %d" % wire)
        yield field, start, i, payload


def _digest(raw):
    return hashlib.blake2b(raw, digest_size=16).digest()


def _free_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _processes():
    """(pid, ppid, command line, state) of every process we can see."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out.append((int(name), int(fields[1]), cmd.strip(), fields[0]))
    return out


def _clip(s, n=300):
    return s if len(s) <= n else s[:n] + "...(%d more)" % (len(s) - n)


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return ", first difference at %d: %r vs %r" % (
                i, a[max(0, i - 20):i + 20], b[max(0, i - 20):i + 20])
    return ""
