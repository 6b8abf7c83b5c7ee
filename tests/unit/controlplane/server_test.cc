// skewless-controlplane as a library: its configuration (YAML + validation), and a
// server on loopback with the file source: probes, metrics, ADS answers, a file change
// reaching a stream, bad input kept out, clean shutdown.
#include "skewless/controlplane/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/server_config.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;

TEST(ServerConfig, EmptyDocumentGivesTheDefaults) {
  absl::StatusOr<ServerConfig> config = ParseServerConfigYaml("", "cp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->xds_listen, "0.0.0.0:18000");
  EXPECT_EQ(config->http_listen, "0.0.0.0:9090");
  EXPECT_EQ(config->source, SourceKind::kFile);
  EXPECT_EQ(config->cluster_domain, "cluster.local");
  EXPECT_EQ(config->default_load_balancing, "least-loaded");
}

TEST(ServerConfig, ReadsEveryKey) {
  absl::StatusOr<ServerConfig> config = ParseServerConfigYaml(
      "xds: {listen: 127.0.0.1:1800}\nhttp: {listen: '[::1]:9091'}\n"
      "source: {kind: kubernetes, kubeconfig: /k, context: prod}\n"
      "clusterDomain: example.org\nlog: {level: debug, format: json}\n"
      "defaultLoadBalancing: least-request\n"
      "shutdownGraceSeconds: 2.5\n"
      "limits: {maxStreams: 5, maxStreamsPerPeer: 2, maxNamesPerStream: 7,\n"
      "         maxStreamMemoryBytes: 4096, maxRequestBytes: 2048, maxRequestsPerSecond: 3}\n",
      "cp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->xds_listen, "127.0.0.1:1800");
  EXPECT_EQ(config->http_listen, "[::1]:9091");
  EXPECT_EQ(config->source, SourceKind::kKubernetes);
  EXPECT_EQ(config->kubeconfig, "/k");
  EXPECT_EQ(config->kube_context, "prod");
  EXPECT_EQ(config->cluster_domain, "example.org");
  EXPECT_EQ(config->default_load_balancing, "least-request");
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->log_format, "json");
  EXPECT_EQ(config->shutdown_grace, std::chrono::milliseconds(2500));
  EXPECT_EQ(config->limits.max_streams, 5u);
  EXPECT_EQ(config->limits.max_streams_per_peer, 2u);
  EXPECT_EQ(config->limits.max_names_per_stream, 7u);
  EXPECT_EQ(config->limits.max_stream_memory_bytes, 4096u);
  EXPECT_EQ(config->limits.max_request_bytes, 2048u);
  EXPECT_EQ(config->limits.requests_per_second, 3u);
}

TEST(ServerConfig, ReadsEveryTransportAndAuthKey) {
  absl::StatusOr<ServerConfig> config = ParseServerConfigYaml(
      "tls:\n"
      "  caSecret: skewless-system/skewless-ca\n"
      "  caBundleConfigMap: skewless-system/bundle\n"
      "  dnsNames: [cp.example, cp]\n"
      "  issuedCertLifetimeHours: 12\n"
      "  refreshIntervalSeconds: 30\n"
      "  clientCaFile: /etc/ca/clients.crt\n"
      "auth:\n"
      "  mode: tokenreview,mtls\n"
      "  tokenAudience: aud\n"
      "  writerServiceAccounts: [skewless-system/skewless-agent]\n"
      "  readerNamespaces: [shop, web]\n",
      "cp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_secret, "skewless-system/skewless-ca");
  EXPECT_EQ(config->ca_bundle_configmap, "skewless-system/bundle");
  EXPECT_EQ(config->tls_dns_names, (std::vector<std::string>{"cp.example", "cp"}));
  EXPECT_EQ(config->issued_cert_lifetime, std::chrono::hours(12));
  EXPECT_EQ(config->tls_refresh_interval, std::chrono::seconds(30));
  EXPECT_EQ(config->client_ca_file, "/etc/ca/clients.crt");
  EXPECT_EQ(config->auth, (AuthMethods{true, true}));
  EXPECT_EQ(config->token_audience, "aud");
  EXPECT_EQ(config->writer_service_accounts,
            (std::vector<std::string>{"skewless-system/skewless-agent"}));
  EXPECT_EQ(config->reader_namespaces, (std::vector<std::string>{"shop", "web"}));

  config = ParseServerConfigYaml("tls: {certFile: /c, keyFile: /k}\n", "cp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls_cert_file, "/c");
  EXPECT_EQ(config->tls_key_file, "/k");
  config = ParseServerConfigYaml("tls: {plaintext: true}\n", "cp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->plaintext);
}

TEST(ServerConfig, ErrorsNameTheFileLineAndKey) {
  struct Case {
    std::string document;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"xds: {listne: 1.2.3.4:5}\n", "cp.yaml:1:7: xds.listne: unknown key"},
           {"source:\n  kind: kube\n", "cp.yaml:2:9: source.kind: source \"kube\" is not one of"},
           {"xds: {listen: nope}\n", "cp.yaml: xds.listen: \"nope\" is not host:port"},
           {"log: {level: loud}\n", "cp.yaml: log.level: log level \"loud\""},
           {"shutdownGraceSeconds: soon\n", "shutdownGraceSeconds: expected seconds"},
           {"defaultLoadBalancing: round-robin\n",
            "defaultLoadBalancing: unknown policy \"round-robin\" (known: least-request, random, "
            "least-loaded)"},
           {"source: {kubeconfig: /k}\n", "source.kubeconfig: set, but source.kind is file"},
           {"xds: [1, 2]\n", "cp.yaml:1:6: xds: expected a mapping"},
           {"limits: {maxStreams: 0}\n", "limits.maxStreams: expected a positive integer"},
           {"limits: {maxStreams: lots}\n", "limits.maxStreams: expected a positive integer"},
           {"limits: {maxStream: 5}\n", "limits.maxStream: unknown key"},
           {"limits: {maxRequestBytes: 10}\n", "limits.maxRequestBytes: must be between"},
           {"tls: {plaintext: maybe}\n", "cp.yaml:1:18: tls.plaintext: expected true or false"},
           {"tls: {certFile: /c}\n", "a certificate file needs its key file"},
           {"tls: {dnsNames: cp}\n", "tls.dnsNames: expected a list of strings"},
           {"tls: {caSecret: x/y, refreshIntervalSeconds: 0}\n",
            "tls.refreshIntervalSeconds: expected a positive number"},
           {"tls: {caSecret: x/y, issuedCertLifetimeHours: 0.001}\n",
            "tls.issuedCertLifetimeHours: must be at least four refresh intervals"},
           {"tls: {keyfile: /k}\n", "tls.keyfile: unknown key"},
           {"auth: {mode: oauth}\n", "cp.yaml:1:14: auth.mode: auth \"oauth\" is not none"},
           {"auth: {mode: tokenreview}\n", "auth tokenreview: needs TLS"},
           {"auth: {readerNamespaces: shop}\n", "auth.readerNamespaces: expected a list"},
       }) {
    absl::StatusOr<ServerConfig> config = ParseServerConfigYaml(c.document, "cp.yaml");
    ASSERT_FALSE(config.ok()) << c.document;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.error)) << c.document;
  }
}

