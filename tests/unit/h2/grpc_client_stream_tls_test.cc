// The nghttp2 gRPC call over TLS against a gRPC C++ TLS server from the test PKI: server
// verification (CA, name, IP), ALPN, mTLS, and the bearer token read at every connect.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "raw_peer.h"
#include "skewless/h2/grpc_client_stream.h"
#include "test_pki.h"

namespace skewless::h2 {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kStreamMethod[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

// Answers every request with the call's authorization header as the nonce.
class AuthorizationEcho final : public AggregatedDiscoveryService::Service {
  grpc::Status StreamAggregatedResources(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) override {
    std::string authorization;
    const auto found = context->client_metadata().find("authorization");
    if (found != context->client_metadata().end()) {
      authorization.assign(found->second.data(), found->second.size());
    }
    DiscoveryRequest request;
    while (stream->Read(&request)) {
      DiscoveryResponse response;
      response.set_nonce(authorization);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }
};

class GrpcClientStreamTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("skewless-h2-tls-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    Write("ca.crt", pki_.ca_cert_pem);
    Write("server.crt", pki_.server_cert_pem);
    Write("server.key", pki_.server_key_pem);
    Write("client.crt", pki_.client_cert_pem);
    Write("client.key", pki_.client_key_pem);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    std::filesystem::remove_all(dir_);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  void StartServer(bool require_client_certificate = false) {
    grpc::SslServerCredentialsOptions options(
        require_client_certificate ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_root_certs = pki_.ca_cert_pem;
    options.pem_key_cert_pairs.push_back({pki_.server_key_pem, pki_.server_cert_pem});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  GrpcCallOptions Call() {
    return GrpcCallOptions{
        .target = "127.0.0.1:" + std::to_string(port_),
        .method = kStreamMethod,
        .connect_timeout = std::chrono::seconds(5),
        .tls = TlsClientOptions{.ca_file = (dir_ / "ca.crt").string()},
    };
  }

  // One request and its response on a new call: the nonce (the authorization the server
  // saw), or the error of the call.
  static absl::StatusOr<std::string> RoundTrip(GrpcCallOptions options) {
    GrpcClientStream stream(std::move(options));
    if (absl::Status started = stream.Start(); !started.ok()) return started;
    DiscoveryResponse response;
    if (!stream.Write(DiscoveryRequest()) || !stream.Read(&response)) {
      absl::Status finished = stream.Finish();
      return finished.ok() ? absl::InternalError("the call ended without a response") : finished;
    }
    stream.WritesDone();
    for (DiscoveryResponse more; stream.Read(&more);) {
    }
    if (absl::Status finished = stream.Finish(); !finished.ok()) return finished;
    return response.nonce();
  }

  std::filesystem::path dir_;
  testing::TestPki pki_;
  AuthorizationEcho service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(GrpcClientStreamTlsTest, ACallWorksWithTheServerVerifiedByItsIpAddress) {
  StartServer();
  absl::StatusOr<std::string> seen = RoundTrip(Call());
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, "");  // no token file, no authorization header
}

TEST_F(GrpcClientStreamTlsTest, AServerNameInTheCertificateIsAccepted) {
  StartServer();
  GrpcCallOptions call = Call();
  call.tls->server_name = "localhost";
  absl::StatusOr<std::string> seen = RoundTrip(call);
  EXPECT_TRUE(seen.ok()) << seen.status();
}

TEST_F(GrpcClientStreamTlsTest, AServerNameNotInTheCertificateIsRefusedNamingIt) {
  StartServer();
  GrpcCallOptions call = Call();
  call.tls->server_name = "skewless-controlplane.skewless-system.svc";
  absl::StatusOr<std::string> seen = RoundTrip(call);
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(),
              AllOf(HasSubstr(call.target), HasSubstr("certificate verify failed"),
                    HasSubstr("hostname mismatch"),
                    HasSubstr("skewless-controlplane.skewless-system.svc")));
}

TEST_F(GrpcClientStreamTlsTest, AServerSignedByAnotherCaIsRefused) {
  StartServer();
  absl::StatusOr<testing::TestPki> other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());
  GrpcCallOptions call = Call();
  call.tls->ca_file = Write("other-ca.crt", other->ca_cert_pem);
  absl::StatusOr<std::string> seen = RoundTrip(call);
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(),
              AllOf(HasSubstr(call.target), HasSubstr("certificate verify failed")));
}

TEST_F(GrpcClientStreamTlsTest, AMissingCaFileIsNamed) {
  GrpcCallOptions call = Call();
  call.tls->ca_file = (dir_ / "nowhere.crt").string();
  StartServer();
  call.target = "127.0.0.1:" + std::to_string(port_);
  absl::StatusOr<std::string> seen = RoundTrip(call);
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(),
              AllOf(HasSubstr("CA file"), HasSubstr("nowhere.crt"), HasSubstr("cannot read")));
}

TEST_F(GrpcClientStreamTlsTest, AServerThatRequiresAClientCertificateAdmitsOnlyWithOne) {
  StartServer(/*require_client_certificate=*/true);
  EXPECT_FALSE(RoundTrip(Call()).ok());
  GrpcCallOptions call = Call();
  call.tls->client_cert_file = (dir_ / "client.crt").string();
  call.tls->client_key_file = (dir_ / "client.key").string();
  absl::StatusOr<std::string> seen = RoundTrip(call);
  EXPECT_TRUE(seen.ok()) << seen.status();
}

TEST_F(GrpcClientStreamTlsTest, TheTokenFileIsSentAsABearerAndReadAgainAtEachConnect) {
  StartServer();
  GrpcCallOptions call = Call();
  call.bearer_token_file = Write("token", "first-token\n");
  absl::StatusOr<std::string> seen = RoundTrip(call);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, "Bearer first-token");
  // kubelet rotates the projected token by replacing the file.
  Write("token", "second-token");
  seen = RoundTrip(call);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, "Bearer second-token");
}

