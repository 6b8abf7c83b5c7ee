// The lab's pods as a file-source document, for demos and tests without a file.
#include "skewless/controlplane/file_source.h"

namespace skewless::controlplane {

// Mirrors the lab's defaults (include/skewless/lab/config.h): pods are numbered in zone
// order from 198.18.0.10, two per zone, and listen on the Service's port.
const std::string_view kLabDefaultDocument =
    R"yaml(# skewless lab: 6 pods in 3 zones behind default/echo.
nodes:
  - {name: node-a, zone: zone-a}
  - {name: node-b, zone: zone-b}
  - {name: node-c, zone: zone-c}
services:
  - namespace: default
    name: echo
    clusterIPs: [198.19.0.10]
    ports:
      - {name: grpc, port: 8080, targetPort: 8080, protocol: TCP, appProtocol: grpc}
endpointSlices:
  - namespace: default
    service: echo
    name: echo-lab
    endpoints:
      - {address: 198.18.0.10, nodeName: node-a, hostname: pod-0}
      - {address: 198.18.0.11, nodeName: node-a, hostname: pod-1}
      - {address: 198.18.0.12, nodeName: node-b, hostname: pod-2}
      - {address: 198.18.0.13, nodeName: node-b, hostname: pod-3}
      - {address: 198.18.0.14, nodeName: node-c, hostname: pod-4}
      - {address: 198.18.0.15, nodeName: node-c, hostname: pod-5}
)yaml";

}  // namespace skewless::controlplane
