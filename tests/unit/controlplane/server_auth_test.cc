// ADS authentication by bound ServiceAccount tokens, against the fake API server's
// TokenReview: who is refused (counted, logged) and who is admitted, the verdict cache,
// the bound on reviews in flight, the policy itself case by case, and which Services an
// admitted reader is served (reader scope).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "fake_apiserver.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/peer_identity.h"
#include "skewless/controlplane/reader_scope.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "test_pki.h"
#include "tls_control_plane_test.h"
#include "token_auth.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kClusterType[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kAudience[] = "skewless-controlplane";
// The control plane's own credential towards the API server.
constexpr char kControlPlaneToken[] = "controlplane-sa-token";

class TokenAuthServerTest : public TlsControlPlaneTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpTls("auth"));

    auto api = testing::FakeApiServer::Start();
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    api_->SetRequiredToken(kControlPlaneToken);
    api_->AddToken("agent-token",
                   {"system:serviceaccount:skewless-system:skewless-agent", {kAudience}});
    api_->AddToken("reader-token", {"system:serviceaccount:shop:frontend", {kAudience}});
    api_->AddToken("other-ns-token", {"system:serviceaccount:billing:worker", {kAudience}});
    api_->AddToken("api-audience-token", {"system:serviceaccount:shop:frontend",
                                          {"https://kubernetes.default.svc.cluster.local"}});
    api_->AddToken("user-token", {"alice@example.com", {kAudience}});
    std::ofstream(dir_ / "kubeconfig") << api_->Kubeconfig(kControlPlaneToken);

    config_.auth.token_review = true;
    config_.kubeconfig = (dir_ / "kubeconfig").string();
    config_.writer_service_accounts = {"skewless-system/skewless-agent"};
    config_.reader_namespaces = {"shop"};
  }
  // One CDS request on a new stream carrying `token` (none when empty): OK with the
  // response, or the status the stream ended with.
  grpc::Status FetchClusters(const std::string& token,
                             envoy::service::discovery::v3::DiscoveryResponse* response = nullptr) {
    return testing::FetchClusters(server_->xds_port(), {.ca_pem = pki_.ca_cert_pem, .token = token},
                                  response);
  }
};

TEST_F(TokenAuthServerTest, AReaderNamespacesTokenIsAdmittedAndReviewedForTheAudience) {
  StartServer();
  envoy::service::discovery::v3::DiscoveryResponse response;
  grpc::Status status = FetchClusters("reader-token", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.resources_size(), 0);
  const std::vector<testing::RecordedTokenReview> reviews = api_->TokenReviews();
  ASSERT_EQ(reviews.size(), 1u);
  EXPECT_EQ(reviews[0].token, "reader-token");
  EXPECT_THAT(reviews[0].requested_audiences, ::testing::ElementsAre(kAudience));
  EXPECT_EQ(reviews[0].authorization, std::string("Bearer ") + kControlPlaneToken);
}

TEST_F(TokenAuthServerTest, AWriterOutsideTheReaderNamespacesIsAdmitted) {
  StartServer();
  grpc::Status status = FetchClusters("agent-token");
  EXPECT_TRUE(status.ok()) << status.error_message();
}

struct RefusalCase {
  std::string name;
  std::string token;
  grpc::StatusCode code;
  std::string reason;
};

TEST_F(TokenAuthServerTest, EachRefusalIsRefusedWithItsCodeLoggedAndCounted) {
  StartServer();
  const std::vector<RefusalCase> cases = {
      {"no token", "", grpc::StatusCode::UNAUTHENTICATED, "no_token"},
      {"unknown token", "forged-token", grpc::StatusCode::UNAUTHENTICATED, "invalid_token"},
      {"token for the API server", "api-audience-token", grpc::StatusCode::UNAUTHENTICATED,
       "wrong_audience"},
      {"another namespace's account", "other-ns-token", grpc::StatusCode::PERMISSION_DENIED,
       "not_allowed"},
  };
  for (const RefusalCase& c : cases) {
    SCOPED_TRACE(c.name);
    ::testing::internal::CaptureStderr();
    grpc::Status status = FetchClusters(c.token);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.reason));
    EXPECT_THAT(log, HasSubstr("ADS call refused"));
    EXPECT_THAT(log, HasSubstr("reason=" + c.reason));
    EXPECT_THAT(Metrics(), HasSubstr("skewless_controlplane_auth_refusals_total{reason=\"" +
                                     c.reason + "\"} 1"));
  }
  // A refused token never reaches the API server's logs through ours.
  EXPECT_THAT(Metrics(), Not(HasSubstr("forged-token")));
}

