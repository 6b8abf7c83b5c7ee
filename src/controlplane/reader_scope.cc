// The reader scope policy.
#include "skewless/controlplane/reader_scope.h"

namespace skewless::controlplane {

xds::NamespaceScope ReaderScopeOf(const std::optional<PeerIdentity>& identity, ReaderScope policy,
                                  const std::set<std::string, std::less<>>& shared_namespaces) {
  if (policy == ReaderScope::kAll) return {};
  // The configuration refuses own-namespace without authentication; should a caller
  // still arrive unidentified, it is shown nothing rather than everything.
  if (!identity) return xds::NamespaceScope::Only({});
  if (identity->writer) return {};
  std::set<std::string, std::less<>> namespaces = shared_namespaces;
  const std::size_t slash = identity->service_account.find('/');
  if (slash != std::string::npos && slash > 0) {
    namespaces.insert(identity->service_account.substr(0, slash));
  }
  return xds::NamespaceScope::Only(std::move(namespaces));
}

}  // namespace skewless::controlplane
