// bench-sink.cc: the far end of `make bench`, a nodelink server that is
// not the bottleneck.
//
// A Python server caps what can be measured (about 2,400 messages/s), so
// the benchmark's server is gRPC's C++ one.  It serves one agent stream:
// when the agent connects it prints "connected" and waits for a line on
// stdin (the driver, tests/mockserver/bench.py, reads the agent's CPU time
// then), runs one measurement, prints the result as one JSON line, and
// exits.  Floors are measured here too, with the same clock:
//
//   bench-sink PORTFILE dispatch N       N sequential `true` tasks
//   bench-sink PORTFILE stream CMD       one task; its stdout counted
//   bench-sink PORTFILE hold N CMD       N tasks at once; "started" once each
//                                        has printed; the next line on stdin
//                                        cancels them all
//   bench-sink PORTFILE burst N          N `sleep 1` tasks; when the first
//                                        ends, one `true` task, timed
//   bench-sink PORTFILE idle SECONDS     a connected agent with no work
//   bench-sink - floor-spawn N           posix_spawn + wait of bash -c true
//   bench-sink - floor-kill N            N sleeps spawned, then killed and
//                                        reaped directly
//
// The port is chosen by the system and written to PORTFILE once listening.

#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "nodelink.grpc.pb.h"

extern char **environ;

namespace {

using Clock = std::chrono::steady_clock;
using Stream = grpc::ServerReaderWriter<pb::TaskRequest, pb::TaskResponse>;

double
seconds_since(Clock::time_point t0)
{
	return std::chrono::duration<double>(Clock::now() - t0).count();
}

double
percentile(std::vector<double> v, double p)
{
	if (v.empty())
		return 0;
	std::sort(v.begin(), v.end());
	size_t i = (size_t)(p * (double)(v.size() - 1) + 0.5);
	return v[std::min(i, v.size() - 1)];
}

pb::TaskRequest
shell(const std::string &id, const std::string &cmd)
{
	pb::TaskRequest r;

	r.set_agent_id("bench");
	r.set_task_id(id);
	r.mutable_shell_execute()->set_cmd(cmd);
	return r;
}

bool
is_task_final(const pb::TaskResponse &m)
{
	return m.is_final() && !m.has_task_cancel();
}

// N tasks one after the other: each is sent when the last one's final has
// arrived; the time from request to final is one sample.
void
run_dispatch(Stream *s, int n)
{
	std::vector<double> ms;
	pb::TaskResponse m;

	for (int i = 0; i < n; i++) {
		std::string id = "d" + std::to_string(i);
		auto t0 = Clock::now();
		s->Write(shell(id, "true"));
		while (s->Read(&m) && !(is_task_final(m) && m.task_id() == id))
			;
		ms.push_back(seconds_since(t0) * 1000);
	}
	std::printf("{\"tasks\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f}\n", n,
	    percentile(ms, 0.5), percentile(ms, 0.99));
}

// One task; its stdout bytes and messages counted until its final.
void
run_stream(Stream *s, const std::string &cmd)
{
	pb::TaskResponse m;
	uint64_t bytes = 0, messages = 0;

	auto t0 = Clock::now();
	s->Write(shell("s", cmd));
	while (s->Read(&m)) {
		messages++;
		if (m.has_shell_execute())
			bytes += m.shell_execute().stdout().size();
		if (is_task_final(m))
			break;
	}
	double secs = seconds_since(t0);
	std::printf("{\"bytes\": %llu, \"messages\": %llu, \"seconds\": %.3f, "
	    "\"mb_per_s\": %.1f}\n", (unsigned long long)bytes,
	    (unsigned long long)messages, secs, (double)bytes / secs / 1e6);
}

// N tasks at once; "started" once each has printed; then, on a line from
// stdin, all cancelled, timed until every final has arrived.
void
run_hold(Stream *s, int n, const std::string &cmd)
{
	std::unordered_set<std::string> up, done;
	pb::TaskResponse m;

	auto t0 = Clock::now();
	for (int i = 0; i < n; i++)
		s->Write(shell("h" + std::to_string(i), cmd));
	while ((int)up.size() < n && s->Read(&m)) {
		if (m.status() == pb::TaskResponse::IN_PROGRESS)
			up.insert(m.task_id());
	}
	double start_s = seconds_since(t0);
	std::printf("started %.3f\n", start_s);
	std::fflush(stdout);
	std::string line;
	std::getline(std::cin, line);

	auto t1 = Clock::now();
	for (int i = 0; i < n; i++) {
		pb::TaskRequest r;
		r.set_agent_id("bench");
		r.set_task_id("h" + std::to_string(i));
		r.mutable_task_cancel()->set_reason("bench");
		s->Write(r);
	}
	while ((int)done.size() < n && s->Read(&m)) {
		if (is_task_final(m))
			done.insert(m.task_id());
	}
	std::printf("{\"tasks\": %d, \"start_all_s\": %.3f, "
	    "\"cancel_all_s\": %.3f, \"finals\": %zu}\n", n, start_s,
	    seconds_since(t1), done.size());
}

// N tasks that end together; when the first has ended, an unrelated task
// is sent and timed from request to final.
void
run_burst(Stream *s, int n)
{
	std::unordered_set<std::string> up, done;
	pb::TaskResponse m;
	Clock::time_point t0;
	double took = -1;

	for (int i = 0; i < n; i++)
		s->Write(shell("b" + std::to_string(i), "echo up; sleep 1"));
	while ((int)up.size() < n && s->Read(&m)) {
		if (m.status() == pb::TaskResponse::IN_PROGRESS)
			up.insert(m.task_id());
		if (is_task_final(m))
			done.insert(m.task_id());
	}
	while (done.empty() && s->Read(&m)) {
		if (is_task_final(m))
			done.insert(m.task_id());
	}
	t0 = Clock::now();
	s->Write(shell("unrelated", "true"));
	while (((int)done.size() < n || took < 0) && s->Read(&m)) {
		if (!is_task_final(m))
			continue;
		if (m.task_id() == "unrelated")
			took = seconds_since(t0);
		else
			done.insert(m.task_id());
	}
	std::printf("{\"tasks\": %d, \"unrelated_ms\": %.3f}\n", n,
	    took * 1000);
}

struct Sink final : public pb::AgentService::Service {
	std::vector<std::string> args;
	bool finished = false;
	std::mutex *mu = nullptr;
	std::condition_variable *cv = nullptr;