TEST_F(TokenAuthServerTest, AUserThatIsNotAServiceAccountIsNotAllowed) {
  StartServer();
  grpc::Status status = FetchClusters("user-token");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("is not a ServiceAccount"));
}

TEST_F(TokenAuthServerTest, VerdictsAreCachedForTheirTtl) {
  config_.token_cache.admitted_ttl = std::chrono::milliseconds(800);
  config_.token_cache.refused_ttl = std::chrono::milliseconds(800);
  StartServer();
  ASSERT_TRUE(FetchClusters("reader-token").ok());
  ASSERT_TRUE(FetchClusters("reader-token").ok());
  EXPECT_FALSE(FetchClusters("forged-token").ok());
  EXPECT_FALSE(FetchClusters("forged-token").ok());
  EXPECT_EQ(api_->TokenReviews().size(), 2u) << "one review per token within the TTL";
  EXPECT_THAT(Metrics(), HasSubstr("skewless_controlplane_auth_refusals_total{reason=\""
                                   "invalid_token\"} 2"));
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  ASSERT_TRUE(FetchClusters("reader-token").ok());
  EXPECT_EQ(api_->TokenReviews().size(), 3u) << "reviewed again once the TTL passed";
}

TEST_F(TokenAuthServerTest, AnApiServerOutageRefusesWithUnavailableAndIsNotCached) {
  StartServer();
  api_->SetUnavailable(true);
  grpc::Status status = FetchClusters("reader-token");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(Metrics(),
              HasSubstr("skewless_controlplane_auth_refusals_total{reason=\"review_error\"} 1"));
  api_->SetUnavailable(false);
  EXPECT_TRUE(FetchClusters("reader-token").ok());
}

TEST_F(TokenAuthServerTest, ReviewsBeyondTheBoundAreRefusedBusyWhileACachedTokenIsAdmitted) {
  config_.max_concurrent_token_reviews = 2;
  StartServer();
  ASSERT_TRUE(FetchClusters("reader-token").ok());  // cached from here on
  api_->SetTokenReviewDelay(std::chrono::milliseconds(2500));

  std::vector<grpc::Status> statuses(6);
  std::vector<std::thread> callers;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    callers.emplace_back([&, i] { statuses[i] = FetchClusters("forged-" + std::to_string(i)); });
  }
  for (std::thread& caller : callers) caller.join();
  // The two reviews still hang on the API server for about two seconds; a known client
  // gets in meanwhile (the bound leaves room for a TLS handshake on a loaded machine).
  const auto start = std::chrono::steady_clock::now();
  grpc::Status cached = FetchClusters("reader-token");
  const auto cached_latency = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(cached.ok()) << cached.error_message();
  EXPECT_LT(cached_latency, std::chrono::milliseconds(1000)) << "the cached token waited";

  // Every forged call was answered within the wait, not after the API server's 2.5 s:
  // refused as busy, or as pending while its review runs on.
  int busy = 0, pending = 0;
  for (const grpc::Status& status : statuses) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    if (absl::StrContains(status.error_message(), "review_busy")) ++busy;
    if (absl::StrContains(status.error_message(), "review_pending")) ++pending;
  }
  EXPECT_EQ(busy, 4);
  EXPECT_EQ(pending, 2);
  const std::vector<testing::RecordedTokenReview> reviews = api_->TokenReviews();
  ASSERT_EQ(reviews.size(), 3u) << "the bound let more reviews through";
  EXPECT_THAT(Metrics(),
              HasSubstr("skewless_controlplane_auth_refusals_total{reason=\"review_busy\"} 4"));

  // The pending reviews finish in the background; the retry finds their verdict cached.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!absl::StrContains(Metrics(), "skewless_controlplane_token_reviews_in_flight 0") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  api_->SetTokenReviewDelay(std::chrono::milliseconds(0));
  grpc::Status retried = FetchClusters(reviews[2].token);
  EXPECT_EQ(retried.error_code(), grpc::StatusCode::UNAUTHENTICATED) << retried.error_message();
  EXPECT_EQ(api_->TokenReviews().size(), 3u) << "the retry was reviewed again";
}

