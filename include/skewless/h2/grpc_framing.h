// gRPC's length-prefixed messages on an HTTP/2 stream: one byte "compressed", four bytes
// big-endian length, then the serialized message (gRPC's PROTOCOL-HTTP2.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace google::protobuf {
class MessageLite;
}

namespace skewless::h2 {

inline constexpr std::size_t kGrpcPrefixBytes = 5;

// Appends `message` framed (uncompressed) to `out`.
void AppendGrpcMessage(const google::protobuf::MessageLite& message, std::string* out);

// Reassembles messages from DATA chunks of any size. A message's bytes are kept only
// until it is taken, and a large buffer is released once empty: the initial state of
// a big cluster is one message of several megabytes, held for a moment, not forever.
class GrpcMessageReader {
 public:
  void Append(std::string_view chunk);
  // Parses the next whole message into `message`: false while it is incomplete; an
  // error when the prefix asks for compression (never negotiated here) or for more than
  // `max_message_bytes`, or when the bytes do not parse.
  absl::StatusOr<bool> Next(google::protobuf::MessageLite* message);
  std::size_t buffered_bytes() const { return buffer_.size() - consumed_; }

  std::size_t max_message_bytes = std::size_t{1} << 30;

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
};

}  // namespace skewless::h2
