// SPIFFE IDs from client certificates, with OpenSSL's X509 API.
#include "spiffe_id.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace skewless::controlplane {

std::vector<std::string> UriSubjectAltNames(std::string_view pem) {
  std::vector<std::string> uris;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return uris;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<std::size_t>(ASN1_STRING_length(uri)));
  }
  GENERAL_NAMES_free(names);
  return uris;
}

absl::StatusOr<std::string> ServiceAccountOfSpiffeId(std::string_view uri) {
  constexpr std::string_view kScheme = "spiffe://";
  const auto malformed = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("URI SAN \"", std::string(uri),
                     "\" is not spiffe://<trust-domain>/ns/<namespace>/sa/<name>"));
  };
  if (!uri.starts_with(kScheme)) return malformed();
  const std::vector<std::string> parts =
      absl::StrSplit(std::string(uri.substr(kScheme.size())), '/');
  // trust-domain, "ns", namespace, "sa", name; no query, fragment or empty segment.
  if (parts.size() != 5 || parts[0].empty() || parts[1] != "ns" || parts[2].empty() ||
      parts[3] != "sa" || parts[4].empty() || uri.find_first_of("?#") != std::string_view::npos) {
    return malformed();
  }
  return absl::StrCat(parts[2], "/", parts[4]);
}

}  // namespace skewless::controlplane
