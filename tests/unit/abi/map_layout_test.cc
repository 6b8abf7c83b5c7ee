// The load-time map size check: passes on equal sizes, names map and sizes otherwise.
#include "skewless/datapath/map_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::datapath {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(CheckMapLayout, AcceptsMatchingSizes) {
  EXPECT_TRUE(
      CheckMapLayout({.name = "conn_counts", .key_size_bytes = 8, .value_size_bytes = 8}, 8, 8)
          .ok());
}

TEST(CheckMapLayout, NamesTheMapAndBothSizesOfAKeyMismatch) {
  absl::Status status =
      CheckMapLayout({.name = "conn_counts", .key_size_bytes = 12, .value_size_bytes = 8}, 8, 8);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("conn_counts"), HasSubstr("key 12 bytes in the kernel vs 8")));
}

TEST(CheckMapLayout, NamesBothSizesOfAValueMismatch) {
  absl::Status status =
      CheckMapLayout({.name = "conn_counts", .key_size_bytes = 8, .value_size_bytes = 16}, 8, 8);
  EXPECT_THAT(status.message(), HasSubstr("value 16 bytes in the kernel vs 8"));
}

}  // namespace
}  // namespace skewless::datapath
