// FileSource: watches the YAML file (inotify on its directory, stat polling as fallback)
// and keeps the last good snapshot.
#include "skewless/controlplane/file_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace skewless::controlplane {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// What polling compares: any replace, rewrite or delete changes one of these.
struct file_source_internal::FileSignature {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;

  friend bool operator==(const FileSignature&, const FileSignature&) = default;
};

namespace {

file_source_internal::FileSignature Signature(const std::string& path) {
  struct stat st {};
  // stat, not lstat: a ConfigMap file is a symlink whose target is what changes.
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, st.st_dev, st.st_ino, st.st_size,
          std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// Whether a directory event can concern the watched file. Kubernetes' ConfigMap volumes
// update by renaming a "..data_tmp" symlink to "..data", and never touch the file's own
// name, so events on ".."-names count too.
bool Concerns(const inotify_event& event, const std::string& file_name) {
  if (event.len == 0) return false;
  const std::string_view name(event.name);
  return name == file_name || name.starts_with("..");
}

int ToTimeoutMs(Clock::duration duration) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(duration).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Start(std::string path,
                                                              SnapshotCallback on_snapshot,
                                                              ErrorCallback on_error,
                                                              FileSourceOptions options) {
  std::unique_ptr<FileSource> source(
      new FileSource(std::move(path), std::move(on_snapshot), std::move(on_error), options));
  source->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (source->stop_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat(source->path_, ": eventfd for the watcher: ", std::strerror(errno)));
  }
  if (options.use_inotify) {
    if (absl::Status status = source->OpenWatch(); !status.ok()) {
      std::cerr << "skewless-controlplane: " << status.message() << "; polling every "
                << options.poll_interval.count() << " ms instead\n";
    }
  }
  {
    std::lock_guard lock(source->mutex_);
    source->stats_.polling = source->inotify_fd_ < 0;
  }
  // Taken before the first read, so that a write racing with it is seen as a change.
  file_source_internal::FileSignature signature = Signature(source->path_);
  source->Load();
  source->thread_ = std::thread([raw = source.get(), signature] { raw->Run(signature); });
  return source;
}

FileSource::FileSource(std::string path, SnapshotCallback on_snapshot, ErrorCallback on_error,
                       FileSourceOptions options)
    : path_(std::move(path)),
      on_snapshot_(std::move(on_snapshot)),
      on_error_(std::move(on_error)),
      options_(options) {}

FileSource::~FileSource() { Stop(); }

absl::Status FileSource::OpenWatch() {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  // The directory, not the file: an editor's rename-replace gives the name a new inode,
  // and a watch on the old inode would never fire again.
  // Built, not assigned: g++ 12 warns falsely (-Wrestrict) on assigning "."
  // to a string here, which -Werror turns into a failed build.
  const std::string parent = std::filesystem::path(path_).parent_path().string();
  const std::string directory = parent.empty() ? std::string(".") : parent;
  const uint32_t mask = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
                        IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
  if (::inotify_add_watch(inotify_fd_, directory.c_str(), mask) < 0) {
    const int error = errno;
    ::close(inotify_fd_);
    inotify_fd_ = -1;
    return absl::UnavailableError(
        absl::StrCat("inotify watch on ", directory, ": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

void FileSource::Stop() {
  if (stopped_.exchange(true)) return;
  if (stop_fd_ >= 0) {
    const std::uint64_t one = 1;
    // An eventfd write of 1 cannot block or fail short of overflow, which needs 2^64 writes.
    [[maybe_unused]] ssize_t written = ::write(stop_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  inotify_fd_ = stop_fd_ = -1;
}

std::shared_ptr<const Snapshot> FileSource::Current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

absl::Status FileSource::LastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

FileSourceStats FileSource::Stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void FileSource::Load() {
  absl::StatusOr<Snapshot> loaded = LoadSnapshotFile(path_);
  std::shared_ptr<const Snapshot> replacement;
  {
    std::lock_guard lock(mutex_);
    ++stats_.loads;
    if (!loaded.ok()) {
      ++stats_.rejected;
      last_error_ = loaded.status();
    } else {
      last_error_ = absl::OkStatus();
      // A touch or a rewrite with the same content is not news for the xDS side.
      if (current_ == nullptr || *current_ != *loaded) {
        current_ = replacement = std::make_shared<const Snapshot>(*std::move(loaded));
        ++stats_.accepted;
      }
    }
  }
  // Callbacks run outside the lock, so they may call Current() and Stats().
  if (!loaded.ok()) {
    if (on_error_) {
      on_error_(loaded.status());
    } else {
      std::cerr << "skewless-controlplane: keeping the last good snapshot: "
                << loaded.status().message() << "\n";
    }
  } else if (replacement != nullptr && on_snapshot_) {
    on_snapshot_(replacement);
  }
}

void FileSource::Run(file_source_internal::FileSignature loaded_signature) {
  const std::string file_name = std::filesystem::path(path_).filename().string();
  std::optional<Clock::time_point> due;          // when the debounced load runs
  std::optional<Clock::time_point> burst_start;  // first event of the current burst
  Clock::time_point next_poll = Clock::now() + options_.poll_interval;
  // Room for many events at once; the kernel never splits one event across reads.
  alignas(inotify_event) char buffer[16 * (sizeof(inotify_event) + NAME_MAX + 1)];

  auto schedule = [&](Clock::time_point now) {
    if (!burst_start) burst_start = now;
    due = std::min(now + options_.debounce, *burst_start + options_.max_delay);
  };

  while (true) {
    const Clock::time_point wake = due ? std::min(*due, next_poll) : next_poll;
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, inotify_fd_ >= 0 ? 2 : 1, ToTimeoutMs(wake - Clock::now()));
    if (ready < 0 && errno != EINTR) {
      // Nothing here should fail; if poll does, fall back to a plain sleep-and-stat loop
      // rather than spinning or dying.
      std::cerr << "skewless-controlplane: poll on " << path_ << ": " << std::strerror(errno)
                << "\n";
      std::this_thread::sleep_for(options_.poll_interval);
      continue;
    }
    if (fds[0].revents != 0) return;

    const Clock::time_point now = Clock::now();
    if (inotify_fd_ >= 0 && (fds[1].revents & POLLIN) != 0) {
      bool watch_gone = false;
      ssize_t length;
      while ((length = ::read(inotify_fd_, buffer, sizeof(buffer))) > 0) {
        for (char* at = buffer; at < buffer + length;) {
          const auto* event = reinterpret_cast<const inotify_event*>(at);
          // A queue overflow lost events we cannot name: assume the file changed.
          if ((event->mask & IN_Q_OVERFLOW) != 0 || Concerns(*event, file_name)) schedule(now);
          if ((event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
            watch_gone = true;
          }
          at += sizeof(inotify_event) + event->len;
        }
      }
      if (watch_gone) {
        // The directory itself went away or moved: a new one under the same name would
        // not be watched, so only polling can see it.
        ::close(inotify_fd_);
        inotify_fd_ = -1;
        std::lock_guard lock(mutex_);
        stats_.polling = true;
      }
    }
    if (now >= next_poll) {
      next_poll = now + options_.poll_interval;
      if (!due && Signature(path_) != loaded_signature) schedule(now);
    }
    if (due && now >= *due) {
      due.reset();
      burst_start.reset();
      // Taken before reading: a change during the read then shows up at the next poll.
      loaded_signature = Signature(path_);
      Load();
    }
  }
}

}  // namespace skewless::controlplane