TEST(ServerConfig, AMissingFileIsNamed) {
  absl::StatusOr<ServerConfig> config = LoadServerConfigFile("/nonexistent/cp.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/cp.yaml"));
}

constexpr char kDocument[] = R"(services:
  - namespace: default
    name: echo
    clusterIPs: [10.96.0.10]
    ports: [{name: grpc, port: 8080, targetPort: 8080}]
endpointSlices:
  - namespace: default
    service: echo
    name: echo-1
    endpoints:
      - {address: 10.0.0.1, zone: zone-a}
)";

class ControlPlaneServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("skewless-cp-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    Write(kDocument);
    ServerConfig config;
    config.xds_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.file = (dir_ / "services.yaml").string();
    config.shutdown_grace = std::chrono::milliseconds(200);
    config.plaintext = true;
    auto server = ControlPlaneServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Write(const std::string& text) {
    std::ofstream(dir_ / "services.yaml.tmp") << text;
    std::filesystem::rename(dir_ / "services.yaml.tmp", dir_ / "services.yaml");
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->http_port());
    return client.Get(path.c_str());
  }

  std::filesystem::path dir_;
  std::unique_ptr<ControlPlaneServer> server_;
};

TEST_F(ControlPlaneServerTest, ProbesAndMetricsAnswer) {
  EXPECT_TRUE(server_->Ready());
  auto healthz = Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  auto readyz = Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 200);
  auto metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body, HasSubstr("skewless_xds_resources{type=\"Cluster\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("skewless_controlplane_ready 1"));
  EXPECT_THAT(metrics->body, HasSubstr("# TYPE skewless_xds_push_latency_seconds histogram"));
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
}

TEST_F(ControlPlaneServerTest, AFileChangeReachesASubscribedStreamAndABadFileIsKeptOut) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->xds_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->StreamAggregatedResources(&context);
  envoy::service::discovery::v3::DiscoveryRequest request;
  request.set_type_url("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
  request.add_resource_names("default/echo:grpc");
  request.mutable_node()->set_user_agent_name("gRPC test");
  ASSERT_TRUE(stream->Write(request));
  envoy::service::discovery::v3::DiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  ASSERT_TRUE(response.resources(0).UnpackTo(&cla));
  EXPECT_EQ(cla.endpoints(0).lb_endpoints_size(), 1);

  Write("services: [ {namespace: default, name: echo, ports: [{port: 70000}]} ]\n");  // bad
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Write(std::string(kDocument) + "      - {address: 10.0.0.2, zone: zone-a}\n");
  ASSERT_TRUE(stream->Read(&response)) << "the good file after the bad one must be pushed";
  ASSERT_TRUE(response.resources(0).UnpackTo(&cla));
  EXPECT_EQ(cla.endpoints(0).lb_endpoints_size(), 2);
  auto metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("skewless_controlplane_source_errors_total 1"));
  context.TryCancel();
}

TEST_F(ControlPlaneServerTest, ShutdownEndsOpenStreamsPromptly) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->xds_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->StreamAggregatedResources(&context);
  envoy::service::discovery::v3::DiscoveryRequest request;
  request.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
  ASSERT_TRUE(stream->Write(request));
  envoy::service::discovery::v3::DiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_FALSE(stream->Read(&response));
}

TEST(ControlPlaneServerStart, APortInUseIsNamed) {
  ServerConfig config;
  config.xds_listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.plaintext = true;
  auto first = ControlPlaneServer::Start(config);
  ASSERT_TRUE(first.ok()) << first.status();
  config.http_listen = "127.0.0.1:" + std::to_string((*first)->http_port());
  auto second = ControlPlaneServer::Start(config);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("http.listen"));
}

}  // namespace
}  // namespace skewless::controlplane
