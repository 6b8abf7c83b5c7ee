// Numbers names in order of first sight and stores each once: compact per-endpoint
// records refer to zone and node names by index instead of copying them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace skewless {

class NameNumbering {
 public:
  explicit NameNumbering(std::vector<std::string>& names) : names_(names) {}
  // Looked up by view: `name` must outlive this numbering. A hash map, as a Service
  // behind a DaemonSet lists a node name per node.
  std::uint32_t IndexOf(const std::string& name) {
    auto [it, added] = index_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
    if (added) names_.push_back(name);
    return it->second;
  }

 private:
  std::vector<std::string>& names_;
  std::unordered_map<std::string_view, std::uint32_t> index_;
};

}  // namespace skewless
