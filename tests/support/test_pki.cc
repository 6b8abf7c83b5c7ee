// Builds the test CA and its leaf certificates with OpenSSL's X509 API.
#include "test_pki.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <utility>
#include <vector>

namespace skewless::testing {
namespace {

struct Deleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(BIO* bio) const { BIO_free(bio); }
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter>;
using CertPtr = std::unique_ptr<X509, Deleter>;
using BioPtr = std::unique_ptr<BIO, Deleter>;

// `issuer` null: self-signed (the CA).
CertPtr NewCertificate(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                       const std::vector<std::pair<int, const char*>>& extensions) {
  static long serial = 1;
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3: extensions
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr,
                 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (extension == nullptr) return nullptr;
    X509_add_ext(cert.get(), extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

std::string ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string ToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki() {
  KeyPtr ca_key(EVP_EC_gen("P-256"));
  KeyPtr server_key(EVP_EC_gen("P-256"));
  KeyPtr client_key(EVP_EC_gen("P-256"));
  if (!ca_key || !server_key || !client_key) return absl::InternalError("EC key generation failed");
  CertPtr ca = NewCertificate(ca_key.get(), "skewless-test-ca", nullptr, ca_key.get(),
                              {{NID_basic_constraints, "critical,CA:TRUE"},
                               {NID_key_usage, "critical,keyCertSign,cRLSign"},
                               {NID_subject_key_identifier, "hash"}});
  if (!ca) return absl::InternalError("CA certificate failed");
  CertPtr server = NewCertificate(server_key.get(), "kube-apiserver", ca.get(), ca_key.get(),
                                  {{NID_basic_constraints, "CA:FALSE"},
                                   {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                                   {NID_ext_key_usage, "serverAuth"}});
  CertPtr client =
      NewCertificate(client_key.get(), "skewless-test-client", ca.get(), ca_key.get(),
                     {{NID_basic_constraints, "CA:FALSE"}, {NID_ext_key_usage, "clientAuth"}});
  if (!server || !client) return absl::InternalError("leaf certificate failed");
  return TestPki{ToPem(ca.get()),         ToPem(ca_key.get()), ToPem(server.get()),
                 ToPem(server_key.get()), ToPem(client.get()), ToPem(client_key.get())};
}

absl::StatusOr<TestLeaf> IssueTestLeaf(const TestPki& pki, const std::string& common_name,
                                       const std::string& subject_alt_names,
                                       const std::string& usage) {
  BioPtr ca_bio(BIO_new_mem_buf(pki.ca_cert_pem.data(), static_cast<int>(pki.ca_cert_pem.size())));
  CertPtr ca(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  BioPtr key_bio(BIO_new_mem_buf(pki.ca_key_pem.data(), static_cast<int>(pki.ca_key_pem.size())));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!ca || !ca_key || !key) return absl::InternalError("test CA or key unusable");
  std::vector<std::pair<int, const char*>> extensions = {{NID_basic_constraints, "CA:FALSE"},
                                                         {NID_ext_key_usage, usage.c_str()}};
  if (!subject_alt_names.empty()) {
    extensions.push_back({NID_subject_alt_name, subject_alt_names.c_str()});
  }
  CertPtr cert = NewCertificate(key.get(), common_name.c_str(), ca.get(), ca_key.get(), extensions);
  if (!cert) return absl::InternalError("leaf certificate failed");
  return TestLeaf{ToPem(cert.get()), ToPem(key.get())};
}

absl::StatusOr<ServedCertificate> FetchServedCertificate(int port, const std::string& host_name,
                                                         const std::string& trusted_ca_pem) {
  std::unique_ptr<SSL_CTX, Deleter> context(SSL_CTX_new(TLS_client_method()));
  BioPtr ca_bio(BIO_new_mem_buf(trusted_ca_pem.data(), static_cast<int>(trusted_ca_pem.size())));
  while (CertPtr ca{PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr)}) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(context.get()), ca.get());
  }
  ERR_clear_error();
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return absl::UnavailableError("connect to 127.0.0.1 failed");
  }
  std::unique_ptr<SSL, Deleter> ssl(SSL_new(context.get()));
  SSL_set_fd(ssl.get(), fd);
  // gRPC servers refuse a handshake that does not offer h2.
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof(kAlpn));
  SSL_set_tlsext_host_name(ssl.get(), host_name.c_str());
  X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl.get()), host_name.c_str(), 0);
  const int connected = SSL_connect(ssl.get());
  absl::StatusOr<ServedCertificate> result;
  if (connected != 1) {
    const long verify = SSL_get_verify_result(ssl.get());
    char error[256] = "";
    ERR_error_string_n(ERR_get_error(), error, sizeof(error));
    result = absl::UnavailableError(std::string("TLS handshake failed: ") + error +
                                    "; verify: " + X509_verify_cert_error_string(verify));
  } else {
    CertPtr peer(SSL_get1_peer_certificate(ssl.get()));
    ServedCertificate served;
    char name[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer.get()), NID_commonName, name,
                              sizeof(name));
    served.common_name = name;
    BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer.get()), nullptr);
    char* hex = BN_bn2hex(serial);
    served.serial_hex = hex;
    OPENSSL_free(hex);
    BN_free(serial);
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(peer.get(), NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, i);
      if (entry->type != GEN_DNS) continue;
      served.dns_names.emplace_back(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(entry->d.dNSName)),
          static_cast<size_t>(ASN1_STRING_length(entry->d.dNSName)));
    }
    GENERAL_NAMES_free(names);
    result = served;
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return result;
}

}  // namespace skewless::testing
