// FileSource: picks up writes and rename-replaces, keeps the last good snapshot on bad
// input, debounces bursts, stops cleanly; with inotify and with the polling fallback.
#include "skewless/controlplane/file_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace skewless::controlplane {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Generous: a loaded 2-core CI box can stall a thread for seconds.
constexpr auto kWaitLimit = 20s;

bool WaitFor(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "skewless-cp-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A valid document whose service has `pods` endpoints: the count tells versions apart.
std::string Version(int pods) {
  std::string document =
      "services: [{name: echo, clusterIPs: [10.96.0.1], ports: [{port: 80}]}]\n"
      "endpointSlices:\n  - service: echo\n    endpoints:\n";
  for (int i = 0; i < pods; ++i) {
    document += "      - {address: 10.0.0." + std::to_string(i + 1) + "}\n";
  }
  if (pods == 0) document += "      []\n";
  return document;
}

size_t Pods(const Snapshot& snapshot) {
  const ServicePortEndpoints* port = snapshot.FindEndpoints({"default", "echo"}, "");
  return port == nullptr ? 0 : port->endpoints.size();
}

void WriteInPlace(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

void WriteAndRename(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  WriteInPlace(temporary, content);
  std::filesystem::rename(temporary, path);
}

// Collects what the callbacks saw, from whichever thread they ran on.
class Recorder {
 public:
  FileSource::SnapshotCallback OnSnapshot() {
    return [this](std::shared_ptr<const Snapshot> snapshot) {
      std::lock_guard lock(mutex_);
      snapshots_.push_back(std::move(snapshot));
    };
  }
  FileSource::ErrorCallback OnError() {
    return [this](const absl::Status& status) {
      std::lock_guard lock(mutex_);
      errors_.push_back(status);
    };
  }
  size_t snapshots() const {
    std::lock_guard lock(mutex_);
    return snapshots_.size();
  }
  size_t errors() const {
    std::lock_guard lock(mutex_);
    return errors_.size();
  }
  std::shared_ptr<const Snapshot> last_snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshots_.empty() ? nullptr : snapshots_.back();
  }
  absl::Status last_error() const {
    std::lock_guard lock(mutex_);
    return errors_.empty() ? absl::OkStatus() : errors_.back();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const Snapshot>> snapshots_;
  std::vector<absl::Status> errors_;
};

struct Mode {
  const char* name;
  bool use_inotify;
};

class FileSourceTest : public ::testing::TestWithParam<Mode> {
 protected:
  FileSourceOptions Options() const {
    FileSourceOptions options;
    options.use_inotify = GetParam().use_inotify;
    // With inotify the stat safety net is pushed out of the way, so the test shows that
    // inotify alone sees the change.
    options.poll_interval = GetParam().use_inotify ? std::chrono::milliseconds(3'600'000) : 20ms;
    return options;
  }
  std::unique_ptr<FileSource> StartSource() {
    auto source = FileSource::Start(path_, recorder_.OnSnapshot(), recorder_.OnError(), Options());
    EXPECT_TRUE(source.ok()) << source.status();
    if (!source.ok()) return nullptr;
    EXPECT_EQ((*source)->Stats().polling, !GetParam().use_inotify);
    return *std::move(source);
  }
  bool WaitForPods(const FileSource& source, size_t pods) {
    return WaitFor([&] {
      auto current = source.Current();
      return current != nullptr && Pods(*current) == pods;
    });
  }

  TempDir dir_;
  const std::string path_ = dir_.File("controlplane.yaml");
  Recorder recorder_;
};

TEST_P(FileSourceTest, LoadsAtStartThenFollowsWrites) {
  WriteInPlace(path_, Version(1));
  auto source = StartSource();
  ASSERT_NE(source, nullptr);
  ASSERT_NE(source->Current(), nullptr) << "the first load happens in Start";
  EXPECT_EQ(Pods(*source->Current()), 1u);
  EXPECT_EQ(recorder_.snapshots(), 1u);

  WriteInPlace(path_, Version(2));
  ASSERT_TRUE(WaitForPods(*source, 2));
  ASSERT_TRUE(WaitFor([&] { return recorder_.snapshots() == 2; }));
  EXPECT_EQ(Pods(*recorder_.last_snapshot()), 2u);
  EXPECT_TRUE(source->LastError().ok());
  EXPECT_EQ(recorder_.errors(), 0u);
}

TEST_P(FileSourceTest, BrokenFileIsRejectedAndTheLastGoodSnapshotStays) {
  WriteInPlace(path_, Version(3));
  auto source = StartSource();
  ASSERT_NE(source, nullptr);
  const std::shared_ptr<const Snapshot> good = source->Current();

  WriteInPlace(path_, Version(4) + "      - {address: 10.0.0.999}\n");
  ASSERT_TRUE(WaitFor([&] { return recorder_.errors() >= 1; }));
  EXPECT_THAT(std::string(recorder_.last_error().message()),
              HasSubstr(path_ + ":9:19: endpointSlices[0].endpoints[4].address"));
  EXPECT_THAT(std::string(source->LastError().message()), HasSubstr("is not an IP address"));
  EXPECT_EQ(source->Current(), good) << "the same snapshot object, untouched";
  EXPECT_EQ(recorder_.snapshots(), 1u);

  std::filesystem::remove(path_);
  ASSERT_TRUE(WaitFor([&] { return source->LastError().code() == absl::StatusCode::kNotFound; }));
  EXPECT_EQ(source->Current(), good) << "a deleted file loses nothing either";

  WriteInPlace(path_, Version(5));
  ASSERT_TRUE(WaitForPods(*source, 5)) << "fixing the file is picked up";
  EXPECT_TRUE(source->LastError().ok());
}

TEST_P(FileSourceTest, RenameReplaceIsPickedUp) {
  WriteAndRename(path_, Version(1));
  auto source = StartSource();
  ASSERT_NE(source, nullptr);
  for (int pods = 2; pods <= 4; ++pods) {
    WriteAndRename(path_, Version(pods));
    ASSERT_TRUE(WaitForPods(*source, pods)) << "version " << pods;
  }
}

TEST_P(FileSourceTest, MissingFileAtStartIsReportedThenPickedUp) {
  auto source = StartSource();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->Current(), nullptr);
  EXPECT_EQ(source->LastError().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(source->LastError().message()), HasSubstr(path_));

  WriteAndRename(path_, Version(2));
  ASSERT_TRUE(WaitForPods(*source, 2));
}

TEST_P(FileSourceTest, UnchangedContentIsNotSentAgain) {
  WriteInPlace(path_, Version(1));
  auto source = StartSource();
  ASSERT_NE(source, nullptr);
  const auto loads = source->Stats().loads;
  // Same snapshot, different bytes (and size, so polling sees it too).
  WriteAndRename(path_, "# a comment changes nothing\n" + Version(1));
  ASSERT_TRUE(WaitFor([&] { return source->Stats().loads > loads; }));
  EXPECT_EQ(recorder_.snapshots(), 1u);
  EXPECT_EQ(source->Stats().accepted, 1u);
}

INSTANTIATE_TEST_SUITE_P(Watch, FileSourceTest,
                         ::testing::Values(Mode{"Inotify", true}, Mode{"Polling", false}),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return std::string(info.param.name);
                         });

