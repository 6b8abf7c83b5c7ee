// gRPC message framing: the prefix we write, and reassembly from chunks of any size.
#include "skewless/h2/grpc_framing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envoy/service/discovery/v3/discovery.pb.h"

namespace skewless::h2 {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using ::testing::HasSubstr;

DiscoveryRequest Request(const std::string& version) {
  DiscoveryRequest request;
  request.set_version_info(version);
  request.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
  return request;
}

TEST(GrpcFramingTest, PrefixIsUncompressedFlagAndBigEndianLength) {
  std::string framed;
  const DiscoveryRequest request = Request(std::string(300, 'v'));
  AppendGrpcMessage(request, &framed);
  ASSERT_EQ(framed.size(), kGrpcPrefixBytes + request.ByteSizeLong());
  EXPECT_EQ(framed[0], 0);
  const std::size_t length = (std::size_t{static_cast<std::uint8_t>(framed[3])} << 8) |
                             static_cast<std::uint8_t>(framed[4]);
  EXPECT_EQ(framed[1], 0);
  EXPECT_EQ(framed[2], 0);
  EXPECT_EQ(length, request.ByteSizeLong());
}

TEST(GrpcFramingTest, ReassemblesMessagesDeliveredAByteAtATime) {
  std::string framed;
  AppendGrpcMessage(Request("1"), &framed);
  AppendGrpcMessage(Request(std::string(70000, 'x')), &framed);
  AppendGrpcMessage(DiscoveryRequest(), &framed);  // an empty message is 5 bytes
  GrpcMessageReader reader;
  std::vector<std::string> versions;
  for (char byte : framed) {
    reader.Append(std::string_view(&byte, 1));
    DiscoveryRequest message;
    absl::StatusOr<bool> next = reader.Next(&message);
    ASSERT_TRUE(next.ok()) << next.status();
    if (*next) versions.push_back(message.version_info());
  }
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0], "1");
  EXPECT_EQ(versions[1].size(), 70000u);
  EXPECT_EQ(versions[2], "");
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(GrpcFramingTest, TakesEveryWholeMessageOfOneChunk) {
  std::string framed;
  for (int i = 0; i < 4; ++i) AppendGrpcMessage(Request(std::to_string(i)), &framed);
  GrpcMessageReader reader;
  reader.Append(framed.substr(0, framed.size() - 2));  // the last one incomplete
  DiscoveryRequest message;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(*reader.Next(&message));
    EXPECT_EQ(message.version_info(), std::to_string(i));
  }
  EXPECT_FALSE(*reader.Next(&message));
  reader.Append(framed.substr(framed.size() - 2));
  ASSERT_TRUE(*reader.Next(&message));
  EXPECT_EQ(message.version_info(), "3");
}

TEST(GrpcFramingTest, ACompressedMessageIsAnErrorSinceNoneWasNegotiated) {
  std::string framed;
  AppendGrpcMessage(Request("1"), &framed);
  framed[0] = 1;
  GrpcMessageReader reader;
  reader.Append(framed);
  DiscoveryRequest message;
  absl::StatusOr<bool> next = reader.Next(&message);
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr("compressed"));
}

TEST(GrpcFramingTest, AMessageAboveTheLimitIsRefusedBeforeItIsBuffered) {
  GrpcMessageReader reader;
  reader.max_message_bytes = 1000;
  reader.Append(std::string("\0\0\0\x10\0", 5));  // 4096 bytes announced
  DiscoveryRequest message;
  absl::StatusOr<bool> next = reader.Next(&message);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(next.status().message(), HasSubstr("4096"));
}

TEST(GrpcFramingTest, BytesThatDoNotParseNameTheMessageType) {
  GrpcMessageReader reader;
  reader.Append(std::string("\0\0\0\0\x02\xff\xff", 7));
  DiscoveryRequest message;
  absl::StatusOr<bool> next = reader.Next(&message);
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr("envoy.service.discovery.v3.DiscoveryRequest"));
}

}  // namespace
}  // namespace skewless::h2
