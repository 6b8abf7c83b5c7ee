// Child processes of the lab: one-shot commands (ip, iptables, nft) and
// long-lived workloads placed into a network namespace and a cgroup.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless::lab {

struct CommandResult {
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs argv[0] (looked up in PATH) to completion, feeding `stdin_text`.
// A non-zero exit is an error whose message has the command and its stderr.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::string& stdin_text = "");

// Where and how to start a long-lived child.
struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::string netns;              // name under /run/netns; empty = stay in ours
  std::string cgroup;             // cgroup directory to join; empty = stay in ours
  // stderr goes to this file (appended), never to a pipe nobody drains:
  // a chatty child must not block on a full pipe.
  std::string log_path;
};

// A long-lived child. It gets its own process group (a terminal's Ctrl-C
// reaches only the lab, which then stops children in order) and dies with
// the lab (PR_SET_PDEATHSIG), so a kill -9 of the lab strands no workload.
class Child {
 public:
  static absl::StatusOr<Child> Spawn(const SpawnOptions& options);
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // SIGKILLs and reaps a child still running

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

  // Reads stdout until a full line arrives or the deadline passes.
  absl::StatusOr<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Reads everything the child writes to stdout until it closes it.
  absl::StatusOr<std::string> ReadAll(std::chrono::milliseconds timeout);
  void Signal(int signo) const;
  // Waits for exit; returns the exit code (128+signal when killed).
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  // The end of the child's log (for error messages).
  std::string LogTail() const;
  // True while the child has unread stdout or has exited; for polling loops.
  int stdout_fd() const { return stdout_fd_; }

 private:
  Child() = default;
  void Reset();
  absl::Status Fill(std::chrono::steady_clock::time_point deadline);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string log_path_;
  bool stdout_closed_ = false;
  std::string buffer_;
  std::string name_;
};

// Reads /proc/<pid>/stat field 22 (start time in clock ticks). Together with
// the pid it identifies a process across pid reuse. Nothing for a process
// that is gone or a zombie.
std::optional<unsigned long long> ProcessStartTime(pid_t pid);

}  // namespace skewless::lab
