// Fork/exec of lab commands and workloads, with pipes, namespaces and cgroups.
#include "skewless/lab/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace skewless::lab {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno() { return std::strerror(errno); }

// Everything the child needs, prepared before fork: after fork in a
// multi-threaded parent only async-signal-safe calls are allowed.
struct ExecPlan {
  std::vector<std::string> argv_storage;
  std::vector<char*> argv;
  int netns_fd = -1;
  int cgroup_procs_fd = -1;
  bool search_path = false;
};

[[noreturn]] void ExecChild(const ExecPlan& plan, int stdin_fd, int stdout_fd, int stderr_fd,
                            bool die_with_parent, pid_t parent) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the lab blocks signals; exec inherits masks
  if (die_with_parent) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // parent died before prctl took effect
  }
  if (plan.cgroup_procs_fd >= 0 && write(plan.cgroup_procs_fd, "0\n", 2) != 2) _exit(126);
  if (plan.netns_fd >= 0 && setns(plan.netns_fd, CLONE_NEWNET) != 0) _exit(125);
  if (stdin_fd >= 0) dup2(stdin_fd, STDIN_FILENO);
  dup2(stdout_fd, STDOUT_FILENO);
  dup2(stderr_fd, STDERR_FILENO);
  if (plan.search_path) {
    execvp(plan.argv[0], plan.argv.data());
  } else {
    execv(plan.argv[0], plan.argv.data());
  }
  _exit(127);
}

std::string ExitText(int code) {
  switch (code) {
    case 125:
      return " (could not enter the network namespace)";
    case 126:
      return " (could not join the cgroup)";
    case 127:
      return " (could not exec)";
    default:
      return "";
  }
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Reads what is available from fd into out; returns false at EOF.
bool ReadSome(int fd, std::string& out) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return true;  // EAGAIN: nothing more for now
  }
}

}  // namespace

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::string& stdin_text) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", Errno()));
  }
  ExecPlan plan;
  plan.argv_storage = argv;
  for (auto& arg : plan.argv_storage) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  plan.search_path = true;

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", Errno()));
  if (pid == 0) ExecChild(plan, in_pipe[0], out_pipe[1], err_pipe[1], false, 0);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);

  // Feed stdin and drain both outputs together: a large ruleset written while
  // the child blocks on a full stdout pipe would otherwise deadlock.
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  CommandResult result;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[3] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0},
                     {in_fd, POLLOUT, 0}};
    if (poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) out_open = ReadSome(out_pipe[0], result.stdout_text);
    if (fds[1].revents) err_open = ReadSome(err_pipe[0], result.stderr_text);
    if (in_fd >= 0 && fds[2].revents) {
      ssize_t n = write(in_fd, stdin_text.data() + written, stdin_text.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = stdin_text.size();
      if (written == stdin_text.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = DecodeWaitStatus(status);
  if (result.exit_code != 0) {
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), "` exited ",
                                            result.exit_code, ExitText(result.exit_code), ": ",
                                            absl::StripAsciiWhitespace(result.stderr_text)));
  }
  return result;
}