TEST_F(TokenAuthServerTest, CallsWithTheSameNewTokenShareOneReview) {
  // Room for one review: the other callers must join it, not be refused as busy.
  config_.max_concurrent_token_reviews = 1;
  StartServer();
  api_->SetTokenReviewDelay(std::chrono::milliseconds(100));
  std::vector<grpc::Status> statuses(5);
  std::vector<std::thread> callers;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    callers.emplace_back([&, i] { statuses[i] = FetchClusters("reader-token"); });
  }
  for (std::thread& caller : callers) caller.join();
  for (const grpc::Status& status : statuses) {
    // Admitted, or told to retry while the one review runs (when no auth thread was free
    // to wait for it).
    if (!status.ok()) {
      EXPECT_THAT(status.error_message(), HasSubstr("review_pending"));
    }
  }
  EXPECT_TRUE(FetchClusters("reader-token").ok());
  EXPECT_EQ(api_->TokenReviews().size(), 1u);
}

TEST(TokenAuthConfig, WriterAccountsMustBeNamespaceSlashName) {
  ServerConfig config;
  config.tls_cert_file = "/c";
  config.tls_key_file = "/k";
  config.auth.token_review = true;
  config.writer_service_accounts = {"skewless-agent"};
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()),
              HasSubstr("\"skewless-agent\" is not namespace/name"));
  config.writer_service_accounts = {"skewless-system/skewless-agent"};
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.auth = AuthMethods{};
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()),
              HasSubstr("need auth tokenreview or mtls"));
}

struct JudgeCase {
  std::string name;
  kube::TokenReviewResult review;
  std::optional<Refusal> refusal;
  std::string service_account;
  bool writer;
};

TEST(Judge, AppliesTheAudienceTheAccountAndTheNamespaces) {
  const TokenPolicy policy{kAudience, {"skewless-system/skewless-agent"}, {"shop"}};
  const std::string sa = "system:serviceaccount:";
  const std::vector<JudgeCase> cases = {
      {"reader", {true, sa + "shop:web", {kAudience}, ""}, std::nullopt, "shop/web", false},
      {"writer elsewhere",
       {true, sa + "skewless-system:skewless-agent", {kAudience}, ""},
       std::nullopt,
       "skewless-system/skewless-agent",
       true},
      {"other namespace",
       {true, sa + "billing:worker", {kAudience}, ""},
       Refusal::kNotAllowed,
       "billing/worker",
       false},
      {"audience-unaware authenticator",
       {true, sa + "shop:web", {}, ""},
       Refusal::kWrongAudience,
       "",
       false},
      {"refused for its audience",
       {false, "", {}, "token audiences [\"x\"] is invalid for the target audiences"},
       Refusal::kWrongAudience,
       "",
       false},
      {"refused", {false, "", {}, "invalid bearer token"}, Refusal::kInvalidToken, "", false},
      {"not a service account", {true, "alice", {kAudience}, ""}, Refusal::kNotAllowed, "", false},
      {"malformed account", {true, sa + "shop", {kAudience}, ""}, Refusal::kNotAllowed, "", false},
  };
  for (const JudgeCase& c : cases) {
    SCOPED_TRACE(c.name);
    const TokenVerdict verdict = Judge(c.review, policy);
    EXPECT_EQ(verdict.refusal, c.refusal);
    EXPECT_EQ(verdict.service_account, c.service_account);
    EXPECT_EQ(verdict.writer, c.writer);
  }
}

TEST(Judge, WithoutReaderNamespacesEveryServiceAccountReads) {
  const TokenPolicy policy{kAudience, {}, {}};
  const TokenVerdict verdict =
      Judge({true, "system:serviceaccount:billing:worker", {kAudience}, ""}, policy);
  EXPECT_FALSE(verdict.refusal);
  EXPECT_FALSE(verdict.writer);
}

// An AuthContext as gRPC gives the processor for one call (its own is not public).
class FakeAuthContext final : public grpc::AuthContext {
 public:
  struct NoProperties : grpc::AuthPropertyIterator {};

