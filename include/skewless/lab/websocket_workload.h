// The lab's WebSocket workload (`--workload websocket`): the command lines of its pod
// server and client (Python scripts over python3-websockets, installed next to the lab's
// binaries), and the client's result read into the load generator's Result, so the
// report's per-pod table, spread and latency work for it unchanged.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "skewless/lab/config.h"
#include "skewless/loadgen/result.h"

namespace skewless::lab {

// Built from tools/skewless-ws-*.py into the binary directory (tools/CMakeLists.txt).
inline constexpr char kWebSocketPodServer[] = "skewless-ws-pod-server";
inline constexpr char kWebSocketLoadgen[] = "skewless-ws-loadgen";
inline constexpr char kWebSocketResultSchema[] = "skewless.lab.websocket-load/v1";

// One pod: greets each connection with its name and zone, echoes every message.
std::vector<std::string> WebSocketPodArgv(const std::string& bin_dir, const LabConfig& config,
                                          const PodSpec& pod);

// One client node's connections; `rate` is this node's share of messages/s (0 = closed loop).
std::vector<std::string> WebSocketLoadArgv(const std::string& bin_dir, const LabConfig& config,
                                           const ClientSpec& client, double rate,
                                           std::chrono::milliseconds warmup);

// What the WebSocket clients measured. `result` holds messages where the gRPC
// workload holds calls: a client is one connection, `rpcs_by_pod` its echoed messages by
// the pod that greeted it, latency the message round trips.
struct WebSocketRun {
  loadgen::Result result;
  // Connections each pod greeted (by pod name); a connection that failed before its
  // greeting is in failed_connections instead.
  std::map<std::string, int> connections_by_pod;
  int failed_connections = 0;       // never greeted, or broke before the end
  uint64_t message_failures = 0;    // sent and never echoed, or echoed wrong
  std::vector<std::string> errors;  // what went wrong, one per failed connection
};

// Parses one skewless-ws-loadgen's JSON output.
absl::StatusOr<WebSocketRun> WebSocketRunFromJson(const nlohmann::json& j);

// Folds a run of another client node (at the same time) into `into`.
void MergeWebSocketRuns(WebSocketRun& into, const WebSocketRun& from);

}  // namespace skewless::lab