	grpc::Status
	StreamTasks(grpc::ServerContext *ctx, Stream *s) override
	{
		(void)ctx;
		if (finished)
			return grpc::Status(grpc::StatusCode::UNAVAILABLE, "done");
		const std::string &mode = args[0];
		std::string line;
		std::printf("connected\n");
		std::fflush(stdout);
		std::getline(std::cin, line);
		if (mode == "dispatch")
			run_dispatch(s, std::stoi(args[1]));
		else if (mode == "stream")
			run_stream(s, args[1]);
		else if (mode == "hold")
			run_hold(s, std::stoi(args[1]), args[2]);
		else if (mode == "burst")
			run_burst(s, std::stoi(args[1]));
		else if (mode == "idle") {
			std::this_thread::sleep_for(std::chrono::duration<double>(
			    std::stod(args[1])));
			std::printf("{\"seconds\": %s}\n", args[1].c_str());
		}
		std::fflush(stdout);
		{
			std::lock_guard<std::mutex> lock(*mu);
			finished = true;
		}
		cv->notify_all();
		return grpc::Status::OK;
	}
};

pid_t
spawn(const char *const argv[])
{
	pid_t pid;

	if (posix_spawn(&pid, argv[0], nullptr, nullptr,
	    const_cast<char *const *>(argv), environ) != 0)
		std::exit(1);
	return pid;
}

// The dispatch floor: posix_spawn and wait of `bash -c true`.
void
floor_spawn(int n)
{
	const char *const argv[] = { "/bin/bash", "-c", "true", nullptr };
	std::vector<double> ms;

	for (int i = 0; i < n; i++) {
		auto t0 = Clock::now();
		waitpid(spawn(argv), nullptr, 0);
		ms.push_back(seconds_since(t0) * 1000);
	}
	std::printf("{\"tasks\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f}\n", n,
	    percentile(ms, 0.5), percentile(ms, 0.99));
}

// The cancel floor: N sleeps killed and reaped directly.
void
floor_kill(int n)
{
	const char *const argv[] = { "/bin/sleep", "100000", nullptr };
	std::vector<pid_t> pids;

	for (int i = 0; i < n; i++)
		pids.push_back(spawn(argv));
	auto t0 = Clock::now();
	for (pid_t p : pids)
		kill(p, SIGKILL);
	for (pid_t p : pids)
		waitpid(p, nullptr, 0);
	std::printf("{\"tasks\": %d, \"kill_all_s\": %.3f}\n", n,
	    seconds_since(t0));
}

} // namespace

int
main(int argc, char **argv)
{
	if (argc < 3) {
		std::fprintf(stderr, "usage: bench-sink PORTFILE MODE ARG...\n");
		return 2;
	}
	std::string mode = argv[2];
	if (mode == "floor-spawn") {
		floor_spawn(std::stoi(argv[3]));
		return 0;
	}
	if (mode == "floor-kill") {
		floor_kill(std::stoi(argv[3]));
		return 0;
	}

	Sink sink;
	std::mutex mu;
	std::condition_variable cv;
	sink.mu = &mu;
	sink.cv = &cv;
	for (int i = 2; i < argc; i++)
		sink.args.push_back(argv[i]);
	int port = 0;
	grpc::ServerBuilder b;
	b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
	    &port);
	b.SetMaxReceiveMessageSize(64 * 1024 * 1024);
	b.RegisterService(&sink);
	std::unique_ptr<grpc::Server> server = b.BuildAndStart();
	if (server == nullptr || port == 0)
		return 1;
	{
		std::ofstream f(argv[1]);
		f << port << "\n";
	}
	{
		std::unique_lock<std::mutex> lock(mu);
		cv.wait(lock, [&] { return sink.finished; });
	}
	server->Shutdown(std::chrono::system_clock::now() +
	    std::chrono::seconds(1));
	return 0;
}
