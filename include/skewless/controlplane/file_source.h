// The control plane's source when there is no cluster: a YAML file of nodes, services and
// endpoints (schema in docs/controlplane-file-source.md), watched and re-read on change.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/controlplane/model.h"

namespace skewless::controlplane {

// Parses and validates one document. Every error starts with `source_name` (a path, or
// "<lab-default>"), then the line and column when known, then the path of the offending
// value, e.g. "cp.yaml:12:15: services[2].ports[0].port: 70000 is not a port (1-65535)".
absl::StatusOr<Snapshot> ParseSnapshotYaml(std::string_view document, std::string_view source_name);

// Reads and parses a file (at most kMaxDocumentBytes).
absl::StatusOr<Snapshot> LoadSnapshotFile(const std::string& path);
inline constexpr std::size_t kMaxDocumentBytes = 16 << 20;

// The lab's pods (docs/lab.md): six pods 198.18.0.10-15, two per zone in zone-a/b/c on
// nodes node-a/b/c, behind Service default/echo 198.19.0.10:8080 (appProtocol grpc).
extern const std::string_view kLabDefaultDocument;

struct FileSourceOptions {
  // Editors and `kubectl cp` write in bursts (truncate, write, rename): wait this long
  // after the last change before reading, so a half-written file is rarely seen.
  std::chrono::milliseconds debounce{50};
  // A file that keeps changing is still read at least this often.
  std::chrono::milliseconds max_delay{1000};
  // How often the file's stat is checked: the only mechanism when inotify is unavailable,
  // and a safety net for lost inotify events otherwise.
  std::chrono::milliseconds poll_interval{1000};
  bool use_inotify = true;  // false forces polling (tests of the fallback)
};

// Counters of what the watcher did, for tests and metrics.
struct FileSourceStats {
  std::uint64_t loads = 0;     // times the file was read and parsed
  std::uint64_t accepted = 0;  // loads that produced a new snapshot
  std::uint64_t rejected = 0;  // loads that failed (the last good snapshot stayed)
  bool polling = false;        // true when inotify could not be used
};

namespace file_source_internal {
struct FileSignature;  // what polling compares (file_source.cc)
}

// Watches one YAML file and keeps the last good snapshot of it. A valid file that differs
// from the current snapshot replaces it and is passed to `on_snapshot`; an invalid or
// missing one is passed to `on_error` (default: a line on stderr) and changes nothing.
// Callbacks run one at a time: the first load's from Start on the caller's thread, later
// ones on the watcher thread. They must not destroy the FileSource or call Stop.
class FileSource {
 public:
  using SnapshotCallback = std::function<void(std::shared_ptr<const Snapshot>)>;
  using ErrorCallback = std::function<void(const absl::Status&)>;

  // Loads the file once, then watches it. Fails only when the watcher cannot run; a bad
  // or missing file at start is reported through `on_error` and picked up once fixed.
  static absl::StatusOr<std::unique_ptr<FileSource>> Start(std::string path,
                                                           SnapshotCallback on_snapshot,
                                                           ErrorCallback on_error = nullptr,
                                                           FileSourceOptions options = {});
  ~FileSource();  // Stop()
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // Stops watching and joins the watcher thread; idempotent.
  void Stop();

  // The last good snapshot; nullptr until a load succeeds.
  std::shared_ptr<const Snapshot> Current() const;
  // Why the most recent load failed; OK when it succeeded.
  absl::Status LastError() const;
  FileSourceStats Stats() const;
  const std::string& path() const { return path_; }

 private:
  FileSource(std::string path, SnapshotCallback on_snapshot, ErrorCallback on_error,
             FileSourceOptions options);
  absl::Status OpenWatch();
  void Load();
  void Run(file_source_internal::FileSignature loaded_signature);

  const std::string path_;
  const SnapshotCallback on_snapshot_;
  const ErrorCallback on_error_;
  const FileSourceOptions options_;

  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the watcher for Stop
  std::thread thread_;
  std::atomic<bool> stopped_{false};

  mutable std::mutex mutex_;  // guards the three below
  std::shared_ptr<const Snapshot> current_;
  absl::Status last_error_;
  FileSourceStats stats_;
};

}  // namespace skewless::controlplane
