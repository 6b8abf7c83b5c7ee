// The CA Secret and the CA bundle ConfigMap over the Kubernetes API client.
#include "ca_secret.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "kube_client.h"

namespace skewless::controlplane {
namespace {

using nlohmann::json;

constexpr std::chrono::milliseconds kRequestTimeout{10000};
// The CA outlives every serving certificate by far; replacing it means every client's
// bundle must change first, a deliberate operator action (docs/controlplane.md).
constexpr std::chrono::seconds kCaLifetime{std::chrono::hours(24 * 365 * 10)};
constexpr char kCaCommonName[] = "skewless-controlplane-ca";
const json kLabels = {{"app.kubernetes.io/name", "skewless-controlplane"},
                      {"app.kubernetes.io/part-of", "skewless"}};

std::string ObjectPath(const std::string& kind, const ObjectName& object, bool with_name) {
  std::string path = absl::StrCat("/api/v1/namespaces/", object.namespace_name, "/", kind);
  if (with_name) absl::StrAppend(&path, "/", object.name);
  return path;
}

std::string Describe(const std::string& kind, const ObjectName& object) {
  return absl::StrCat(kind, " ", object.namespace_name, "/", object.name);
}

absl::StatusOr<json> ParseBody(const kube::HttpResponse& response, const std::string& what) {
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_object()) return absl::InternalError(absl::StrCat(what, ": the answer is not JSON"));
  return body;
}

// A Secret's CA, decoded from base64 and checked.
absl::StatusOr<CertificateAuthority> CaFromSecret(const json& secret, const std::string& what) {
  const json data = secret.value("data", json::object());
  CertificateAuthority ca;
  for (const auto& [key, out] : {std::pair{"ca.crt", &ca.cert_pem}, {"ca.key", &ca.key_pem}}) {
    if (!data.is_object() || !data.contains(key) || !data[key].is_string() ||
        !absl::Base64Unescape(data[key].get<std::string>(), out)) {
      return absl::FailedPreconditionError(absl::StrCat(what, ": no base64 data key ", key));
    }
  }
  if (absl::Status valid = CheckCertificateAuthority(ca, what); !valid.ok()) return valid;
  return ca;
}

// GET of one object: the body, or nullopt on 404.
absl::StatusOr<std::optional<json>> GetObject(const kube::KubeClient& client,
                                              const std::string& kind, const ObjectName& object) {
  kube::RequestCanceller canceller;
  const std::string path = ObjectPath(kind, object, true);
  absl::StatusOr<kube::HttpResponse> response = client.Get(path, kRequestTimeout, canceller);
  if (!response.ok()) return response.status();
  if (response->status == 404) return std::nullopt;
  const std::string what =
      absl::StrCat("get ", Describe(kind == "secrets" ? "Secret" : "ConfigMap", object));
  if (response->status != 200) return kube::StatusFromResponse(what, *response);
  absl::StatusOr<json> body = ParseBody(*response, what);
  if (!body.ok()) return body.status();
  return std::optional<json>(*std::move(body));
}

}  // namespace

absl::StatusOr<ObjectName> ParseObjectName(const std::string& text, const std::string& what) {
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": \"", text, "\" is not namespace/name"));
  }
  return ObjectName{text.substr(0, slash), text.substr(slash + 1)};
}

absl::StatusOr<CertificateAuthority> LoadOrCreateCaSecret(const kube::KubeClient& client,
                                                          const ObjectName& secret) {
  const std::string what = Describe("Secret", secret);
  absl::StatusOr<std::optional<json>> existing = GetObject(client, "secrets", secret);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return CaFromSecret(**existing, what);

  absl::StatusOr<CertificateAuthority> ca =
      GenerateCertificateAuthority(kCaCommonName, kCaLifetime);
  if (!ca.ok()) return ca.status();
  const json body = {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata",
       {{"name", secret.name}, {"namespace", secret.namespace_name}, {"labels", kLabels}}},
      {"type", "Opaque"},
      {"data",
       {{"ca.crt", absl::Base64Escape(ca->cert_pem)},
        {"ca.key", absl::Base64Escape(ca->key_pem)}}}};
  kube::RequestCanceller canceller;
  absl::StatusOr<kube::HttpResponse> created =
      client.Post(ObjectPath("secrets", secret, false), body.dump(), kRequestTimeout, canceller);
  if (!created.ok()) return created.status();
  if (created->status == 201 || created->status == 200) return ca;
  if (created->status != 409) {
    return kube::StatusFromResponse(absl::StrCat("create ", what), *created);
  }
  // Another replica created it between our read and our create: use theirs.
  absl::StatusOr<std::optional<json>> winner = GetObject(client, "secrets", secret);
  if (!winner.ok()) return winner.status();
  if (!winner->has_value()) {
    return absl::UnavailableError(
        absl::StrCat(what, ": create answered 409 AlreadyExists, yet a read finds nothing"));
  }
  return CaFromSecret(**winner, what);
}

absl::Status PublishCaBundle(const kube::KubeClient& client, const ObjectName& config_map,
                             const std::string& ca_cert_pem) {
  const std::string what = Describe("ConfigMap", config_map);
  absl::StatusOr<std::optional<json>> existing = GetObject(client, "configmaps", config_map);
  if (!existing.ok()) return existing.status();
  kube::RequestCanceller canceller;
  absl::StatusOr<kube::HttpResponse> written;
  if (!existing->has_value()) {
    const json body = {{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata",
                        {{"name", config_map.name},
                         {"namespace", config_map.namespace_name},
                         {"labels", kLabels}}},
                       {"data", {{"ca.crt", ca_cert_pem}}}};
    written = client.Post(ObjectPath("configmaps", config_map, false), body.dump(), kRequestTimeout,
                          canceller);
  } else {
    json body = **existing;
    const json data = body.value("data", json::object());
    if (data.is_object() && data.value("ca.crt", "") == ca_cert_pem) return absl::OkStatus();
    // PUT with the resourceVersion just read: a concurrent writer makes this a 409, not
    // a lost update.
    body["data"]["ca.crt"] = ca_cert_pem;
    written = client.Put(ObjectPath("configmaps", config_map, true), body.dump(), kRequestTimeout,
                         canceller);
  }
  if (!written.ok()) return written.status();
  // 409: another replica wrote it at the same moment; it publishes the same CA.
  if (written->status == 200 || written->status == 201 || written->status == 409) {
    return absl::OkStatus();
  }
  return kube::StatusFromResponse(absl::StrCat(existing->has_value() ? "update " : "create ", what),
                                  *written);
}

}  // namespace skewless::controlplane
