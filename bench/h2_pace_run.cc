// The paced run (see h2_pace_run.h): one thread, one epoll loop that sleeps until the next
// call is due or a socket has something.
#include "h2_pace_run.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "h2_pace_connection.h"

namespace skewless::h2pace {
namespace {

// A timed wait may end this late (the kernel's default slack for a normal thread is
// 50 µs, which would pose as the target's latency and bunch calls up).
constexpr unsigned long kTimerSlackNs = 1000;

std::int64_t NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Counts each call as it ends: warm-up calls only by number, measured ones by outcome.
class Tally {
 public:
  explicit Tally(PaceResult* result) : result_(result) {}
  void set_measure_start(std::int64_t ns) { measure_start_ns_ = ns; }

  void Record(std::int64_t intended_ns, std::string_view error) {
    ++result_->calls_ended;
    if (intended_ns < measure_start_ns_) {
      if (error.empty()) ++result_->warmup_rpcs;
      return;
    }
    if (error.empty()) {
      ++result_->rpcs;
      result_->latency.Record(NowNs() - intended_ns);
    } else {
      ++result_->errors;
      ++result_->errors_by_code[std::string(error)];
    }
  }

 private:
  PaceResult* result_;
  std::int64_t measure_start_ns_ = 0;
};

// A connection and whether epoll is asked to say when its socket is writable.
struct Watched {
  std::unique_ptr<PaceConnection> connection;
  bool writing = false;
};

class Loop {
 public:
  Loop(const PaceOptions& options, PaceResult* result)
      : options_(options), result_(result), tally_(result) {}

  ~Loop() {
    if (epoll_fd_ >= 0) close(epoll_fd_);
  }

  absl::Status Connect() {
    call_ = {.authority = options_.target,
             .path = options_.path,
             .body = std::string(5, '\0')};  // an empty message, gRPC-framed
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return absl::InternalError(absl::StrCat("epoll: ", std::strerror(errno)));
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.connect_timeout));
    for (int i = 0; i < options_.connections; ++i) {
      absl::StatusOr<std::unique_ptr<PaceConnection>> connection =
          PaceConnection::Connect(options_.target, &call_, options_.max_in_flight, timeout_ms,
                                  [this](std::int64_t intended_ns, std::string_view error) {
                                    tally_.Record(intended_ns, error);
                                  });
      if (!connection.ok()) return connection.status();
      Watch((*connection)->fd(), static_cast<std::uint64_t>(i), EPOLLIN);
      watched_.push_back({.connection = *std::move(connection)});
    }
    return absl::OkStatus();
  }

  void Run() {
    prctl(PR_SET_TIMERSLACK, kTimerSlackNs);
    const double interval_ns = 1e9 / options_.rate_rps;
    const std::int64_t start_ns = NowNs();
    const std::int64_t measure_start_ns = start_ns + absl::ToInt64Nanoseconds(options_.warmup);
    const std::int64_t end_ns = measure_start_ns + absl::ToInt64Nanoseconds(options_.duration);
    const std::int64_t drain_end_ns = end_ns + absl::ToInt64Nanoseconds(options_.drain);
    // Call i is due at start + i/rate (no accumulated rounding), on connection i mod C.
    const auto due = [&](std::int64_t i) {
      return start_ns +
             static_cast<std::int64_t>(std::llround(static_cast<double>(i) * interval_ns));
    };
    std::int64_t total = 0;
    while (due(total) < end_ns) ++total;
    tally_.set_measure_start(measure_start_ns);
    const double cpu_before = CpuSeconds();

    std::int64_t next = 0;
    bool ended = false;
    std::array<epoll_event, 64> events;
    for (;;) {
      const std::int64_t now = NowNs();
      const std::size_t c = watched_.size();
      for (; next < total && due(next) <= now; ++next) {
        watched_[static_cast<std::size_t>(next) % c].connection->Start(due(next));
      }
      if (now >= end_ns && !ended) {
        // Calls still waiting for a slot are never sent (as a client that gave up): the
        // target fell behind, which achieved_rps shows.
        ended = true;
        for (Watched& w : watched_) result_->unsent += w.connection->DropQueued();
      }
      int in_flight = 0;
      for (Watched& w : watched_) {
        SetWriting(w, w.connection->Flush());
        in_flight += w.connection->in_flight();
      }
      if (ended && in_flight == 0) break;
      if (now >= drain_end_ns) {
        for (Watched& w : watched_) w.connection->Abandon("UNFINISHED");
        break;
      }
      // epoll_pwait2's nanosecond timeout is the pacing timer: no timerfd to arm and read
      // on every wake-up (that was a third of the loop's syscalls).
      const std::int64_t wake_ns = next < total ? due(next) : ended ? drain_end_ns : end_ns;
      const std::int64_t wait_ns = std::max<std::int64_t>(0, wake_ns - NowNs());
      const timespec timeout{.tv_sec = wait_ns / 1'000'000'000, .tv_nsec = wait_ns % 1'000'000'000};
      const int n = epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                 &timeout, nullptr);
      for (int i = 0; i < n; ++i) {
        Watched& w = watched_[events[i].data.u64];
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) w.connection->OnReadable();
      }
    }
    result_->cpu_s = CpuSeconds() - cpu_before;
    result_->duration_s = absl::ToDoubleSeconds(options_.duration);
    result_->offered_rps = options_.rate_rps;
    result_->achieved_rps = static_cast<double>(result_->rpcs) / result_->duration_s;
  }

 private:
  void Watch(int fd, std::uint64_t tag, std::uint32_t what) {
    epoll_event event{.events = what, .data = {.u64 = tag}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }

  void SetWriting(Watched& w, bool writing) {
    if (w.writing == writing || w.connection->lost()) return;
    w.writing = writing;
    epoll_event event{.events = EPOLLIN | (writing ? EPOLLOUT : 0u),
                      .data = {.u64 = static_cast<std::uint64_t>(&w - watched_.data())}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, w.connection->fd(), &event);
  }

  const PaceOptions& options_;
  PaceResult* result_;
  Tally tally_;
  CallTemplate call_;
  int epoll_fd_ = -1;
  std::vector<Watched> watched_;
};

}  // namespace

absl::StatusOr<PaceResult> RunPaced(const PaceOptions& options) {
  PaceResult result;
  Loop loop(options, &result);
  if (absl::Status connected = loop.Connect(); !connected.ok()) return connected;
  loop.Run();
  return result;
}

}  // namespace skewless::h2pace
