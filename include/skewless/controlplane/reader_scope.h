// Which Services an ADS caller is served, from who authentication found it to be: the
// policy of --reader-scope (docs/controlplane.md "Reader scope").
#pragma once

#include <optional>
#include <set>
#include <string>

#include "skewless/controlplane/peer_identity.h"
#include "skewless/controlplane/server_config.h"
#include "skewless/xds/namespace_scope.h"

namespace skewless::controlplane {

// kAll, and writers under any policy: everything. kOwnNamespace: a reader's own
// namespace and `shared_namespaces`; a caller without an identity, nothing.
xds::NamespaceScope ReaderScopeOf(const std::optional<PeerIdentity>& identity, ReaderScope policy,
                                  const std::set<std::string, std::less<>>& shared_namespaces);

}  // namespace skewless::controlplane
