// Proxyless gRPC C++ 1.51 (Debian's) against a TLS control plane, on loopback, no root:
// its xDS client knows no "tls" channel_creds, but "google_default" with
// GRPC_DEFAULT_SSL_ROOTS_FILE_PATH at our CA bundle verifies our certificate and gets its
// configuration; google_default also needs application default credentials to exist
// (a throwaway service-account key is enough: it only signs a JWT nobody checks). Asked to
// by its Cluster's lrs_server, the same client reports its load back over LRS.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "skewless/lab/subprocess.h"
#include "test_pki.h"

namespace skewless {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kTarget[] = "xds:///echo.default.svc.cluster.local:8080";

// A PEM RSA key for the application default credentials file (gRPC signs JWTs with RS256).
std::string NewRsaKeyPem() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (key != nullptr && bio != nullptr &&
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<std::size_t>(size));
  }
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

class XdsTlsInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("xds-tls-interop-", getpid());
    std::filesystem::create_directories(dir_);
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    Write("ca.crt", pki->ca_cert_pem);
    Write("tls.crt", pki->server_cert_pem);
    Write("tls.key", pki->server_key_pem);
    absl::StatusOr<testing::TestPki> other = testing::MakeTestPki();
    ASSERT_TRUE(other.ok()) << other.status();
    Write("other-ca.crt", other->ca_cert_pem);
    const std::string key = NewRsaKeyPem();
    ASSERT_FALSE(key.empty());
    Write("adc.json", nlohmann::json{{"type", "service_account"},
                                     {"project_id", "none"},
                                     {"private_key_id", "0"},
                                     {"private_key", key},
                                     {"client_email", "nobody@none.iam.gserviceaccount.com"},
                                     {"client_id", "0"}}
                          .dump());

    pod_ = Spawn({SKEWLESS_BIN_DIR "/skewless-pod-server", "--name", "pod-a", "--zone", "zone-a",
                  "--listen", "127.0.0.1:0"},
                 "pod");
    absl::StatusOr<std::string> ready = pod_->ReadLine(milliseconds(10000));
    ASSERT_TRUE(ready.ok() && ready->starts_with("READY ")) << pod_->LogTail();
    const std::string pod_port = ready->substr(ready->rfind(':') + 1);
    Write("services.yaml",
          absl::StrCat("services:\n  - {namespace: default, name: echo, clusterIPs: [10.96.0.10], "
                       "ports: [{name: grpc, port: 8080, targetPort: ",
                       pod_port,
                       "}]}\nendpointSlices:\n  - {namespace: default, service: echo, "
                       "endpoints: [{address: 127.0.0.1, hostname: pod-a}]}\n"));

    std::vector<std::string> argv = {SKEWLESS_BIN_DIR "/skewless-controlplane",
                                     "--file",
                                     Path("services.yaml"),
                                     "--tls-cert-file",
                                     Path("tls.crt"),
                                     "--tls-key-file",
                                     Path("tls.key"),
                                     "--xds-listen",
                                     "127.0.0.1:0",
                                     "--http-listen",
                                     "127.0.0.1:0"};
    for (const std::string& flag : ExtraControlPlaneFlags()) argv.push_back(flag);
    control_plane_ = Spawn(std::move(argv), "controlplane");
    const auto deadline = Clock::now() + milliseconds(10000);
    for (;;) {
      const std::string log = control_plane_->LogTail();
      const std::size_t at = log.find("xds=");
      if (at != std::string::npos && log.find("snapshot applied") != std::string::npos) {
        xds_address_ = log.substr(at + 4, log.find(' ', at) - at - 4);
        const std::size_t http = log.find("http=");
        http_port_ = std::stoi(log.substr(log.find(':', http) + 1));
        break;
      }
      ASSERT_LT(Clock::now(), deadline) << "control plane did not start:\n" << log;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  void TearDown() override {
    client_.reset();
    control_plane_.reset();
    pod_.reset();
    std::filesystem::remove_all(dir_);
  }

  virtual std::vector<std::string> ExtraControlPlaneFlags() const { return {}; }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  std::optional<lab::Child> Spawn(std::vector<std::string> argv, const std::string& name) {
    absl::StatusOr<lab::Child> child =
        lab::Child::Spawn({.argv = std::move(argv), .log_path = Path(name + ".log")});
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return std::nullopt;
    return *std::move(child);
  }

  // The example bootstrap (deploy/examples/grpc-xds-bootstrap-tls.json), pointed here.
  void StartClient(const std::string& roots_file) {
    std::ifstream example(SKEWLESS_SOURCE_DIR "/deploy/examples/grpc-xds-bootstrap-tls.json");
    nlohmann::json bootstrap = nlohmann::json::parse(example, nullptr, false);
    ASSERT_TRUE(bootstrap.is_object()) << "the example bootstrap is not JSON";
    bootstrap["xds_servers"][0]["server_uri"] = xds_address_;
    bootstrap["node"] = {{"id", "tls-interop"}, {"locality", {{"zone", "zone-a"}}}};
    Write("bootstrap.json", bootstrap.dump());
    client_ = Spawn({"/usr/bin/env", "GOOGLE_APPLICATION_CREDENTIALS=" + Path("adc.json"),
                     "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=" + roots_file,
                     SKEWLESS_BIN_DIR "/xds_echo_client", "--target", kTarget, "--bootstrap",
                     Path("bootstrap.json"), "--interval-ms", "200", "--concurrency", "1"},
                    "client");
  }

  // Calls that reached pod-a within `limit`, reading the client's interval lines.
  std::uint64_t CallsToPodWithin(milliseconds limit) {
    std::uint64_t calls = 0;
    const auto deadline = Clock::now() + limit;
    while (calls == 0 && Clock::now() < deadline) {
      absl::StatusOr<std::string> line = client_->ReadLine(milliseconds(2000));
      if (!line.ok()) break;
      const nlohmann::json counts = nlohmann::json::parse(*line, nullptr, false);
      if (counts.is_object()) calls += counts["pods"].value("pod-a", std::uint64_t{0});
    }
    return calls;
  }

  std::filesystem::path dir_;
  std::string xds_address_;
  int http_port_ = 0;
  std::optional<lab::Child> pod_, control_plane_, client_;
};

