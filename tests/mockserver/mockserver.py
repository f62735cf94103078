#!/usr/bin/python3
"""A scriptable nodelink server for testing and demonstrating the agent.

It speaks /pb.AgentService/StreamTasks with raw bytes on the wire (generic
handlers, no generated stubs), so that a test can send bytes no well-formed
server would, and so that every message the agent sends is parsed strictly
here: an agent message that is not a valid TaskResponse, invalid UTF-8
included, fails the test that receives it.

Everything that happens on the server's side is put on one event queue that
the scenario engine (scenario.py) or the serve mode below consumes:

    ("connect", stream)        a stream was opened; stream.metadata holds it
    ("message", stream, raw)   the agent sent one message
    ("eof", stream)            the agent's side of the stream ended

Run as a program, it serves agents interactively:

    mockserver.py serve --port 9090 --task 'uname -a' --task 'ls /'

sends each task to every agent that connects and prints their output as it
streams in.
"""

import argparse
import itertools
import queue
import socket
import sys
import threading
from concurrent import futures

import grpc

import nodelink_pb2 as pb

METHOD = "/pb.AgentService/StreamTasks"
# Today's upstream server's method (--wire-dialect upstream-head).
METHOD_HEAD = "/pb.AgentService/StreamCommunication"

_END = object()


class Stream:
    """One agent stream, as the server sees it."""

    _ids = itertools.count(1)

    def __init__(self, server, context, head=False):
        self.server = server
        self.context = context
        self.head = head  # StreamCommunication (AgentMessage/ServerMessage)
        self.number = next(Stream._ids)
        self.metadata = dict(context.invocation_metadata())
        self.outq = queue.Queue()
        self.reading = threading.Event()
        self.reading.set()
        self.closed = False

    def send(self, raw):
        """Queues raw bytes to send as one message."""
        self.outq.put(raw)

    def send_request(self, request):
        self.send(request.SerializeToString())

    def end(self):
        """Ends the stream with status OK, as a server whose handler returns."""
        self.outq.put(_END)

    def abort(self, code, details):
        """Ends the stream with a non-OK status."""
        self.outq.put(("abort", code, details))

    def pause_reading(self):
        self.reading.clear()

    def resume_reading(self):
        self.reading.set()


class MockServer:
    """A gRPC server whose every stream is driven from outside."""

    def __init__(self, host="127.0.0.1", port=0, credentials=None):
        self.host = host
        self.events = queue.Queue()
        self.credentials = credentials  # {"agent_id": ..., "agent_token": ...}
        self.reject = None  # (grpc.StatusCode, details) for new streams
        self.connects = 0
        self.rejections = 0
        self._port = port
        self._server = None
        self.streams = []
        # Extra gRPC server options, e.g. to allow frequent keep-alive pings.
        self.options = []
        self.tls = None  # (key PEM, certificate PEM) to serve TLS
        # Which methods are served: StreamTasks ("design"), today's
        # upstream StreamCommunication ("head"), or both.  Another is
        # UNIMPLEMENTED, as a real server answers it.
        self.protocols = {"design"}
        self.tls_client_ca = None  # PEM: require client certificates

    @property
    def port(self):
        return self._port

    def start(self):
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=64),
            handlers=[_Handler(self)],
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                     ("grpc.max_send_message_length", 64 * 1024 * 1024),
                     ("grpc.so_reuseport", 0)] + self.options)
        address = "%s:%d" % (self.host, self._port)
        if self.tls is not None:
            port = server.add_secure_port(
                address, grpc.ssl_server_credentials(
                    [self.tls], root_certificates=self.tls_client_ca,
                    require_client_auth=self.tls_client_ca is not None))
        else:
            port = server.add_insecure_port(address)
        if port == 0:
            raise OSError("cannot listen on %s:%d" % (self.host, self._port))
        self._port = port
        server.start()
        self._server = server

    def stop(self, grace=None):
        """Stops listening and ends every stream, as a crashed server would."""
        if self._server is not None:
            server, self._server = self._server, None
            server.stop(grace).wait()
            for st in self.streams:
                st.reading.set()
            self.streams = []

    def _handle_head(self, request_iterator, context):
        return self._handle(request_iterator, context, head=True)

    def _handle(self, request_iterator, context, head=False):
        self.connects += 1
        md = dict(context.invocation_metadata())
        if self.reject is not None:
            self.rejections += 1
            context.abort(self.reject[0], self.reject[1])
        if self.credentials is not None:
            for key, want in self.credentials.items():
                if md.get(key) != want:
                    self.rejections += 1
                    context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                  "invalid %s" % key)
        st = Stream(self, context, head)
        self.streams.append(st)
        context.add_callback(lambda: st.outq.put(_END))
        self.events.put(("connect", st))
        threading.Thread(target=self._read, args=(st, request_iterator),
                         daemon=True).start()
        while True:
            item = st.outq.get()
            if item is _END:
                break
            if isinstance(item, tuple):
                context.abort(item[1], item[2])
            yield item
        st.closed = True

    def _read(self, st, request_iterator):
        try:
            for raw in request_iterator:
                self.events.put(("message", st, raw))
                st.reading.wait()
        except grpc.RpcError:
            pass
        except Exception as e:  # a broken stream, seen from the server
            self.events.put(("error", st, repr(e)))
        self.events.put(("eof", st))
        # The agent half-closed: a real server ends the call, so do we.
        st.outq.put(_END)


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, server):
        self.server = server

    def service(self, handler_call_details):
        method = handler_call_details.method
        if method == METHOD and "design" in self.server.protocols:
            # No (de)serializers: the behaviour deals in raw bytes.
            return grpc.stream_stream_rpc_method_handler(
                self.server._handle)
        if method == METHOD_HEAD and "head" in self.server.protocols:
            return grpc.stream_stream_rpc_method_handler(
                self.server._handle_head)
        return None


