// The fixture the TLS, token and mTLS suites share: a private directory, the test PKI,
// and a control plane serving ADS over TLS from its server certificate on loopback.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "ads_probe.h"
#include "fake_apiserver.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "test_pki.h"

namespace skewless::controlplane {

class TlsControlPlaneTest : public ::testing::Test {
 protected:
  // Call from SetUp through ASSERT_NO_FATAL_FAILURE; `suite` names the directory.
  void SetUpTls(const std::string& suite) {
    dir_ = std::filesystem::temp_directory_path() /
           ("skewless-cp-" + suite + "-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    std::ofstream(dir_ / "tls.crt") << pki_.server_cert_pem;
    std::ofstream(dir_ / "tls.key") << pki_.server_key_pem;
    config_.xds_listen = "127.0.0.1:0";
    config_.http_listen = "127.0.0.1:0";
    config_.shutdown_grace = std::chrono::milliseconds(200);
    config_.tls_cert_file = (dir_ / "tls.crt").string();
    config_.tls_key_file = (dir_ / "tls.key").string();
  }

  void TearDown() override {
    server_.reset();
    api_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    auto server = ControlPlaneServer::Start(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string Metrics() { return testing::MetricsPage(server_->http_port()); }

  std::filesystem::path dir_;
  testing::TestPki pki_;
  std::unique_ptr<testing::FakeApiServer> api_;  // for the suites that need the API
  ServerConfig config_;
  std::unique_ptr<ControlPlaneServer> server_;
};

}  // namespace skewless::controlplane
