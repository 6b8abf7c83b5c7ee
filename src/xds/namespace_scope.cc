// The scope's log label.
#include "skewless/xds/namespace_scope.h"

#include "absl/strings/str_join.h"

namespace skewless::xds {

std::string ScopeLabel(const NamespaceScope& scope) {
  return scope.all ? "all" : absl::StrJoin(scope.namespaces, ",");
}

}  // namespace skewless::xds