TEST(FileSourceDebounce, BurstOfWritesIsReadFarFewerTimes) {
  TempDir dir;
  const std::string path = dir.File("cp.yaml");
  WriteInPlace(path, Version(1));
  FileSourceOptions options;
  // Wide enough that scheduling hiccups between writes rarely split the burst; the
  // assertion below tolerates several splits anyway.
  options.debounce = 300ms;
  options.max_delay = 5s;
  options.poll_interval = std::chrono::milliseconds(3'600'000);
  Recorder recorder;
  auto source = FileSource::Start(path, recorder.OnSnapshot(), recorder.OnError(), options);
  ASSERT_TRUE(source.ok()) << source.status();
  const auto loads_before = (*source)->Stats().loads;

  constexpr int kWrites = 20;
  for (int pods = 2; pods <= kWrites + 1; ++pods) WriteInPlace(path, Version(pods));
  ASSERT_TRUE(WaitFor([&] {
    auto current = (*source)->Current();
    return current != nullptr && Pods(*current) == kWrites + 1;
  }));
  const auto loads = (*source)->Stats().loads - loads_before;
  EXPECT_GE(loads, 1u);
  EXPECT_LE(loads, kWrites / 2u) << "each write is several inotify events; "
                                    "without debouncing there would be at least one load each";
}

TEST(FileSourceStop, StopIsIdempotentAndEndsWatching) {
  TempDir dir;
  const std::string path = dir.File("cp.yaml");
  WriteInPlace(path, Version(1));
  Recorder recorder;
  auto source = FileSource::Start(path, recorder.OnSnapshot(), recorder.OnError());
  ASSERT_TRUE(source.ok());
  (*source)->Stop();
  (*source)->Stop();
  const auto loads = (*source)->Stats().loads;
  WriteInPlace(path, Version(2));
  std::this_thread::sleep_for(200ms);  // gives a (wrongly) running watcher time to load
  EXPECT_EQ((*source)->Stats().loads, loads);
  EXPECT_EQ(Pods(*(*source)->Current()), 1u) << "the snapshot stays readable after Stop";
}

TEST(FileSourceStop, DestructionWithAPendingChangeJoinsPromptly) {
  TempDir dir;
  const std::string path = dir.File("cp.yaml");
  WriteInPlace(path, Version(1));
  FileSourceOptions options;
  options.debounce = 10s;  // the pending load must not hold up destruction
  auto source = FileSource::Start(path, nullptr, nullptr, options);
  ASSERT_TRUE(source.ok());
  WriteInPlace(path, Version(2));
  const auto start = std::chrono::steady_clock::now();
  source->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(FileSourceStart, WatchesTheWorkingDirectoryForABareFileName) {
  // A path with no directory part watches "." rather than failing.
  TempDir dir;
  struct RestoreCwd {
    std::filesystem::path previous = std::filesystem::current_path();
    ~RestoreCwd() { std::filesystem::current_path(previous); }
  } restore;
  std::filesystem::current_path(dir.File(""));
  WriteInPlace("cp.yaml", Version(1));
  auto source = FileSource::Start("cp.yaml", nullptr);
  ASSERT_TRUE(source.ok());
  EXPECT_FALSE((*source)->Stats().polling);
  WriteAndRename("cp.yaml", Version(2));
  EXPECT_TRUE(WaitFor([&] { return Pods(*(*source)->Current()) == 2; }));
  source->reset();  // before the directory goes
}

}  // namespace
}  // namespace skewless::controlplane