  bool IsPeerAuthenticated() const override { return !identity_property_.empty(); }
  std::vector<grpc::string_ref> GetPeerIdentity() const override {
    return FindPropertyValues(identity_property_);
  }
  std::string GetPeerIdentityPropertyName() const override { return identity_property_; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> values;
    for (auto [it, end] = properties_.equal_range(name); it != end; ++it) {
      values.emplace_back(it->second);
    }
    return values;
  }
  grpc::AuthPropertyIterator begin() const override { return NoProperties(); }
  grpc::AuthPropertyIterator end() const override { return NoProperties(); }
  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    properties_.emplace(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string& name) override {
    identity_property_ = name;
    return true;
  }

 private:
  std::multimap<std::string, std::string> properties_;
  std::string identity_property_;
};

TEST(TokenAuthProcessor, AnAdmittedCallCarriesItsAccountAndTheTokenGoesNoFurther) {
  prometheus::Registry registry;
  std::map<std::string, std::string> users = {
      {"agent", "system:serviceaccount:skewless-system:skewless-agent"},
      {"reader", "system:serviceaccount:shop:web"}};
  TokenAuthProcessor processor(
      TokenPolicy{kAudience, {"skewless-system/skewless-agent"}, {}},
      [&](const std::string& token) -> absl::StatusOr<kube::TokenReviewResult> {
        return kube::TokenReviewResult{true, users.at(token), {kAudience}, ""};
      },
      registry, {}, {});
  for (const auto& [token, writer] : {std::pair{"agent", true}, std::pair{"reader", false}}) {
    SCOPED_TRACE(token);
    const std::string header = std::string("Bearer ") + token;
    grpc::AuthMetadataProcessor::InputMetadata metadata = {{"authorization", header}};
    grpc::AuthMetadataProcessor::OutputMetadata consumed, response;
    FakeAuthContext context;
    ASSERT_TRUE(processor.Process(metadata, &context, &consumed, &response).ok());
    const std::optional<PeerIdentity> identity = PeerIdentityOf(context);
    ASSERT_TRUE(identity.has_value());
    EXPECT_EQ(identity->writer, writer);
    EXPECT_EQ(identity->service_account, writer ? "skewless-system/skewless-agent" : "shop/web");
    EXPECT_TRUE(context.IsPeerAuthenticated());
    EXPECT_EQ(consumed.count("authorization"), 1u) << "the handler must not see the token";
  }
}

TEST(TokenAuthProcessor, ACallThatCannotWaitIsPendingAndItsRetryFindsTheVerdictCached) {
  prometheus::Registry registry;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> reviews{0};
  // Room for one review and no waiting: every new token is answered at once.
  TokenAuthProcessor processor(
      TokenPolicy{kAudience, {}, {}},
      [&](const std::string&) -> absl::StatusOr<kube::TokenReviewResult> {
        ++reviews;
        released.wait();
        return kube::TokenReviewResult{true, "system:serviceaccount:shop:web", {kAudience}, ""};
      },
      registry, {}, {.max_concurrent_reviews = 1, .max_waiting_calls = 0, .review_wait = {}});
  auto call = [&](const std::string& token) {
    const std::string header = "Bearer " + token;  // the metadata only views it
    grpc::AuthMetadataProcessor::InputMetadata metadata = {{"authorization", header}};
    grpc::AuthMetadataProcessor::OutputMetadata consumed, response;
    FakeAuthContext context;
    return processor.Process(metadata, &context, &consumed, &response);
  };
  grpc::Status first = call("web-token");
  EXPECT_EQ(first.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(first.error_message(), HasSubstr("review_pending"));
  grpc::Status other = call("other-token");
  EXPECT_THAT(other.error_message(), HasSubstr("review_busy"));
  EXPECT_THAT(call("web-token").error_message(), HasSubstr("review_pending"))
      << "the same token joins the review in flight";
  release.set_value();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  grpc::Status retried = call("web-token");
  while (!retried.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    retried = call("web-token");
  }
  EXPECT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(reviews.load(), 1);
}

}  // namespace
}  // namespace skewless::controlplane