TEST_F(GrpcClientStreamTlsTest, AnUnreadableOrEmptyTokenFileFailsTheStartNamingTheFile) {
  StartServer();
  GrpcCallOptions call = Call();
  call.bearer_token_file = (dir_ / "no-token").string();
  absl::StatusOr<std::string> seen = RoundTrip(call);
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(), AllOf(HasSubstr("bearer token file"), HasSubstr("no-token"),
                                             HasSubstr("cannot read")));
  call.bearer_token_file = Write("empty-token", " \n");
  seen = RoundTrip(call);
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(), AllOf(HasSubstr("empty-token"), HasSubstr("is empty")));
}

TEST_F(GrpcClientStreamTlsTest, ATlsServerThatDoesNotSelectH2IsRefused) {
  // A plain OpenSSL server: the handshake completes, but it offers no ALPN.
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  ASSERT_EQ(SSL_CTX_use_certificate_file(context, (dir_ / "server.crt").c_str(), SSL_FILETYPE_PEM),
            1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(context, (dir_ / "server.key").c_str(), SSL_FILETYPE_PEM),
            1);
  absl::StatusOr<std::string> seen;
  {
    RawPeer https([context](int fd) {
      // The client hangs up on it: its writes must not raise SIGPIPE in the test.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      SSL* ssl = SSL_new(context);
      SSL_set_num_tickets(ssl, 0);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        char byte = 0;
        SSL_read(ssl, &byte, 1);  // until the client gives up
      }
      SSL_free(ssl);
    });
    GrpcCallOptions call = Call();
    call.target = https.target();
    seen = RoundTrip(call);
  }
  SSL_CTX_free(context);
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(), HasSubstr("server did not negotiate h2"));
}

TEST_F(GrpcClientStreamTlsTest, ASilentPeerTimesOutTheHandshakeAndCancelEndsItAtOnce) {
  std::atomic<bool> done{false};
  RawPeer silent([&](int) {
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  GrpcCallOptions call = Call();
  call.target = silent.target();
  call.connect_timeout = std::chrono::milliseconds(200);
  GrpcClientStream timed_out(call);
  EXPECT_THAT(timed_out.Start().message(),
              AllOf(HasSubstr("TLS handshake with " + call.target), HasSubstr("timed out")));
  done = true;

  RawPeer silent_too([&](int) {
    while (done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  call.target = silent_too.target();
  call.connect_timeout = std::chrono::seconds(30);
  GrpcClientStream cancelled(call);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancelled.Cancel();
  });
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(cancelled.Start().ok());
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsCancelled(cancelled.Finish()));
  done = false;
}

}  // namespace
}  // namespace skewless::h2
