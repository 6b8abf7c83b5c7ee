// The request path's reuse of memory: header blocks keep their strings' storage when
// cleared, recycled streams come back in their initial state with their buffers, and what
// grew large is not kept.
#include "proxied_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace skewless::splicer {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::vector<std::pair<std::string, std::string>> Fields(const HeaderBlock& block) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Header& header : block) out.emplace_back(header.name, header.value);
  return out;
}

TEST(HeaderBlockTest, NvViewsEveryFieldInOrder) {
  HeaderBlock block{{":status", "200"}, {"content-type", "application/grpc"}};
  block.Add("grpc-status", "0");
  const std::vector<nghttp2_nv>& nv = block.Nv();
  ASSERT_EQ(nv.size(), 3u);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(nv[1].name), nv[1].namelen),
            "content-type");
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(nv[1].value), nv[1].valuelen),
            "application/grpc");
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(nv[2].value), nv[2].valuelen), "0");
}

TEST(HeaderBlockTest, AClearedBlockReusesItsStringsStorage) {
  HeaderBlock block;
  block.Add(":path", "/skewless.lab.v1.Echo/Work-with-a-long-name");
  const char* storage = block.begin()->value.data();
  block.Clear();
  EXPECT_TRUE(block.empty());
  block.Add(":path", "/skewless.lab.v1.Echo/Stats-a-long-name");
  EXPECT_EQ(block.begin()->value.data(), storage);  // no new allocation
  EXPECT_THAT(Fields(block), ElementsAre(Pair(":path", "/skewless.lab.v1.Echo/Stats-a-long-name")));
  EXPECT_EQ(block.Nv().size(), 1u);
}

TEST(HeaderBlockTest, StorageGrownPastTheBoundIsFreed) {
  HeaderBlock block;
  block.Add("x-big", std::string(kKeptBufferBytes + 1, 'a'));
  block.Clear(kKeptBufferBytes);
  EXPECT_TRUE(block.empty());
  block.Add("x-small", "b");
  EXPECT_LT(block.begin()->value.capacity(), kKeptBufferBytes);
}

TEST(StreamRecyclingTest, ARecycledStreamComesBackInItsInitialStateWithItsBuffers) {
  std::unique_ptr<ProxiedStream> stream = TakeStream();
  ProxiedStream* const address = stream.get();
  BufferAccount buffered(nullptr, 1 << 20, nullptr, {});
  stream->client_stream_id = 7;
  stream->grpc = true;
  stream->request_ended = true;
  stream->attempts = 2;
  stream->backend_stream_id = 9;
  stream->answered_by_splicer = true;
  stream->failure = balance::StreamOutcome::kStreamReset;
  stream->request_headers.Add(":path", "/skewless.lab.v1.Echo/Work-with-a-long-name");
  stream->response_trailers.Add("grpc-status", "0");
  stream->request_body.CountIn(&buffered);
  const std::string body = "a body that is long enough for the heap";
  stream->request_body.Append(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  stream->request_sent = "sent";
  EXPECT_EQ(buffered.used(), static_cast<std::int64_t>(body.size()));
  const char* header_storage = stream->request_headers.begin()->value.data();

  RecycleStream(std::move(stream));
  EXPECT_EQ(buffered.used(), 0);  // the dropped body is no longer counted as buffered

  std::unique_ptr<ProxiedStream> again = TakeStream();
  ASSERT_EQ(again.get(), address);  // the same object, from this thread's spares
  EXPECT_EQ(again->client_stream_id, 0);
  EXPECT_FALSE(again->grpc);
  EXPECT_FALSE(again->request_ended);
  EXPECT_EQ(again->attempts, 0);
  EXPECT_EQ(again->backend_stream_id, -1);
  EXPECT_FALSE(again->answered_by_splicer);
  EXPECT_FALSE(again->failure.has_value());
  EXPECT_TRUE(again->request_headers.empty());
  EXPECT_TRUE(again->response_trailers.empty());
  EXPECT_EQ(again->request_body.size(), 0u);
  EXPECT_TRUE(again->request_sent.empty());
  // The storage came along: the next call's path is copied without allocating.
  again->request_headers.Add(":path", "/skewless.lab.v1.Echo/Work-with-a-long-name");
  EXPECT_EQ(again->request_headers.begin()->value.data(), header_storage);
  // And its body is counted in the account it is given next, not in the old one.
  BufferAccount next(nullptr, 1 << 20, nullptr, {});
  again->request_body.CountIn(&next);
  again->request_body.Append(reinterpret_cast<const std::uint8_t*>(body.data()), 4);
  EXPECT_EQ(next.used(), 4);
  EXPECT_EQ(buffered.used(), 0);
  RecycleStream(std::move(again));
  EXPECT_EQ(next.used(), 0);
}

TEST(StreamRecyclingTest, AStreamWithALargeBodyDoesNotKeepItsBuffer) {
  std::unique_ptr<ProxiedStream> stream = TakeStream();
  const std::string big(kKeptBufferBytes * 4, 'x');
  stream->response_body.Append(reinterpret_cast<const std::uint8_t*>(big.data()), big.size());
  RecycleStream(std::move(stream));
  std::unique_ptr<ProxiedStream> again = TakeStream();
  again->response_body.Append(reinterpret_cast<const std::uint8_t*>("y"), 1);
  std::uint8_t out[8];
  EXPECT_EQ(again->response_body.Take(out, sizeof out), 1u);  // only the new byte
  EXPECT_EQ(out[0], 'y');
  RecycleStream(std::move(again));
}

}  // namespace
}  // namespace skewless::splicer