// Reader scope: which Services an admitted caller is served, over real ADS streams.
namespace skewless::controlplane {
namespace {

constexpr char kEndpointsType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

std::string Services(const std::vector<std::pair<std::string, std::string>>& services) {
  std::string services_yaml = "services:\n", slices_yaml = "endpointSlices:\n";
  int index = 1;
  for (const auto& [namespace_name, name] : services) {
    services_yaml += "  - {namespace: " + namespace_name + ", name: " + name +
                     ", clusterIPs: [10.96.0." + std::to_string(index) +
                     "], ports: [{name: grpc, port: 8080}]}\n";
    slices_yaml += "  - {namespace: " + namespace_name + ", service: " + name +
                   ", endpoints: [{address: 10.0.0." + std::to_string(index) + "}]}\n";
    ++index;
  }
  return services_yaml + slices_yaml;
}

std::vector<std::string> ClusterNames(const envoy::service::discovery::v3::DiscoveryResponse& r) {
  std::vector<std::string> names;
  for (const auto& any : r.resources()) {
    envoy::config::cluster::v3::Cluster cluster;
    if (any.UnpackTo(&cluster)) names.push_back(cluster.name());
    envoy::config::endpoint::v3::ClusterLoadAssignment cla;
    if (any.type_url() == kEndpointsType && any.UnpackTo(&cla)) names.push_back(cla.cluster_name());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class ReaderScopeTest : public TokenAuthServerTest {
 protected:
  void SetUp() override {
    TokenAuthServerTest::SetUp();
    WriteServices({{"shop", "cart"}, {"billing", "ledger"}});
    config_.file = (dir_ / "services.yaml").string();
    config_.reader_namespaces = {};
    config_.reader_scope = ReaderScope::kOwnNamespace;
  }
  void WriteServices(const std::vector<std::pair<std::string, std::string>>& services) {
    std::ofstream(dir_ / "services.yaml.tmp") << Services(services);
    std::filesystem::rename(dir_ / "services.yaml.tmp", dir_ / "services.yaml");
  }

  // A client holding its stream open, on its own connection, authenticated by `token`.
  struct Client {
    std::unique_ptr<envoy::service::discovery::v3::AggregatedDiscoveryService::Stub> stub;
    grpc::ClientContext context;
  };
  std::unique_ptr<Client> Connect(const std::string& token) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = pki_.ca_cert_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto client = std::make_unique<Client>();
    client->stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->xds_port()),
                                  grpc::SslCredentials(options), args));
    client->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    client->context.AddMetadata("authorization", "Bearer " + token);
    return client;
  }
};

TEST_F(ReaderScopeTest, ReadersSeeOnlyTheirNamespacesServicesOverSotwAndTheAgentSeesAll) {
  StartServer();
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"reader-token", {"shop/cart:grpc"}},
      {"other-ns-token", {"billing/ledger:grpc"}},
      {"agent-token", {"billing/ledger:grpc", "shop/cart:grpc"}},
  };
  for (const auto& [token, expected] : cases) {
    SCOPED_TRACE(token);
    std::unique_ptr<Client> client = Connect(token);
    auto stream = client->stub->StreamAggregatedResources(&client->context);
    envoy::service::discovery::v3::DiscoveryRequest request;
    request.set_type_url(kClusterType);  // wildcard
    ASSERT_TRUE(stream->Write(request));
    envoy::service::discovery::v3::DiscoveryResponse clusters;
    ASSERT_TRUE(stream->Read(&clusters));
    EXPECT_EQ(ClusterNames(clusters), expected);
    // Asking by name for another namespace's endpoints gets only what is in scope.
    request.set_type_url(kEndpointsType);
    request.add_resource_names("shop/cart:grpc");
    request.add_resource_names("billing/ledger:grpc");
    ASSERT_TRUE(stream->Write(request));
    envoy::service::discovery::v3::DiscoveryResponse endpoints;
    ASSERT_TRUE(stream->Read(&endpoints));
    EXPECT_EQ(ClusterNames(endpoints), expected);
    client->context.TryCancel();
  }
}

TEST_F(ReaderScopeTest, OverDeltaAnotherNamespacesServiceIsReportedRemoved) {
  StartServer();
  std::unique_ptr<Client> client = Connect("reader-token");
  auto stream = client->stub->DeltaAggregatedResources(&client->context);
  envoy::service::discovery::v3::DeltaDiscoveryRequest request;
  request.set_type_url(kClusterType);
  request.add_resource_names_subscribe("*");
  ASSERT_TRUE(stream->Write(request));
  envoy::service::discovery::v3::DeltaDiscoveryResponse clusters;
  ASSERT_TRUE(stream->Read(&clusters));
  ASSERT_EQ(clusters.resources_size(), 1);
  EXPECT_EQ(clusters.resources(0).name(), "shop/cart:grpc");

  request.Clear();
  request.set_type_url(kEndpointsType);
  request.add_resource_names_subscribe("shop/cart:grpc");
  request.add_resource_names_subscribe("billing/ledger:grpc");
  ASSERT_TRUE(stream->Write(request));
  envoy::service::discovery::v3::DeltaDiscoveryResponse endpoints;
  ASSERT_TRUE(stream->Read(&endpoints));
  ASSERT_EQ(endpoints.resources_size(), 1);
  EXPECT_EQ(endpoints.resources(0).name(), "shop/cart:grpc");
  EXPECT_THAT(endpoints.removed_resources(), ::testing::ElementsAre("billing/ledger:grpc"));
  client->context.TryCancel();
}

