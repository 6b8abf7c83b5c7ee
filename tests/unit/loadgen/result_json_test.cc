// Loadgen Result: JSON round trip, schema checks, and merging results of several processes.
#include "skewless/loadgen/result_json.h"

#include <gtest/gtest.h>

namespace skewless::loadgen {
namespace {

Result SampleResult(const std::string& zone, const std::string& pod, uint64_t rpcs) {
  Result r;
  r.target = "198.18.0.100:8080";
  r.client_zone = zone;
  r.concurrency = 4;
  r.offered_rps = 1000;
  r.elapsed_s = 10.25;
  r.achieved_rps = 0.1 * static_cast<double>(rpcs);
  r.rpcs = rpcs;
  r.errors = 2;
  r.errors_by_code = {{"DEADLINE_EXCEEDED", 2}};
  r.warmup_rpcs = 7;
  ClientResult c;
  c.id = 0;
  c.zone = zone;
  c.rpcs = rpcs;
  c.errors = 2;
  c.rpcs_by_pod = {{pod, rpcs}};
  c.errors_by_code = {{"DEADLINE_EXCEEDED", 2}};
  c.reconnects_by_age = 3;
  c.reconnects_after_error = 1;
  c.pod_timeline = {{1'765'000'000'000, pod}, {1'765'000'001'500, "pod-9"}};
  r.clients.push_back(c);
  PodResult p;
  p.zone = "zone-a";
  p.rpcs = rpcs;
  for (uint64_t i = 0; i < rpcs; ++i) {
    p.latency.Record(static_cast<int64_t>(1'000'000 + 997 * i));
    r.latency.Record(static_cast<int64_t>(1'000'000 + 997 * i));
  }
  r.pods[pod] = p;
  r.server_stats.push_back({"198.18.0.10:8080", pod, "zone-a", rpcs + 9, 1, ""});
  r.server_stats.push_back({"198.18.0.11:8080", "pod-1", "zone-b", 0, 0, "Stats failed"});
  return r;
}

TEST(ResultJsonTest, RoundTripIsExact) {
  const Result r = SampleResult("zone-a", "pod-0", 500);
  auto parsed = ResultFromJson(nlohmann::json::parse(ToJson(r).dump()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, r);
}

TEST(ResultJsonTest, EmptyResultRoundTrips) {
  auto parsed = ResultFromJson(ToJson(Result{}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, Result{});
}

TEST(ResultJsonTest, DocumentedFieldsArePresent) {
  const nlohmann::json j = ToJson(SampleResult("zone-a", "pod-0", 3));
  EXPECT_EQ(j["schema"], kResultSchema);
  EXPECT_EQ(j["pods"]["pod-0"]["rpcs"], 3);
  EXPECT_EQ(j["clients"][0]["rpcs_by_pod"]["pod-0"], 3);
  EXPECT_EQ(j["server_stats"][1]["error"], "Stats failed");
  EXPECT_FALSE(j["server_stats"][0].contains("error"));
  EXPECT_TRUE(j["latency"]["summary_us"].contains("p99"));
}

TEST(ResultJsonTest, WrongSchemaOrShapeIsRejectedWithAMessage) {
  nlohmann::json j = ToJson(SampleResult("zone-a", "pod-0", 3));
  j["schema"] = "something/v9";
  auto wrong_schema = ResultFromJson(j);
  ASSERT_FALSE(wrong_schema.ok());
  EXPECT_NE(wrong_schema.status().message().find("something/v9"), std::string::npos);

  j = ToJson(SampleResult("zone-a", "pod-0", 3));
  j["clients"][0]["rpcs"] = "many";
  EXPECT_FALSE(ResultFromJson(j).ok());

  j = ToJson(SampleResult("zone-a", "pod-0", 3));
  j["pods"]["pod-0"]["latency"]["count"] = 99;
  EXPECT_FALSE(ResultFromJson(j).ok());
}

TEST(ResultMergeTest, MergingProcessesAddsCountsAndHistogramsAndRenumbersClients) {
  const Result a = SampleResult("zone-a", "pod-0", 100);
  const Result b = SampleResult("zone-b", "pod-1", 50);
  Result merged;
  MergeResults(merged, a);
  MergeResults(merged, b);

  EXPECT_EQ(merged.rpcs, 150u);
  EXPECT_EQ(merged.errors, 4u);
  EXPECT_EQ(merged.errors_by_code.at("DEADLINE_EXCEEDED"), 4u);
  EXPECT_DOUBLE_EQ(merged.achieved_rps, 15.0);
  EXPECT_DOUBLE_EQ(merged.offered_rps, 2000.0);
  EXPECT_EQ(merged.client_zone, "") << "two zones cannot share one label";
  ASSERT_EQ(merged.clients.size(), 2u);
  EXPECT_EQ(merged.clients[0].id, 0);
  EXPECT_EQ(merged.clients[1].id, 1);
  EXPECT_EQ(merged.clients[1].zone, "zone-b");
  EXPECT_EQ(merged.pods.at("pod-0").rpcs, 100u);
  EXPECT_EQ(merged.pods.at("pod-1").rpcs, 50u);

  Histogram all = a.latency;
  all.Merge(b.latency);
  EXPECT_EQ(merged.latency, all);
  // Both processes asked the same two pods; each pod is reported once.
  EXPECT_EQ(merged.server_stats.size(), 2u);
}

TEST(ResultMergeTest, SameZoneKeepsItsLabel) {
  Result merged;
  MergeResults(merged, SampleResult("zone-a", "pod-0", 1));
  MergeResults(merged, SampleResult("zone-a", "pod-0", 2));
  EXPECT_EQ(merged.client_zone, "zone-a");
  EXPECT_EQ(merged.pods.at("pod-0").rpcs, 3u);
}

}  // namespace
}  // namespace skewless::loadgen
