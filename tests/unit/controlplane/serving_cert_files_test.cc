// The issued serving certificate as gRPC's file watcher sees it: the watcher reads the key
// path and then the certificate path, so at no instant during a renewal may those two
// reads return a key and a certificate that do not belong together (a mismatched pair
// fails every handshake until the watcher's next refresh).
#include "serving_cert_files.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "cert_authority.h"

namespace skewless::controlplane {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Whether the first private key in `key_pem` is the key of the first certificate in
// `cert_pem`, each parsed as the TLS stack parses them (skipping other PEM blocks).
bool KeyMatchesCertificate(const std::string& key_pem, const std::string& cert_pem) {
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  const bool match = key != nullptr && cert != nullptr && X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  return match;
}

class ServingCertFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<CertificateAuthority> ca =
        GenerateCertificateAuthority("skewless test CA", std::chrono::hours(1));
    ASSERT_TRUE(ca.ok()) << ca.status();
    absl::StatusOr<std::unique_ptr<ServingCertFiles>> files =
        ServingCertFiles::Start(*ca, {"skewless-controlplane"}, std::chrono::hours(1));
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }

  std::unique_ptr<ServingCertFiles> files_;
};

TEST_F(ServingCertFilesTest, TheFirstPairIsWrittenAndBelongsTogether) {
  EXPECT_TRUE(KeyMatchesCertificate(ReadFile(files_->key_file()), ReadFile(files_->cert_file())));
}

TEST_F(ServingCertFilesTest, AReaderDuringRenewalsNeverSeesANewKeyBesideAnOldCertificate) {
  std::atomic<bool> renewing{true};
  std::thread renewer([&] {
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(files_->Renew().ok());
    renewing = false;
  });
  int reads = 0;
  int mismatched = 0;
  while (renewing) {
    // In the watcher's order: the key, then the certificate.
    const std::string key = ReadFile(files_->key_file());
    const std::string cert = ReadFile(files_->cert_file());
    ++reads;
    if (!KeyMatchesCertificate(key, cert)) ++mismatched;
  }
  renewer.join();
  EXPECT_EQ(mismatched, 0) << "of " << reads << " reads during 200 renewals";
  EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace skewless::controlplane
