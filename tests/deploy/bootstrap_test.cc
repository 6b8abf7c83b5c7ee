// The example Envoy and gRPC bootstraps take ADS from the control plane's Service.
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

YAML::Node EnvoyBootstrap() {
  return YAML::LoadFile((kDeployDir / "examples" / "envoy-bootstrap.yaml").string());
}

nlohmann::json GrpcBootstrap() {
  return nlohmann::json::parse(ReadFile(kDeployDir / "examples" / "grpc-xds-bootstrap.json"));
}

YAML::Node XdsSocketAddress(YAML::Node bootstrap) {
  return bootstrap["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]
                  ["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
}

TEST(DeployBootstraps, EnvoyTakesClustersAndEndpointsOverAdsFromTheControlPlaneService) {
  EXPECT_THAT(CheckEnvoyBootstrap(EnvoyBootstrap(), Installed(), ClusterDomain()), IsEmpty());
}

TEST(DeployBootstraps, GrpcClientsPointAtTheControlPlaneService) {
  EXPECT_THAT(CheckGrpcBootstrap(GrpcBootstrap(), Installed(), ClusterDomain()), IsEmpty());
}

TEST(DeployBootstraps, AnEnvoyXdsAddressThatIsNotTheServiceIsCaught) {
  YAML::Node other_namespace = EnvoyBootstrap();
  XdsSocketAddress(other_namespace)["address"] = "skewless-controlplane.default.svc.cluster.local";
  EXPECT_THAT(CheckEnvoyBootstrap(other_namespace, Installed(), ClusterDomain()),
              Contains(HasSubstr("Service default/skewless-controlplane does not exist")));
  YAML::Node other_port = EnvoyBootstrap();
  XdsSocketAddress(other_port)["port_value"] = 18001;
  EXPECT_THAT(CheckEnvoyBootstrap(other_port, Installed(), ClusterDomain()),
              Contains(HasSubstr("has no port 18001")));
}

TEST(DeployBootstraps, AnEnvoyXdsClusterWithoutHttp2IsCaught) {
  YAML::Node bootstrap = EnvoyBootstrap();
  bootstrap["static_resources"]["clusters"][0].remove("typed_extension_protocol_options");
  EXPECT_THAT(CheckEnvoyBootstrap(bootstrap, Installed(), ClusterDomain()),
              Contains(HasSubstr("HTTP/2")));
}

TEST(DeployBootstraps, AnEnvoyRouteToANameTheControlPlaneNeverServesIsCaught) {
  YAML::Node bootstrap = EnvoyBootstrap();
  bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
           ["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = "web.default";
  EXPECT_THAT(CheckEnvoyBootstrap(bootstrap, Installed(), ClusterDomain()),
              Contains(HasSubstr("route to \"web.default\"")));
}

TEST(DeployBootstraps, AGrpcServerUriOrFeatureMistakeIsCaught) {
  nlohmann::json bootstrap = GrpcBootstrap();
  bootstrap["xds_servers"][0]["server_uri"] = "skewless-controlplane:18000";
  bootstrap["xds_servers"][0]["server_features"] = nlohmann::json::array();
  const Problems problems = CheckGrpcBootstrap(bootstrap, Installed(), ClusterDomain());
  EXPECT_THAT(problems, Contains(HasSubstr("is not <service>.<namespace>.svc")));
  EXPECT_THAT(problems, Contains(HasSubstr("lacks xds_v3")));
}

}  // namespace
}  // namespace skewless::deploy
