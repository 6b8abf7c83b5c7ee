// Which Services' resources one ADS stream is served: every namespace's, or only those of
// a set of namespaces (readers limited to their own; docs/controlplane.md "Reader scope").
#pragma once

#include <compare>
#include <set>
#include <string>
#include <string_view>

namespace skewless::xds {

struct NamespaceScope {
  bool all = true;
  std::set<std::string, std::less<>> namespaces;  // when !all; empty = no Service at all

  static NamespaceScope Only(std::set<std::string, std::less<>> namespaces) {
    return NamespaceScope{false, std::move(namespaces)};
  }
  bool Contains(std::string_view namespace_name) const {
    return all || namespaces.contains(namespace_name);
  }

  friend auto operator<=>(const NamespaceScope&, const NamespaceScope&) = default;
};

// "all", or the namespaces joined by commas ("" for none), for logs.
std::string ScopeLabel(const NamespaceScope& scope);

}  // namespace skewless::xds
