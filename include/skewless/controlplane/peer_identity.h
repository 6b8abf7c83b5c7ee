// Who is on the other end of an ADS (or later LRS) call, as authentication left it in
// the call's AuthContext: write APIs check `writer` before accepting anything.
#pragma once

#include <optional>
#include <string>

#include "grpcpp/security/auth_context.h"

namespace skewless::controlplane {

inline constexpr char kServiceAccountProperty[] = "skewless.io/service-account";
inline constexpr char kWriterProperty[] = "skewless.io/writer";

struct PeerIdentity {
  std::string service_account;  // "namespace/name"
  bool writer = false;          // one of --writer-service-accounts
};

// Empty when the call was not authenticated (auth none).
inline std::optional<PeerIdentity> PeerIdentityOf(const grpc::AuthContext& context) {
  const auto accounts = context.FindPropertyValues(kServiceAccountProperty);
  if (accounts.empty()) return std::nullopt;
  const auto writer = context.FindPropertyValues(kWriterProperty);
  return PeerIdentity{std::string(accounts.front().data(), accounts.front().size()),
                      !writer.empty() && writer.front() == "true"};
}

}  // namespace skewless::controlplane
