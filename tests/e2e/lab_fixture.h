// Shared pieces of the lab's end-to-end tests: root check, an isolated
// state directory, and probes of what is left on the machine.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "skewless/lab/config.h"
#include "skewless/lab/node.h"
#include "skewless/lab/subprocess.h"

namespace skewless::lab::testing {

#define SKEWLESS_REQUIRE_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root: creates namespaces, veths and cgroups"

// A state directory of this test process only, so the test never sees or
// cleans up another run's records.
inline std::string TestStateDir() { return "/run/skewless-lab-test-" + std::to_string(getpid()); }

// Network namespaces whose name starts with the run's prefix.
inline std::vector<std::string> NetnsOfRun(const std::string& id) {
  std::vector<std::string> found;
  std::error_code ec;
  std::string prefix = std::string(kNetnsPrefix) + id + "-";
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

inline bool ProcessExists(pid_t pid) {
  return std::filesystem::exists("/proc/" + std::to_string(pid));
}

// Connects from a client namespace with bash's /dev/tcp: a real TCP
// handshake, nothing more; exit 0 means connected.
inline absl::Status TcpConnectFrom(const std::string& netns, const std::string& ip, int port) {
  return RunCommand({"ip", "netns", "exec", netns, "timeout", "3", "bash", "-c",
                     "exec 3<>/dev/tcp/" + ip + "/" + std::to_string(port)})
      .status();
}

// A long-lived child in `zone`'s client namespace and cgroup (Node::SpawnClient), or null
// with the failure recorded.
inline std::unique_ptr<Child> SpawnInZone(Node& node, const std::string& zone,
                                          std::vector<std::string> argv, const std::string& name) {
  auto child = node.SpawnClient(zone, std::move(argv), name);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return nullptr;
  return std::make_unique<Child>(*std::move(child));
}

// Waits for `needle` in a child's log; a fatal failure naming it after `timeout`.
inline void AwaitLog(Child& child, const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child.LogTail().find(needle) == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "\"" << needle << "\" not logged: " << child.LogTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline int CountHostKubeRules() {
  auto saved = RunCommand({"sh", "-c", "iptables-save 2>/dev/null | grep -c KUBE- || true"});
  return saved.ok() ? std::stoi(saved->stdout_text) : -1;
}

// Whether something is mounted at `path` (a run's bpffs, before and after teardown).
inline bool Mounted(const std::string& path) {
  std::ifstream mounts("/proc/mounts");
  std::string device, mount_point;
  while (mounts >> device >> mount_point) {
    if (mount_point == path) return true;
    mounts.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return false;
}

}  // namespace skewless::lab::testing
