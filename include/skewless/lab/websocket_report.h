// The WebSocket workload's part of the lab report: connections per pod (a WebSocket
// client keeps one connection, so a pod's load is the connections that landed on it),
// and the connections and messages that failed.
#pragma once

#include <ostream>

#include "skewless/lab/report.h"
#include "skewless/lab/websocket_workload.h"

namespace skewless::lab {

// Fills the report's WebSocket fields (and each pod row's connections) from the merged
// run of every client node. BuildReport has already filled the rest from run.result.
void AddWebSocketFigures(const WebSocketRun& run, LabReport& report);

// The report's WebSocket fields in its JSON (ToJson calls it): a connection count in each
// pod row and a "websocket" object.
void AddWebSocketJson(const LabReport& report, nlohmann::json& json);

// The report's WebSocket lines, after the common ones (PrintReport calls it).
void PrintWebSocketLines(const LabReport& report, std::ostream& out);

}  // namespace skewless::lab