absl::StatusOr<Child> Child::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Child::Spawn: empty argv");
  ExecPlan plan;
  plan.argv_storage = options.argv;
  for (auto& arg : plan.argv_storage) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);

  auto close_plan = [&plan] {
    if (plan.netns_fd >= 0) close(plan.netns_fd);
    if (plan.cgroup_procs_fd >= 0) close(plan.cgroup_procs_fd);
  };
  if (!options.netns.empty()) {
    std::string path = "/run/netns/" + options.netns;
    plan.netns_fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (plan.netns_fd < 0) {
      return absl::NotFoundError(absl::StrCat("network namespace ", path, ": ", Errno()));
    }
  }
  if (!options.cgroup.empty()) {
    std::string path = options.cgroup + "/cgroup.procs";
    plan.cgroup_procs_fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (plan.cgroup_procs_fd < 0) {
      close_plan();
      return absl::NotFoundError(absl::StrCat("cgroup ", path, ": ", Errno()));
    }
  }
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close_plan();
    return absl::InternalError(absl::StrCat("pipe: ", Errno()));
  }
  std::string log_path = options.log_path.empty() ? "/dev/null" : options.log_path;
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    close_plan();
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("log file ", log_path, ": ", Errno()));
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close_plan();
    return absl::InternalError(absl::StrCat("fork: ", Errno()));
  }
  if (pid == 0) ExecChild(plan, devnull, out_pipe[1], log_fd, true, parent);
  close_plan();
  close(devnull);
  close(log_fd);
  close(out_pipe[1]);
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  Child child;
  child.pid_ = pid;
  child.stdout_fd_ = out_pipe[0];
  child.log_path_ = options.log_path;
  std::vector<std::string> parts = absl::StrSplit(options.argv[0], '/');
  child.name_ = parts.back();
  return child;
}

Child::Child(Child&& other) noexcept { *this = std::move(other); }

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    Reset();
    pid_ = std::exchange(other.pid_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    log_path_ = std::move(other.log_path_);
    stdout_closed_ = other.stdout_closed_;
    buffer_ = std::move(other.buffer_);
    name_ = std::move(other.name_);
  }
  return *this;
}

Child::~Child() { Reset(); }

void Child::Reset() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) close(std::exchange(stdout_fd_, -1));
}

absl::Status Child::Fill(Clock::time_point deadline) {
  if (stdout_closed_) return absl::OutOfRangeError("stdout closed");
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  pollfd fd{stdout_fd_, POLLIN, 0};
  int ready = poll(&fd, 1, static_cast<int>(std::max<long long>(0, left.count())));
  if (ready < 0 && errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", Errno()));
  if (ready <= 0) return absl::DeadlineExceededError("no output yet");
  if (!ReadSome(stdout_fd_, buffer_)) stdout_closed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Child::ReadLine(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    absl::Status status = Fill(deadline);
    if (absl::IsOutOfRange(status)) {
      return absl::UnavailableError(
          absl::StrCat(name_, " (pid ", pid_, ") closed its output: ", LogTail()));
    }
    if (absl::IsDeadlineExceeded(status) && Clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(name_, " (pid ", pid_, ") said nothing in ",
                                                      timeout.count(), " ms: ", LogTail()));
    }
    if (!status.ok() && !absl::IsDeadlineExceeded(status)) return status;
  }
}

absl::StatusOr<std::string> Child::ReadAll(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!stdout_closed_) {
    absl::Status status = Fill(deadline);
    if (absl::IsDeadlineExceeded(status) && Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " (pid ", pid_, ") still writing after ", timeout.count(), " ms"));
    }
  }
  return std::exchange(buffer_, "");
}

void Child::Signal(int signo) const {
  if (pid_ > 0) kill(pid_, signo);
}

absl::StatusOr<int> Child::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("child already reaped");
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return DecodeWaitStatus(status);
    }
    if (done < 0 && errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", Errno()));
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " (pid ", pid_, ") still running after ", timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string Child::LogTail() const {
  if (log_path_.empty()) return "(no log)";
  std::ifstream in(log_path_);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr size_t kTail = 2000;
  if (text.size() > kTail) text = "..." + text.substr(text.size() - kTail);
  text = std::string(absl::StripAsciiWhitespace(text));
  return text.empty() ? absl::StrCat("(log ", log_path_, " is empty)") : text;
}

std::optional<unsigned long long> ProcessStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
  size_t close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::vector<std::string> fields =
      absl::StrSplit(text.substr(close_paren + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); start time is field 22.
  if (fields.size() < 20) return std::nullopt;
  // A zombie has finished; it lingers only until its (new) parent reaps it,
  // and some container inits never do.
  if (fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  return std::stoull(fields[19]);
}

}  // namespace skewless::lab
