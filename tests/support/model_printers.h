// gtest printers for the control-plane model, so that a failed expectation shows fields
// instead of object bytes.
#pragma once

#include <ostream>

#include "skewless/controlplane/model.h"

namespace skewless::controlplane {

inline void PrintTo(const ServicePort& p, std::ostream* os) {
  *os << "{" << p.name << " " << p.port << "->" << p.target_port << "/" << ProtocolName(p.protocol)
      << (p.app_protocol.empty() ? "" : " " + p.app_protocol) << "}";
}

inline void PrintTo(const EndpointConditions& c, std::ostream* os) {
  *os << "{ready=" << c.ready << " serving=" << c.serving << " terminating=" << c.terminating
      << "}";
}

inline void PrintTo(const Endpoint& e, std::ostream* os) {
  *os << "{";
  for (const std::string& address : e.addresses) *os << address << " ";
  *os << "zone=" << e.zone << " node=" << e.node_name << " hostname=" << e.hostname
      << " target_ref=" << e.target_ref << " ";
  PrintTo(e.conditions, os);
  *os << " weight=" << e.weight << "}";
}

inline void PrintTo(const PortEndpoint& e, std::ostream* os) {
  *os << e.port << ":";
  PrintTo(e.endpoint, os);
}

inline void PrintTo(const EndpointSlicePort& p, std::ostream* os) {
  *os << "{" << p.name << " " << p.port << "/" << ProtocolName(p.protocol) << "}";
}

inline void PrintTo(const Node& n, std::ostream* os) {
  *os << "{" << n.name << " " << n.zone << "}";
}

}  // namespace skewless::controlplane