class FreezingProxy:
    """A TCP proxy that can stop forwarding without closing anything.

    Frozen, it looks to the agent like a server host that vanished from the
    network: the connection stays open and nothing comes back, which only
    keep-alive pings can notice.
    """

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                upstream = socket.create_connection(
                    ("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self):
        self.flowing.clear()

    def thaw(self):
        self.flowing.set()


def shell_request(task_id, cmd, env=(), working_dir="", timeout=0,
                  agent_id=""):
    req = pb.TaskRequest(agent_id=agent_id, task_id=task_id)
    req.shell_execute.cmd = cmd
    req.shell_execute.env.extend(env)
    req.shell_execute.working_dir = working_dir
    req.shell_execute.timeout_seconds = timeout
    return req


def _serve(args):
    """Serve mode: tasks to every agent that connects, output printed live."""
    server = MockServer(host=args.host, port=args.port)
    server.start()
    print("mock nodelink server listening on %s:%d" % (args.host, server.port),
          flush=True)
    finished = 0
    counter = itertools.count(1)
    try:
        while True:
            ev = server.events.get()
            if ev[0] == "connect":
                st = ev[1]
                print("agent %r connected" % st.metadata.get("agent_id"),
                      flush=True)
                for cmd in args.task:
                    tid = "task-%d" % next(counter)
                    print("[%s] $ %s" % (tid, cmd), flush=True)
                    st.send_request(shell_request(tid, cmd))
            elif ev[0] == "message":
                resp = pb.TaskResponse.FromString(ev[2])
                print_response(resp)
                if resp.is_final:
                    finished += 1
                    if args.exit_after and finished >= args.exit_after:
                        return 0
            elif ev[0] == "eof":
                print("agent disconnected", flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop(0)


def print_response(resp):
    out = resp.shell_execute
    if resp.status == pb.TaskResponse.IN_PROGRESS:
        text, stream = (out.stdout, "out") if out.stdout else (out.stderr, "err")
        for line in text.splitlines(True):
            sys.stdout.write("[%s %s] %s" % (resp.task_id, stream, line))
            if not line.endswith("\n"):
                sys.stdout.write("\n")
    elif resp.HasField("task_cancel"):
        sys.stdout.write("[%s] cancel: %s\n" % (resp.task_id,
                                               resp.task_cancel.message))
    else:
        status = pb.TaskResponse.Status.Name(resp.status)
        sys.stdout.write("[%s] %s, exit code %d%s%s\n" % (
            resp.task_id, status, out.exit_code,
            " (cancelled)" if resp.cancelled else "",
            ": " + out.stderr.strip() if out.stderr else ""))
    sys.stdout.flush()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve", help="serve agents interactively")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9090)
    serve.add_argument("--task", action="append", default=[],
                       help="shell command to send to each agent")
    serve.add_argument("--exit-after", type=int, default=0,
                       help="exit after this many final messages")
    args = parser.parse_args(argv)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
