// What the control plane's TLS, token and mTLS tests ask of a running server: one CDS
// request on a fresh TLS connection, and its /metrics page.
#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace skewless::testing {

struct AdsProbe {
  std::string ca_pem;           // the CA the client trusts
  std::string client_cert_pem;  // mTLS: the client's certificate and key (none when empty)
  std::string client_key_pem;
  std::string token;  // sent as "authorization: Bearer <token>" when not empty
  std::chrono::seconds deadline{10};
  // The name the server's certificate must carry (the test PKI's names 127.0.0.1 and
  // localhost; a CA the control plane makes names its Service).
  std::string target_name = "localhost";
};

// One CDS request on a new connection (its own subchannel, as separate clients have) with
// `credentials` (plaintext, or trusting another CA): OK once a response arrives (copied to
// *response when given), else the status the stream ended with. The probe's PEMs are unused.
inline grpc::Status FetchClusters(
    int xds_port, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const AdsProbe& probe, envoy::service::discovery::v3::DiscoveryResponse* response = nullptr) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(probe.target_name);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(xds_port), credentials, args);
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + probe.deadline);
  if (!probe.token.empty()) context.AddMetadata("authorization", "Bearer " + probe.token);
  auto stream = stub->StreamAggregatedResources(&context);
  envoy::service::discovery::v3::DiscoveryRequest request;
  request.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
  stream->Write(request);
  envoy::service::discovery::v3::DiscoveryResponse local;
  if (stream->Read(response != nullptr ? response : &local)) {
    context.TryCancel();
    stream->Finish().IgnoreError();
    return grpc::Status::OK;
  }
  return stream->Finish();
}

// The same over TLS trusting the probe's CA, with its client certificate when it has one.
inline grpc::Status FetchClusters(
    int xds_port, const AdsProbe& probe,
    envoy::service::discovery::v3::DiscoveryResponse* response = nullptr) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = probe.ca_pem;
  options.pem_cert_chain = probe.client_cert_pem;
  options.pem_private_key = probe.client_key_pem;
  return FetchClusters(xds_port, grpc::SslCredentials(options), probe, response);
}

inline std::string MetricsPage(int http_port) {
  httplib::Client client("127.0.0.1", http_port);
  auto result = client.Get("/metrics");
  return result ? result->body : "";
}

}  // namespace skewless::testing
