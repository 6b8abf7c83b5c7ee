// Certificate generation and checks with OpenSSL's X509 API.
#include "cert_authority.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace skewless::controlplane {
namespace {

struct OpenSslFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(BIO* bio) const { BIO_free(bio); }
  void operator()(BIGNUM* number) const { BN_free(number); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;
using CertPtr = std::unique_ptr<X509, OpenSslFree>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslFree>;

// Issued certificates start this far in the past, so a peer whose clock is a little
// behind does not see them as not yet valid.
constexpr long kBackdateSeconds = 5 * 60;

std::string OpenSslError(const std::string& what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  char buffer[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, buffer, sizeof(buffer));
  return absl::StrCat(what, ": ", buffer);
}

std::string ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string ToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

CertPtr ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// 128 random bits, positive: RFC 5280 serials must be unique per CA, and replicas issue
// from the same CA without coordinating.
absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return absl::InternalError(OpenSslError("serial"));
  bytes[0] &= 0x7f;
  BignumPtr number(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!number || BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert)) == nullptr) {
    return absl::InternalError(OpenSslError("serial"));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) {
    return absl::InvalidArgumentError(OpenSslError(absl::StrCat("extension \"", value, "\"")));
  }
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return absl::InternalError(OpenSslError("add extension"));
  return absl::OkStatus();
}

// A certificate for `key` named `common_name`; `issuer` null = self-signed.
absl::StatusOr<CertPtr> NewCertificate(EVP_PKEY* key, const std::string& common_name, X509* issuer,
                                       std::chrono::seconds lifetime) {
  CertPtr cert(X509_new());
  if (!cert) return absl::InternalError(OpenSslError("X509_new"));
  X509_set_version(cert.get(), 2);  // v3: extensions
  if (absl::Status serial = SetRandomSerial(cert.get()); !serial.ok()) return serial;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(lifetime.count()));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  return cert;
}

}  // namespace

absl::StatusOr<CertificateAuthority> GenerateCertificateAuthority(const std::string& common_name,
                                                                  std::chrono::seconds lifetime) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError(OpenSslError("CA key generation"));
  absl::StatusOr<CertPtr> cert = NewCertificate(key.get(), common_name, nullptr, lifetime);
  if (!cert.ok()) return cert.status();
  X509* raw = cert->get();
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"}}) {
    if (absl::Status added = AddExtension(raw, raw, nid, value); !added.ok()) return added;
  }
  if (X509_sign(raw, key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("CA signature"));
  }
  return CertificateAuthority{ToPem(raw), ToPem(key.get())};
}

absl::Status CheckCertificateAuthority(const CertificateAuthority& ca, const std::string& what) {
  CertPtr cert = ParseCert(ca.cert_pem);
  if (!cert) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": ca.crt: ", OpenSslError("not a PEM certificate")));
  }
  KeyPtr key = ParseKey(ca.key_pem);
  if (!key) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": ca.key: ", OpenSslError("not a PEM private key")));
  }
  if (X509_check_ca(cert.get()) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": ca.crt is not a CA certificate (basicConstraints CA:TRUE)"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(what, ": ca.key is not the key of ca.crt"));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": ca.crt has expired"));
  }
  return absl::OkStatus();
}

absl::StatusOr<IssuedCertificate> IssueServingCertificate(const CertificateAuthority& ca,
                                                          const std::vector<std::string>& dns_names,
                                                          std::chrono::seconds lifetime,
                                                          const std::string& key_pem) {
  if (dns_names.empty()) return absl::InvalidArgumentError("a serving certificate needs a name");
  CertPtr ca_cert = ParseCert(ca.cert_pem);
  KeyPtr ca_key = ParseKey(ca.key_pem);
  if (!ca_cert || !ca_key) return absl::FailedPreconditionError(OpenSslError("CA PEM"));
  KeyPtr key = key_pem.empty() ? KeyPtr(EVP_EC_gen("P-256")) : ParseKey(key_pem);
  if (!key) {
    return absl::InternalError(
        OpenSslError(key_pem.empty() ? "key generation" : "serving key PEM"));
  }
  absl::StatusOr<CertPtr> cert =
      NewCertificate(key.get(), dns_names.front(), ca_cert.get(), lifetime);
  if (!cert.ok()) return cert.status();
  X509* raw = cert->get();
  std::vector<std::string> alt_names;
  for (const std::string& name : dns_names) alt_names.push_back(absl::StrCat("DNS:", name));
  for (const auto& [nid, value] :
       {std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
        std::pair{NID_key_usage, std::string("critical,digitalSignature")},
        std::pair{NID_ext_key_usage, std::string("serverAuth")},
        std::pair{NID_authority_key_identifier, std::string("keyid")},
        std::pair{NID_subject_alt_name, absl::StrJoin(alt_names, ",")}}) {
    if (absl::Status added = AddExtension(raw, ca_cert.get(), nid, value); !added.ok()) {
      return added;
    }
  }
  if (X509_sign(raw, ca_key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("certificate signature"));
  }
  return IssuedCertificate{ToPem(raw), ToPem(key.get()),
                           std::chrono::system_clock::now() + lifetime};
}

}  // namespace skewless::controlplane