TEST_F(ReaderScopeTest, TheScopeHoldsAfterSnapshotUpdates) {
  StartServer();
  std::unique_ptr<Client> client = Connect("reader-token");
  auto stream = client->stub->StreamAggregatedResources(&client->context);
  envoy::service::discovery::v3::DiscoveryRequest request;
  request.set_type_url(kClusterType);
  ASSERT_TRUE(stream->Write(request));
  envoy::service::discovery::v3::DiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(ClusterNames(response), std::vector<std::string>{"shop/cart:grpc"});
  request.set_version_info(response.version_info());
  request.set_response_nonce(response.nonce());
  ASSERT_TRUE(stream->Write(request));  // ACK

  WriteServices({{"shop", "cart"}, {"billing", "ledger"}, {"billing", "audit"}, {"shop", "web"}});
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(ClusterNames(response), (std::vector<std::string>{"shop/cart:grpc", "shop/web:grpc"}));
  client->context.TryCancel();
}

TEST(ReaderScopeOf, WritersAndScopeAllSeeEverythingReadersTheirNamespaceAndTheShared) {
  const std::set<std::string, std::less<>> shared = {"common"};
  const PeerIdentity reader{"shop/frontend", false};
  const PeerIdentity writer{"skewless-system/skewless-agent", true};
  EXPECT_TRUE(ReaderScopeOf(reader, ReaderScope::kAll, shared).all);
  EXPECT_TRUE(ReaderScopeOf(writer, ReaderScope::kOwnNamespace, shared).all);
  const xds::NamespaceScope scoped = ReaderScopeOf(reader, ReaderScope::kOwnNamespace, shared);
  EXPECT_FALSE(scoped.all);
  EXPECT_THAT(scoped.namespaces, ::testing::ElementsAre("common", "shop"));
  const xds::NamespaceScope anonymous =
      ReaderScopeOf(std::nullopt, ReaderScope::kOwnNamespace, shared);
  EXPECT_FALSE(anonymous.all);
  EXPECT_TRUE(anonymous.namespaces.empty()) << "no identity, no Services";
}

struct ConfigCase {
  std::string yaml;
  std::string error;  // "" = valid
};

TEST(ReaderScopeConfig, KeysParseAndMistakesAreNamed) {
  const std::vector<ConfigCase> cases = {
      {"maxConcurrentTokenReviews: 3\n", ""},
      {"maxConcurrentTokenReviews: 0\n", "maxConcurrentTokenReviews"},
      {"readerScope: everyone\n", "is not one of all, own-namespace"},
      {"readerSharedNamespaces: [common]\n", "readerScope is all"},
      {"readerScope: own-namespace\n", "needs authenticated readers"},
      {"readerSharedNamespaces: common\n", "expected a list of namespaces"},
  };
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.yaml);
    absl::StatusOr<ServerConfig> config = ParseServerConfigYaml(c.yaml, "cp.yaml");
    if (c.error.empty()) {
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_EQ(config->max_concurrent_token_reviews, 3u);
    } else {
      ASSERT_FALSE(config.ok());
      EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.error));
    }
  }
  ServerConfig scoped;
  scoped.reader_scope = ReaderScope::kOwnNamespace;
  scoped.reader_shared_namespaces = {"common"};
  scoped.auth = AuthMethods{.token_review = true};
  scoped.tls_cert_file = "tls.crt";
  scoped.tls_key_file = "tls.key";
  EXPECT_TRUE(ValidateServerConfig(scoped).ok()) << ValidateServerConfig(scoped);
  scoped.reader_shared_namespaces = {"a/b"};
  EXPECT_THAT(std::string(ValidateServerConfig(scoped).message()), HasSubstr("\"a/b\""));
}

}  // namespace
}  // namespace skewless::controlplane
