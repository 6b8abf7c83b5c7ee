// Pins the byte layout of the kernel/user structs in abi.h, as the BPF side sees it.
#include <cstddef>
#include <type_traits>

#include "gtest/gtest.h"
#include "skewless/abi.h"

namespace {

// Offsets are what the BPF program writes; a reordered field would keep the
// size and still break every key.
TEST(AbiLayout, ConnKeyIsDaddrThenDportThenPad) {
  EXPECT_EQ(offsetof(skw_conn_key, daddr), 0u);
  EXPECT_EQ(offsetof(skw_conn_key, dport), 4u);
  EXPECT_EQ(offsetof(skw_conn_key, pad), 6u);
  EXPECT_EQ(sizeof(skw_conn_key), 8u);
}

TEST(AbiLayout, ConnCountIsOneU64) {
  EXPECT_EQ(offsetof(skw_conn_count, connects), 0u);
  EXPECT_EQ(sizeof(skw_conn_count), 8u);
}

// The loader copies these with memcpy-like map syscalls.
TEST(AbiLayout, StructsAreTriviallyCopyable) {
  EXPECT_TRUE(std::is_trivially_copyable_v<skw_conn_key>);
  EXPECT_TRUE(std::is_trivially_copyable_v<skw_conn_count>);
  EXPECT_TRUE(std::has_unique_object_representations_v<skw_conn_key>)
      << "implicit padding in a hash key makes equal keys hash differently";
}

TEST(AbiLayout, VersionIsSet) { EXPECT_GE(SKW_ABI_VERSION, 1); }

}  // namespace
