"""Scenario steps for today's upstream protocol (StreamCommunication).

The scenario engine (scenario.py) mixes these in.  Every AgentMessage the
agent sends on such a stream is parsed strictly (invalid UTF-8 in a string
fails the test that receives it, as it would end upstream's stream) and
must fit the 4 MiB upstream's server decodes.  Expectations consume the
messages they match, so that "one answer per request" can be checked.

    server-protocols head|design ...   which methods the server serves
    head-ping TS                       a Ping
    head-pong TS [within=S]            its Pong, S seconds after the ping
    head-command ID CMD [arg=A] [env=K=V] [dir=D] [timeout=N]
    head-expect-command ID [exit=N] [stdout-is=S] [stdout=RE]
                        [stderr-is=S] [stderr=RE] [error-is=S] [error=RE]
                        [timeout=yes|no] [stdout-len=N] [within=S]
    head-terminal-create SID [shell=S] [dir=D] [env=K=V]
    head-expect-create SID success=yes|no [error-is=S] [shell=S]
    head-terminal-command SID CID TEXT
    head-expect-ack SID CID [error-is=S] [final=yes]
    head-expect-line SID output=S | error=S
    head-expect-end SID exit=N
    head-terminal-close SID
    head-expect-close SID success=yes|no [error-is=S]
    head-metrics ID / head-expect-metrics ID
    head-sysinfo ID / head-expect-sysinfo ID
    head-count KIND ID N               messages of KIND for ID so far
"""

import codecs
import os
import platform
import re
import socket
import time

import upstream_head_pb2 as hpb

MAX_MESSAGE = 4 * 1024 * 1024

GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
          "armv6l": "arm", "i686": "386", "i386": "386",
          "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def _meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            out[name] = int(rest.split()[0]) * 1024
    return out


def _real_filesystems():
    real = {"zfs"}
    with open("/proc/filesystems") as f:
        for line in f:
            words = line.split()
            if len(words) == 1:
                real.add(words[0])
    return real


def _unescape(s):
    return re.sub(r"\\([0-3][0-7][0-7])", lambda m: chr(int(m.group(1), 8)),
                  s)


def _mounts():
    """The mount points upstream's agent lists, in order."""
    path = "/proc/1/mountinfo"
    if not os.path.exists(path):
        path = "/proc/self/mountinfo"
    real, out = _real_filesystems(), []
    with open(path) as f:
        for line in f:
            before, _, after = line.partition(" - ")
            fields, tail = before.split(), after.split()
            if len(fields) < 5 or len(tail) < 2 or tail[1] == "none":
                continue
            if tail[0] not in real:
                continue
            point = _unescape(fields[4])
            try:
                os.statvfs(point)
            except OSError:
                continue
            out.append(point)
    return out


def _net_names():
    names = []
    with open("/proc/net/dev") as f:
        for line in f:
            if ":" in line:
                name = line.split(":")[0].strip()
                if name != "lo":
                    names.append(name)
    return names


def _platform():
    if os.path.exists("/etc/debian_version"):
        lsb = {}
        if os.path.exists("/etc/lsb-release"):
            with open("/etc/lsb-release") as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    lsb[k] = v.strip('"')
        if lsb.get("DISTRIB_ID") in ("Ubuntu", "LinuxMint"):
            return (lsb["DISTRIB_ID"].lower(), lsb.get("DISTRIB_RELEASE", ""))
        name = ("raspbian" if os.path.exists("/usr/bin/raspi-config")
                else "debian")
        with open("/etc/debian_version") as f:
            return name, f.readline().strip()
    return None, None


