// Where the API server is: in-cluster service-account configuration and kubeconfig files
// (contexts, inline and file credentials, relative paths, unsupported auth).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "skewless/controlplane/kube_source.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "skewless-kube-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << content;
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name); old != nullptr) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(InClusterConfigTest, UsesTheServiceHostAndTheMountedTokenAndCa) {
  TempDir dir;
  dir.Write("token", "t0ken\n");
  dir.Write("ca.crt", "-----BEGIN CERTIFICATE-----\n");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");

  absl::StatusOr<KubeConfig> config = InClusterConfig(dir.path());

  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->bearer_token_file, dir.path() + "/token");
  EXPECT_EQ(config->ca_file, dir.path() + "/ca.crt");
  EXPECT_TRUE(config->bearer_token.empty());  // the file is re-read, tokens rotate
}

TEST(InClusterConfigTest, BracketsAnIpv6ServiceHost) {
  TempDir dir;
  dir.Write("token", "t");
  dir.Write("ca.crt", "c");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");

  absl::StatusOr<KubeConfig> config = InClusterConfig(dir.path());

  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00:10:96::1]:443");
}

TEST(InClusterConfigTest, SaysWhatIsMissing) {
  TempDir dir;
  dir.Write("ca.crt", "c");
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
    ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
    EXPECT_THAT(InClusterConfig(dir.path()).status().message(),
                HasSubstr("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set"));
  }
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  const absl::Status status = InClusterConfig(dir.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr(dir.path() + "/token: cannot read"));
}

constexpr char kKubeconfig[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://192.168.49.2:8443
    certificate-authority: certs/ca.crt
- name: prod-cluster
  cluster:
    server: https://prod.example.com
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    insecure-skip-tls-verify: false
- name: lab-cluster
  cluster:
    server: http://127.0.0.1:8001
    insecure-skip-tls-verify: true
users:
- name: dev-user
  user:
    client-certificate: certs/client.crt
    client-key: /etc/skewless/client.key
- name: prod-user
  user:
    token: prod-token
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: robot
  user:
    tokenFile: robot/token
- name: gke-user
  user:
    exec:
      command: gke-gcloud-auth-plugin
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: default}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
- name: lab
  context: {cluster: lab-cluster}
- name: robot
  context: {cluster: lab-cluster, user: robot}
- name: gke
  context: {cluster: prod-cluster, user: gke-user}
- name: broken
  context: {cluster: nowhere, user: robot}
)";

TEST(LoadKubeconfigTest, CurrentContextWithFilesRelativeToTheKubeconfig) {
  TempDir dir;
  const std::string path = dir.Write("kube/config", kKubeconfig);

  absl::StatusOr<KubeConfig> config = LoadKubeconfig(path);

  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://192.168.49.2:8443");
  EXPECT_EQ(config->ca_file, dir.path() + "/kube/certs/ca.crt");
  EXPECT_EQ(config->client_cert_file, dir.path() + "/kube/certs/client.crt");
  EXPECT_EQ(config->client_key_file, "/etc/skewless/client.key");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(LoadKubeconfigTest, InlineDataIsDecodedFromBase64) {
  TempDir dir;
  const std::string path = dir.Write("config", kKubeconfig);

  absl::StatusOr<KubeConfig> config = LoadKubeconfig(path, "prod");

  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://prod.example.com");
  EXPECT_EQ(config->ca_data, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(config->client_cert_data, "cert");
  EXPECT_EQ(config->client_key_data, "key");
  EXPECT_EQ(config->bearer_token, "prod-token");
  EXPECT_TRUE(config->ca_file.empty());
}

TEST(LoadKubeconfigTest, AContextWithoutUserIsAnonymousAndInsecureIsRead) {
  TempDir dir;
  const std::string path = dir.Write("config", kKubeconfig);

  absl::StatusOr<KubeConfig> lab = LoadKubeconfig(path, "lab");
  absl::StatusOr<KubeConfig> robot = LoadKubeconfig(path, "robot");

  ASSERT_TRUE(lab.ok()) << lab.status();
  EXPECT_EQ(lab->server, "http://127.0.0.1:8001");
  EXPECT_TRUE(lab->insecure_skip_tls_verify);
  EXPECT_TRUE(lab->bearer_token.empty());
  ASSERT_TRUE(robot.ok()) << robot.status();
  EXPECT_EQ(robot->bearer_token_file, dir.path() + "/robot/token");
}

struct KubeconfigErrorCase {
  std::string name;
  std::string document;  // "" = kKubeconfig
  std::string context;
  std::string error;  // after "kubeconfig <path>"
};

class LoadKubeconfigErrorTest : public ::testing::TestWithParam<KubeconfigErrorCase> {};

TEST_P(LoadKubeconfigErrorTest, NamesTheFileAndTheField) {
  TempDir dir;
  const KubeconfigErrorCase& c = GetParam();
  const std::string path = dir.Write("config", c.document.empty() ? kKubeconfig : c.document);

  const absl::Status status = LoadKubeconfig(path, c.context).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "kubeconfig " + path + c.error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LoadKubeconfigErrorTest,
    ::testing::Values(
        KubeconfigErrorCase{"UnknownContext", "", "staging",
                            ": contexts: has no entry named \"staging\""},
        KubeconfigErrorCase{"UnknownCluster", "", "broken",
                            ": clusters: has no entry named \"nowhere\""},
        KubeconfigErrorCase{"ExecCredentials", "", "gke",
                            ": users[name=gke-user].user.exec: is not supported by skewless; use "
                            "a token, a token file or a client certificate"},
        KubeconfigErrorCase{"NoCurrentContext", "clusters: []\n", "",
                            ": current-context: is not set and no context was given"},
        KubeconfigErrorCase{"NoServer",
                            "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                            "clusters: [{name: k, cluster: {certificate-authority: ca}}]\n",
                            "", ": clusters[name=k].cluster.server: is required"},
        KubeconfigErrorCase{"BadBase64",
                            "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                            "clusters: [{name: k, cluster: {server: 'https://k', "
                            "certificate-authority-data: '!!!'}}]\n",
                            "",
                            ": clusters[name=k].cluster.certificate-authority-data: is not valid "
                            "base64"},
        KubeconfigErrorCase{"TlsServerName",
                            "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                            "clusters: [{name: k, cluster: {server: 'https://k', "
                            "tls-server-name: api}}]\n",
                            "",
                            ": clusters[name=k].cluster.tls-server-name: is not supported by "
                            "skewless"},
        KubeconfigErrorCase{"NotYaml", "clusters: [\n", "",
                            ":2:1: not valid YAML: end of sequence flow not found"}),
    [](const auto& info) { return info.param.name; });

TEST(LoadKubeconfigTest, AMissingFileIsNotFound) {
  const absl::Status status = LoadKubeconfig("/nonexistent/kubeconfig").status();

  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("kubeconfig /nonexistent/kubeconfig: cannot open"));
}

}  // namespace
}  // namespace skewless::controlplane