TEST_F(XdsTlsInterop, GoogleDefaultCredentialsWithOurCaBundleReachATlsControlPlane) {
  ASSERT_NO_FATAL_FAILURE(StartClient(Path("ca.crt")));
  EXPECT_GT(CallsToPodWithin(milliseconds(8000)), 0u)
      << "client: " << client_->LogTail() << "\ncontrol plane: " << control_plane_->LogTail();
  EXPECT_THAT(control_plane_->LogTail(), ::testing::HasSubstr("audience=grpc"));
}

TEST_F(XdsTlsInterop, AClientTrustingAnotherCaIsNotServed) {
  ASSERT_NO_FATAL_FAILURE(StartClient(Path("other-ca.crt")));
  EXPECT_EQ(CallsToPodWithin(milliseconds(1500)), 0u);
  EXPECT_THAT(client_->LogTail(), ::testing::HasSubstr("Handshake failed"));
  EXPECT_THAT(control_plane_->LogTail(), ::testing::Not(::testing::HasSubstr("stream opened")));
}

// The control plane asks gRPC clients for load reports, every second.
class XdsTlsLoadReports : public XdsTlsInterop {
 protected:
  std::vector<std::string> ExtraControlPlaneFlags() const override {
    return {"--lrs-grpc-clients", "--lrs-interval", "1"};
  }

  // One sample of the control plane's /metrics ("name value"), or "" when absent.
  std::string Sample(const std::string& series) const {
    httplib::Client client("127.0.0.1", http_port_);
    auto page = client.Get("/metrics");
    if (!page) return "";
    const std::string& body = page->body;
    const std::size_t at = body.find("\n" + series + " ");
    return at == std::string::npos ? "" : body.substr(at + 1, body.find('\n', at + 1) - at - 1);
  }
};

TEST_F(XdsTlsLoadReports, AProxylessGrpcClientsLoadReportsArriveAndAreCounted) {
  ASSERT_NO_FATAL_FAILURE(StartClient(Path("ca.crt")));
  ASSERT_GT(CallsToPodWithin(milliseconds(8000)), 0u) << "client: " << client_->LogTail();
  // gRPC reports per locality (calls issued, in progress), never per endpoint: its
  // reports arrive and are counted, and attribute nothing to a pod.
  const std::string locality_only = "skewless_controlplane_lrs_locality_only_total";
  const auto deadline = Clock::now() + milliseconds(10000);
  std::string sample = Sample(locality_only);
  while (sample == locality_only + " 0" && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    sample = Sample(locality_only);
  }
  EXPECT_THAT(sample, ::testing::MatchesRegex(locality_only + " [1-9][0-9]*"))
      << "control plane: " << control_plane_->LogTail();
  EXPECT_THAT(Sample("skewless_controlplane_lrs_reports_total"),
              ::testing::MatchesRegex(".* [1-9][0-9]*"));
  const std::string unknown =
      "skewless_controlplane_lrs_dropped_endpoints_total{reason=\"unknown_cluster\"}";
  EXPECT_EQ(Sample(unknown), unknown + " 0");
}

}  // namespace
}  // namespace skewless
