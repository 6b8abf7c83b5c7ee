// Histogram: bucket layout, accuracy against exact percentiles, merging, JSON.
#include "skewless/common/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace skewless {
namespace {

// Nearest rank, the definition Histogram::PercentileNs documents.
int64_t ExactPercentile(std::vector<int64_t> sorted, double p) {
  std::sort(sorted.begin(), sorted.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size() - 1e-9));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

void ExpectPercentilesWithinOnePercent(const std::vector<int64_t>& samples) {
  Histogram h;
  for (int64_t v : samples) h.Record(v);
  for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(ExactPercentile(samples, p));
    EXPECT_NEAR(static_cast<double>(h.PercentileNs(p)), exact, exact * 0.01) << "p" << p;
  }
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.max_ns(), *std::max_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.min_ns(), *std::min_element(samples.begin(), samples.end()));
}

TEST(HistogramTest, BucketsTileTheRangeWithoutGapsOrOverlap) {
  for (int i = 0; i + 1 < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(Histogram::BucketLowerNs(i) + Histogram::BucketWidthNs(i),
              Histogram::BucketLowerNs(i + 1))
        << i;
    ASSERT_EQ(Histogram::BucketIndex(Histogram::BucketLowerNs(i)), i);
  }
  EXPECT_EQ(Histogram::BucketIndex(Histogram::kMaxTrackableNs), Histogram::kBucketCount - 1);
}

TEST(HistogramTest, EveryValueFrom1usTo100sIsReportedWithinOnePercent) {
  for (double v = 1e3; v <= 1e11; v *= 1.0137) {
    Histogram h;
    h.Record(static_cast<int64_t>(v));
    h.Record(0);  // so the clamp to [min, max] does not hide the bucket's error
    h.Record(Histogram::kMaxTrackableNs);
    const double reported = static_cast<double>(h.PercentileNs(50));
    ASSERT_NEAR(reported, v, v * 0.01) << v;
  }
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int64_t v = 0; v < 256; ++v) h.Record(v);
  for (int64_t v = 1; v < 256; ++v) EXPECT_EQ(h.PercentileNs(100.0 * (v + 1) / 256), v);
}

TEST(HistogramTest, PercentilesOfUniformLatenciesMatchExactOnes) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> dist(50'000, 5'000'000);  // 50 µs .. 5 ms
  std::vector<int64_t> samples(100'000);
  for (auto& s : samples) s = dist(rng);
  ExpectPercentilesWithinOnePercent(samples);
}

TEST(HistogramTest, PercentilesOfLongTailedLatenciesMatchExactOnes) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> dist(std::log(1e6), 1.5);  // median 1 ms, tail to seconds
  std::vector<int64_t> samples(100'000);
  for (auto& s : samples) s = std::clamp<int64_t>(std::llround(dist(rng)), 1'000, 100'000'000'000);
  ExpectPercentilesWithinOnePercent(samples);
}

TEST(HistogramTest, PercentilesOfBimodalLatenciesMatchExactOnes) {
  // A fast pod and a slow pod behind one Service.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> fast(1e6, 1e5), slow(30e6, 3e6);
  std::vector<int64_t> samples;
  for (int i = 0; i < 90'000; ++i)
    samples.push_back(std::max<int64_t>(1000, std::llround(fast(rng))));
  for (int i = 0; i < 10'000; ++i)
    samples.push_back(std::max<int64_t>(1000, std::llround(slow(rng))));
  ExpectPercentilesWithinOnePercent(samples);
}

TEST(HistogramTest, MeanIsExact) {
  Histogram h;
  h.Record(1000);
  h.Record(2000);
  h.RecordN(4000, 2);
  EXPECT_DOUBLE_EQ(h.mean_ns(), 11000.0 / 4);
}

TEST(HistogramTest, EmptyHistogramReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.PercentileNs(99), 0);
  EXPECT_EQ(h.mean_ns(), 0.0);
  EXPECT_EQ(h.min_ns(), 0);
  EXPECT_EQ(h.max_ns(), 0);
}

TEST(HistogramTest, ValuesBeyondRangeAreClampedButMaxStaysExact) {
  Histogram h;
  h.Record(1'000'000'000'000);  // 1000 s
  h.Record(-5);                 // clocks can step backwards; counted as 0
  EXPECT_EQ(h.max_ns(), 1'000'000'000'000);
  EXPECT_EQ(h.min_ns(), 0);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.PercentileNs(100), 1'000'000'000'000);
}

TEST(HistogramTest, MergeEqualsHistogramOfTheUnion) {
  std::mt19937_64 rng(4);
  std::lognormal_distribution<double> dist(std::log(2e6), 1.0);
  Histogram a, b, both;
  for (int i = 0; i < 20'000; ++i) {
    const int64_t v = std::llround(dist(rng));
    (i % 3 == 0 ? a : b).Record(v);
    both.Record(v);
  }
  Histogram merged = a;
  merged.Merge(b);
  EXPECT_EQ(merged, both);
  Histogram merged_other_way = b;
  merged_other_way.Merge(a);
  EXPECT_EQ(merged_other_way, both);
}

TEST(HistogramTest, MergingIntoEmptyCopiesMinAndMax) {
  Histogram empty, h;
  h.Record(5000);
  h.Record(7000);
  empty.Merge(h);
  EXPECT_EQ(empty, h);
  h.Merge(Histogram{});
  EXPECT_EQ(empty, h);
}

TEST(HistogramTest, JsonRoundTripIsExact) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(std::log(1e6), 2.0);
  Histogram h;
  for (int i = 0; i < 10'000; ++i) h.Record(std::llround(dist(rng)));
  const nlohmann::json j = h.ToJson();
  auto parsed = Histogram::FromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, h);
  EXPECT_LT(j["buckets"].size(), 2000u) << "buckets should be sparse";
}

TEST(HistogramTest, EmptyHistogramRoundTrips) {
  auto parsed = Histogram::FromJson(Histogram{}.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, Histogram{});
}

TEST(HistogramTest, JsonFromAnotherLayoutIsRejected) {
  Histogram h;
  h.Record(1000);
  nlohmann::json j = h.ToJson();
  j["buckets"] = nlohmann::json::array({{1001, 1}});  // 1001 is inside a 4-ns bucket
  EXPECT_FALSE(Histogram::FromJson(j).ok());
}

TEST(HistogramTest, JsonWhoseCountDisagreesWithBucketsIsRejected) {
  Histogram h;
  h.Record(1000);
  nlohmann::json j = h.ToJson();
  j["count"] = 2;
  EXPECT_FALSE(Histogram::FromJson(j).ok());
  EXPECT_FALSE(Histogram::FromJson(nlohmann::json::array()).ok());
  EXPECT_FALSE(Histogram::FromJson(nlohmann::json{{"count", "x"}}).ok());
}

}  // namespace
}  // namespace skewless