class HeadSteps:
    """The steps, mixed into scenario.Scenario."""

    def _head_init(self):
        self.head_msgs = []      # [arrival time, AgentMessage, consumed]
        self.head_pings = {}     # ping timestamp -> when sent

    def _on_head_message(self, raw):
        self._progress_at = time.monotonic()
        if len(raw) > MAX_MESSAGE:
            raise self.Failure("agent sent a %d-byte AgentMessage: over the "
                               "4 MiB upstream's server decodes" % len(raw))
        try:
            m = hpb.AgentMessage.FromString(raw)
        except Exception as e:
            raise self.Failure("agent sent a message that is not a valid "
                               "AgentMessage (%d bytes): %s" % (len(raw), e))
        if m.WhichOneof("message") is None:
            raise self.Failure("agent sent an empty AgentMessage")
        self.head_msgs.append([time.monotonic(), m, False])

    def _head_send(self, msg):
        st = self._need_stream()
        if not st.head:
            raise self.Failure("the stream is not StreamCommunication")
        st.send(msg.SerializeToString())

    def _head_take(self, kind, match, what, timeout=None):
        """Waits for the first unconsumed message of KIND matching."""
        found = []

        def look():
            for entry in self.head_msgs:
                if entry[2] or entry[1].WhichOneof("message") != kind:
                    continue
                body = getattr(entry[1], kind)
                if match(body):
                    entry[2] = True
                    found.append((entry[0], body))
                    return True
            return False
        self._wait(look, what, timeout)
        return found[0]

    @staticmethod
    def _head_check(what, got, opts, name, field=None):
        field = field or name
        if name + "-is" in opts:
            want = opts[name + "-is"][0]
            if want.isascii():
                want = codecs.decode(want, "unicode_escape")
            if got != want:
                raise HeadSteps.Failure("%s: %s %r, expected %r" % (
                    what, field, got[:300], want[:300]))
        if name in opts and not re.search(opts[name][0], got, re.S):
            raise HeadSteps.Failure("%s: %s %r does not match %r" % (
                what, field, got[:300], opts[name][0]))

    # -- the server --------------------------------------------------------

    def step_server_protocols(self, args):
        self.server.protocols = set(args)

    # -- ping --------------------------------------------------------------

    def step_head_ping(self, args):
        ts = int(args[0])
        self.head_pings[ts] = time.monotonic()
        self._head_send(hpb.ServerMessage(ping=hpb.Ping(timestamp=ts)))

    def step_head_pong(self, args):
        opts, _ = self._kv(args[1:])
        ts = int(args[0])
        at, pong = self._head_take("pong", lambda p: p.ping_timestamp == ts,
                                   "the pong for ping %d" % ts)
        if abs(pong.timestamp - time.time()) > 5:
            raise self.Failure("pong timestamp %d is not the agent's Unix "
                               "time" % pong.timestamp)
        within = float(opts.get("within", ["0"])[0])
        late = at - self.head_pings.get(ts, at)
        if within and late > within:
            raise self.Failure("the pong for ping %d came %.3f s after it "
                               "(more than %s s)" % (ts, late, within))

    # -- commands ----------------------------------------------------------

    def step_head_command(self, args):
        opts, _ = self._kv(args[2:])
        req = hpb.CommandRequest(request_id=args[0], command=args[1])
        req.args.extend(opts.get("arg", []))
        for kv in opts.get("env", []):
            k, _, v = kv.partition("=")
            req.env[k] = v
        req.working_dir = opts.get("dir", [""])[0]
        req.timeout_seconds = int(opts.get("timeout", ["30"])[0])
        self._head_send(hpb.ServerMessage(command_request=req))

    def step_head_expect_command(self, args):
        opts, _ = self._kv(args[1:])
        rid = args[0]
        timeout = float(opts["within"][0]) if "within" in opts else None
        _, r = self._head_take("command_response",
                               lambda c: c.request_id == rid,
                               "the response to command %s" % rid, timeout)
        what = "command %s" % rid
        if "exit" in opts and r.exit_code != int(opts["exit"][0]):
            raise self.Failure("%s: exit code %d, expected %s (stderr %r, "
                               "error %r)" % (what, r.exit_code,
                                              opts["exit"][0], r.stderr[:300],
                                              r.error))
        self._head_check(what, r.stdout, opts, "stdout")
        self._head_check(what, r.stderr, opts, "stderr")
        self._head_check(what, r.error, opts, "error")
        if "timeout" in opts and r.timeout != (opts["timeout"][0] == "yes"):
            raise self.Failure("%s: timeout %s" % (what, r.timeout))
        if "stdout-len" in opts and len(r.stdout.encode()) != int(
                opts["stdout-len"][0]):
            raise self.Failure("%s: stdout of %d bytes, expected %s" % (
                what, len(r.stdout.encode()), opts["stdout-len"][0]))

    # -- terminals ---------------------------------------------------------

    def step_head_terminal_create(self, args):
        opts, _ = self._kv(args[1:])
        req = hpb.TerminalCreateRequest(session_id=args[0])
        req.shell = opts.get("shell", [""])[0]
        req.working_dir = opts.get("dir", [""])[0]
        for kv in opts.get("env", []):
            k, _, v = kv.partition("=")
            req.env[k] = v
        self._head_send(hpb.ServerMessage(terminal_create_request=req))

    def step_head_expect_create(self, args):
        opts, _ = self._kv(args[1:])
        sid = args[0]
        _, r = self._head_take("terminal_create_response",
                               lambda c: c.session_id == sid,
                               "the answer to creating session %s" % sid)
        what = "session %s" % sid
        if r.success != (opts.get("success", ["yes"])[0] == "yes"):
            raise self.Failure("%s: success %s (error %r)" % (
                what, r.success, r.error))
        self._head_check(what, r.error, opts, "error")
        self._head_check(what, r.shell, opts, "shell")

    def step_head_terminal_command(self, args):
        req = hpb.TerminalCommandRequest(session_id=args[0],
                                         command_id=args[1],
                                         command=args[2])
        self._head_send(hpb.ServerMessage(terminal_command_request=req))

    def step_head_expect_ack(self, args):
        opts, _ = self._kv(args[2:])
        sid, cid = args[0], args[1]
        _, r = self._head_take(
            "terminal_command_response",
            lambda c: c.session_id == sid and c.command_id == cid,
            "the answer to command %s of session %s" % (cid, sid))
        final = opts.get("final", ["no"])[0] == "yes"
        if r.is_final != final:
            raise self.Failure("command %s: is_final %s" % (cid, r.is_final))
        self._head_check("command %s" % cid, r.error, opts, "error")
        if final and "exit" in opts and r.exit_code != int(opts["exit"][0]):
            raise self.Failure("command %s: exit code %d" % (cid, r.exit_code))

    def step_head_expect_line(self, args):
        opts, _ = self._kv(args[1:])
        sid = args[0]
        _, r = self._head_take(
            "terminal_command_response",
            lambda c: c.session_id == sid and c.command_id == "" and
            not c.is_final and
            (("output" in opts and c.output != "") or
             ("error" in opts and c.error != "")),
            "a line of session %s" % sid)
        want_out = opts.get("output", [None])[0]
        want_err = opts.get("error", [None])[0]
        if want_out is not None and want_out.isascii():
            want_out = codecs.decode(want_out, "unicode_escape")
        if want_err is not None and want_err.isascii():
            want_err = codecs.decode(want_err, "unicode_escape")
        if want_out is not None and (r.output != want_out or r.error):
            raise self.Failure("session %s: line output %r error %r, "
                               "expected output %r" % (sid, r.output, r.error,
                                                       want_out))
        if want_err is not None and (r.error != want_err or r.output):
            raise self.Failure("session %s: line output %r error %r, "
                               "expected error %r" % (sid, r.output, r.error,
                                                      want_err))

    def step_head_expect_end(self, args):
        opts, _ = self._kv(args[1:])
        sid = args[0]
        _, r = self._head_take(
            "terminal_command_response",
            lambda c: c.session_id == sid and c.is_final and
            c.command_id == "",
            "the end of session %s" % sid)
        code = int(opts.get("exit", ["0"])[0])
        if r.exit_code != code or r.error != (
                "Session ended with exit code %d" % code):
            raise self.Failure("session %s ended: exit %d, %r; expected %d"
                               % (sid, r.exit_code, r.error, code))

    def step_head_terminal_close(self, args):
        self._head_send(hpb.ServerMessage(
            terminal_close_request=hpb.TerminalCloseRequest(
                session_id=args[0])))

    def step_head_expect_close(self, args):
        opts, _ = self._kv(args[1:])
        sid = args[0]
        _, r = self._head_take("terminal_close_response",
                               lambda c: c.session_id == sid,
                               "the answer to closing session %s" % sid)
        if r.success != (opts.get("success", ["yes"])[0] == "yes"):
            raise self.Failure("closing %s: success %s (%r)" % (
                sid, r.success, r.error))
        self._head_check("closing %s" % sid, r.error, opts, "error")

    # -- metrics and system info -------------------------------------------

    def step_head_metrics(self, args):
        self._head_send(hpb.ServerMessage(
            metrics_request=hpb.MetricsRequest(request_id=args[0])))

    def step_head_sysinfo(self, args):
        self._head_send(hpb.ServerMessage(
            system_info_request=hpb.SystemInfoRequest(request_id=args[0])))

    def step_head_expect_metrics(self, args):
        rid = args[0]
        _, r = self._head_take("metrics_response",
                               lambda c: c.request_id == rid,
                               "the metrics %s" % rid)
        if r.error or not r.HasField("metrics"):
            raise self.Failure("metrics %s: error %r" % (rid, r.error))
        m, problems = r.metrics, []
        mi = _meminfo()
        mem = m.memory
        if mem.total != mi["MemTotal"]:
            problems.append("memory.total %d, MemTotal %d" % (
                mem.total, mi["MemTotal"]))
        # Within the one reading, used is what upstream computes.
        used = (mem.total - mem.free - mem.buffers - mem.cached) & (
            (1 << 64) - 1)
        if used >= 1 << 63:
            used -= 1 << 64
        if mem.used != used:
            problems.append("memory.used %d, not total - free - buffers - "
                            "cached (%d)" % (mem.used, used))
        if abs(mem.used_percent - used / mem.total * 100) > 0.01:
            problems.append("memory.used_percent %f" % mem.used_percent)
        if abs(mem.buffers - mi.get("Buffers", 0)) > mem.total // 20:
            problems.append("memory.buffers %d" % mem.buffers)
        want_cached = mi.get("Cached", 0) + mi.get("SReclaimable", 0)
        if abs(mem.cached - want_cached) > mem.total // 20:
            problems.append("memory.cached %d, Cached + SReclaimable %d" % (
                mem.cached, want_cached))
        if not 0 <= m.cpu_usage_percent <= 100:
            problems.append("cpu_usage_percent %f" % m.cpu_usage_percent)
        points = [d.mountpoint for d in m.disks]
        if points != _mounts():
            problems.append("disks %r, expected %r" % (points, _mounts()))
        for d in m.disks:
            sv = os.statvfs(d.mountpoint)
            if d.total != sv.f_blocks * sv.f_frsize:
                problems.append("disk %s total %d" % (d.mountpoint, d.total))
        nets = [n.interface for n in m.network_interfaces]
        if nets != _net_names():
            problems.append("network_interfaces %r, expected %r" % (
                nets, _net_names()))
        procs = list(m.processes)
        if not 1 <= len(procs) <= 10:
            problems.append("%d processes" % len(procs))
        if [p.cpu_percent for p in procs] != sorted(
                (p.cpu_percent for p in procs), reverse=True):
            problems.append("processes not by CPU percent, highest first")
        for p in procs:
            if not p.name or p.create_time % 1000 != 0 or p.status not in (
                    "running", "sleep", "blocked", "idle", "stop",
                    "zombie", "wait", "lock", "") or p.num_threads < 1:
                problems.append("process %r" % p)
        load = os.getloadavg()
        if abs(m.load_average_1m - load[0]) > 2:
            problems.append("load_average_1m %f, %f here" % (
                m.load_average_1m, load[0]))
        if abs(m.timestamp - time.time()) > 10:
            problems.append("timestamp %d" % m.timestamp)
        if problems:
            raise self.Failure("metrics %s: %s" % (rid, "; ".join(problems)))

    def step_head_expect_sysinfo(self, args):
        rid = args[0]
        _, r = self._head_take("system_info_response",
                               lambda c: c.request_id == rid,
                               "the system info %s" % rid)
        if r.error or not r.HasField("system_info"):
            raise self.Failure("system info %s: error %r" % (rid, r.error))
        si, problems = r.system_info, []
        want = {
            "hostname": socket.gethostname(),
            "kernel_version": os.uname().release,
            "arch": GOARCH.get(platform.machine(), platform.machine()),
            "cpu_count": len(os.sched_getaffinity(0)),
            "total_memory": _meminfo()["MemTotal"],
            "network_interfaces": [n for _, n in socket.if_nameindex()
                                   if n != "lo"],
        }
        name, version = _platform()
        if name is not None:
            want["platform"], want["os_version"] = name, version
        for field, value in want.items():
            got = getattr(si, field)
            if field == "network_interfaces":
                got = list(got)
            if got != value:
                problems.append("%s %r, expected %r" % (field, got, value))
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        if abs(si.uptime_seconds - up) > 10:
            problems.append("uptime_seconds %d, %f here" % (
                si.uptime_seconds, up))
        if problems:
            raise self.Failure("system info %s: %s" % (
                rid, "; ".join(problems)))

    def step_head_count(self, args):
        kind, key, want = args[0], args[1], int(args[2])
        field = {"command_response": "request_id",
                 "metrics_response": "request_id",
                 "system_info_response": "request_id"}.get(kind, "session_id")
        n = sum(1 for _, m, _ in self.head_msgs
                if m.WhichOneof("message") == kind and
                getattr(getattr(m, kind), field) == key)
        if n != want:
            raise self.Failure("%d %s for %s, expected %d" % (
                n, kind, key, want))
