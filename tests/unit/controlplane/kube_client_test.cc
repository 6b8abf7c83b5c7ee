// The API client's pieces that need no server: watch-stream line splitting, error
// statuses from Kubernetes Status bodies, and configuration checks at creation.
#include "controlplane/kube_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skewless::controlplane::kube {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> FeedAll(LineSplitter& splitter, const std::vector<std::string>& reads) {
  std::vector<std::string> lines;
  for (const std::string& data : reads) {
    splitter.Feed(data, [&](std::string_view line) {
      lines.emplace_back(line);
      return true;
    });
  }
  return lines;
}

TEST(LineSplitterTest, ReassemblesALineSplitAcrossReads) {
  LineSplitter splitter(1024);

  const auto lines = FeedAll(splitter, {"{\"type\":\"ADD", "ED\",\"obj", "ect\":{}}\n"});

  EXPECT_THAT(lines, ElementsAre("{\"type\":\"ADDED\",\"object\":{}}"));
  EXPECT_EQ(splitter.pending_bytes(), 0u);
}

TEST(LineSplitterTest, SplitsSeveralLinesInOneReadAndKeepsTheTail) {
  LineSplitter splitter(1024);

  const auto lines = FeedAll(splitter, {"a\nb\r\n\nc", "d\n"});

  EXPECT_THAT(lines, ElementsAre("a", "b", "cd"));  // the empty line is skipped
}

TEST(LineSplitterTest, StopsWhenTheCallbackSaysSo) {
  LineSplitter splitter(1024);
  std::vector<std::string> seen;

  const bool more = splitter.Feed("first\nsecond\n", [&](std::string_view line) {
    seen.emplace_back(line);
    return false;
  });

  EXPECT_FALSE(more);
  EXPECT_THAT(seen, ElementsAre("first"));
}

TEST(LineSplitterTest, RefusesALineLongerThanTheLimit) {
  LineSplitter splitter(8);

  const bool more = splitter.Feed("0123", [](std::string_view) { return true; }) &&
                    splitter.Feed("456789", [](std::string_view) { return true; });

  EXPECT_FALSE(more);
  EXPECT_TRUE(splitter.overflowed());
}

TEST(StatusFromResponseTest, QuotesTheKubernetesStatusAndMapsTheCode) {
  const HttpResponse forbidden{
      403, R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden",)"
           R"("message":"services is forbidden: User \"system:serviceaccount:skewless:cp\" cannot )"
           R"(list resource \"services\"","code":403})"};

  const absl::Status status = StatusFromResponse("list /api/v1/services", forbidden);

  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "list /api/v1/services: HTTP 403 (Forbidden): services is forbidden: User "
            "\"system:serviceaccount:skewless:cp\" cannot list resource \"services\"");
}

TEST(StatusFromResponseTest, ServerErrorsAreUnavailableAndPlainBodiesAreQuoted) {
  const absl::Status status = StatusFromResponse("watch /api/v1/nodes", {502, "Bad Gateway"});

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "watch /api/v1/nodes: HTTP 502: Bad Gateway");
}

struct CreateErrorCase {
  std::string name;
  KubeConfig config;
  std::string error;
};

class KubeClientCreateTest : public ::testing::TestWithParam<CreateErrorCase> {};

TEST_P(KubeClientCreateTest, RefusesAnUnusableConfiguration) {
  const absl::Status status = KubeClient::Create(GetParam().config, 1s).status();

  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KubeClientCreateTest,
    ::testing::Values(
        CreateErrorCase{"NoScheme",
                        {.server = "10.96.0.1:443"},
                        "server \"10.96.0.1:443\": must start with https:// or http://"},
        CreateErrorCase{"BadPort", {.server = "https://10.96.0.1:99999"}, "port must be 1-65535"},
        CreateErrorCase{
            "BareIpv6", {.server = "https://fd00::1:443"}, "an IPv6 address must be in brackets"},
        CreateErrorCase{"NoHost", {.server = "https://:443"}, "has no host"},
        CreateErrorCase{"Query", {.server = "https://k?x=1"}, "must not have a query"},
        CreateErrorCase{"MissingCaFile",
                        {.server = "https://k", .ca_file = "/nonexistent/ca.crt"},
                        "certificate authority /nonexistent/ca.crt: cannot open"},
        CreateErrorCase{"CaDataNotPem",
                        {.server = "https://k", .ca_data = "not a certificate"},
                        "certificate authority data: no PEM certificate"},
        CreateErrorCase{"CertWithoutKey",
                        {.server = "https://k", .client_cert_data = "x"},
                        "a client certificate needs its key"},
        CreateErrorCase{"MissingTokenFile",
                        {.server = "http://k", .bearer_token_file = "/nonexistent/token"},
                        "bearer token file /nonexistent/token: cannot open"}),
    [](const auto& info) { return info.param.name; });

TEST(KubeClientCreateTest, AcceptsBracketedIpv6AndAPathPrefix) {
  EXPECT_TRUE(KubeClient::Create({.server = "http://[fd00::1]:8001/k8s/clusters/c-1/"}, 1s).ok());
  EXPECT_TRUE(KubeClient::Create({.server = "https://kubernetes.default.svc"}, 1s).ok());
}

}  // namespace
}  // namespace skewless::controlplane::kube
