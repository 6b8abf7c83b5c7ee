// A lab whose pods are the echo Service of skewless-controlplane's file source, and the
// daemons the agent, splicer and xDS interop tests run in zone-a's client namespace: the
// lab's creation, the endpoints file, the control plane and the agent, and their teardown.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lab_fixture.h"
#include "skewless/lab/config.h"
#include "skewless/lab/node.h"
#include "skewless/lab/subprocess.h"

namespace skewless::lab::testing {

constexpr char kXdsAddress[] = "127.0.0.1:18000";  // inside zone-a's client namespace
constexpr char kAgentHttp[] = "127.0.0.1:19101";
constexpr char kVip[] = "198.19.0.10";  // the echo Service's ClusterIP

// How the file source describes the echo Service (port 8080 on kVip).
struct EchoService {
  // The port named grpc with appProtocol grpc (what the splicer and xDS clients need), or
  // named tcp.
  bool grpc = false;
  // Each endpoint carries its pod's name as hostname (xDS clients report per pod), or the
  // name of its zone's node.
  bool hostname = false;
};

// A mixin beside ::testing::Test (or TestWithParam): its methods assert like a fixture's.
class FileSourceLab {
 protected:
  // Creates the lab of `config` (dataplane: none, the agent installs it, if any) in this
  // process's state directory, and `dir_` (<state dir>-`name`) for the endpoints file.
  void CreateLab(const LabConfig& config, const std::string& name) {
    dir_ = TestStateDir() + "-" + name;
    std::filesystem::create_directories(dir_);
    zones_ = config.zones;
    NodeOptions options;
    options.state_dir = TestStateDir();
    options.bin_dir = SKEWLESS_BIN_DIR;
    options.progress = [](const std::string&) {};
    auto node = Node::Create(config, options);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  // A bpffs of the lab's for the agent's pins: pin_dir_ is <bpffs>/agent.
  void MountAgentBpffs(const std::string& name) {
    auto bpffs = node_->MountBpffs(name);
    ASSERT_TRUE(bpffs.ok()) << bpffs.status();
    pin_dir_ = *bpffs + "/agent";
  }

  // Stops the control plane and the agent, removes the lab (processes, cgroups, pins,
  // mounts) and the state directories. The test's own children go first.
  void TearDownLab() {
    agent_.reset();
    control_plane_.reset();
    node_.reset();
    std::filesystem::remove_all(TestStateDir());
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The file source's YAML with the given pods (by index) as ready endpoints, written to
  // a temporary name and renamed, as a ConfigMap update or an editor would.
  void WriteEndpoints(const std::set<int>& pods) {
    std::string yaml = "nodes:\n";
    for (const std::string& zone : zones_) {
      absl::StrAppend(&yaml, "  - {name: ", NodeOf(zone), ", zone: ", zone, "}\n");
    }
    absl::StrAppend(&yaml, "services:\n  - namespace: default\n    name: echo\n    clusterIPs: [",
                    kVip, "]\n    ports:\n",
                    service_.grpc ? "      - {name: grpc, port: 8080, targetPort: 8080, "
                                    "appProtocol: grpc}\n"
                                  : "      - {name: tcp, port: 8080, targetPort: 8080}\n",
                    "endpointSlices:\n  - namespace: default\n    service: echo\n"
                    "    name: echo-1\n    endpoints:\n");
    if (pods.empty()) yaml += "      []\n";
    for (int index : pods) {
      const PodSpec& pod = node_->plan().pods.at(index);
      absl::StrAppend(
          &yaml, "      - {address: ", pod.ip, ", zone: ", pod.zone,
          service_.hostname ? ", hostname: " + pod.name : ", nodeName: " + NodeOf(pod.zone), "}\n");
    }
    const std::string path = dir_ + "/endpoints.yaml";
    std::ofstream(path + ".tmp") << yaml;
    std::filesystem::rename(path + ".tmp", path);
  }

  // A long-lived child in zone-a's client namespace and cgroup, or null (a failure).
  std::unique_ptr<Child> Spawn(std::vector<std::string> argv, const std::string& name) {
    return SpawnInZone(*node_, "zone-a", std::move(argv), name);
  }

  // skewless-controlplane on the endpoints file, serving plaintext xDS on kXdsAddress;
  // returns once it serves (clients dialling before that back off for seconds).
  void StartControlPlane(const std::string& http_listen = "127.0.0.1:19100") {
    control_plane_ =
        Spawn({std::string(SKEWLESS_BIN_DIR) + "/skewless-controlplane", "--source", "file",
               "--file", dir_ + "/endpoints.yaml", "--xds-listen", kXdsAddress, "--http-listen",
               http_listen, "--shutdown-grace", "1", "--plaintext"},
              // A log of its own per start: waiting for a line must not find the last one's.
              absl::StrCat("controlplane-", ++control_plane_starts_));
    ASSERT_TRUE(control_plane_);
    AwaitLog(*control_plane_, "control plane serving", std::chrono::milliseconds(10000));
  }

  // skewless-agent as node-a on zone-a's cgroup, pinning into pin_dir_; returns once it
  // has written its first complete state.
  void StartAgent(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {std::string(SKEWLESS_BIN_DIR) + "/skewless-agent",
                                     "--node-name",
                                     "node-a",
                                     "--xds-server",
                                     kXdsAddress,
                                     "--plaintext",
                                     "--cgroup",
                                     node_->ZoneCgroup("zone-a"),
                                     "--pin-dir",
                                     pin_dir_,
                                     "--http-listen",
                                     kAgentHttp};
    argv.insert(argv.end(), extra.begin(), extra.end());
    agent_ = Spawn(argv, absl::StrCat("agent-", ++agent_starts_));
    ASSERT_TRUE(agent_);
    AwaitLog(*agent_, "first complete state written", std::chrono::milliseconds(10000));
  }

  EchoService service_;
  std::unique_ptr<Node> node_;
  std::string dir_;
  std::string pin_dir_;
  std::unique_ptr<Child> control_plane_;
  std::unique_ptr<Child> agent_;

 private:
  // zone-a's node is node-a.
  static std::string NodeOf(const std::string& zone) { return "node-" + zone.substr(5); }

  std::vector<std::string> zones_;
  int control_plane_starts_ = 0;
  int agent_starts_ = 0;
};

}  // namespace skewless::lab::testing
