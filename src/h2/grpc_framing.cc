// gRPC message framing: the 5-byte prefix, and reassembly across DATA frames.
#include "skewless/h2/grpc_framing.h"

#include <google/protobuf/message_lite.h>

#include "absl/strings/str_cat.h"

namespace skewless::h2 {
namespace {

constexpr std::size_t kReleaseAboveBytes = std::size_t{256} << 10;

}  // namespace

void AppendGrpcMessage(const google::protobuf::MessageLite& message, std::string* out) {
  const std::size_t length = message.ByteSizeLong();
  const std::size_t start = out->size();
  out->resize(start + kGrpcPrefixBytes + length);
  char* prefix = out->data() + start;
  prefix[0] = 0;  // not compressed
  for (int i = 0; i < 4; ++i) {
    prefix[1 + i] = static_cast<char>((length >> (8 * (3 - i))) & 0xff);
  }
  message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(prefix + 5));
}

void GrpcMessageReader::Append(std::string_view chunk) {
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  buffer_.append(chunk);
}

absl::StatusOr<bool> GrpcMessageReader::Next(google::protobuf::MessageLite* message) {
  const std::size_t available = buffer_.size() - consumed_;
  if (available < kGrpcPrefixBytes) return false;
  const auto* prefix = reinterpret_cast<const std::uint8_t*>(buffer_.data() + consumed_);
  if (prefix[0] != 0) {
    return absl::InvalidArgumentError(absl::StrCat("gRPC message with compressed flag ", prefix[0],
                                                   ", but no message encoding was negotiated"));
  }
  std::size_t length = 0;
  for (int i = 1; i <= 4; ++i) length = (length << 8) | prefix[i];
  if (length > max_message_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("gRPC message of ", length, " bytes, above the limit of ", max_message_bytes));
  }
  if (available < kGrpcPrefixBytes + length) return false;
  const bool parsed = message->ParseFromArray(buffer_.data() + consumed_ + kGrpcPrefixBytes,
                                              static_cast<int>(length));
  consumed_ += kGrpcPrefixBytes + length;
  if (consumed_ == buffer_.size()) {
    if (buffer_.capacity() > kReleaseAboveBytes) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
    consumed_ = 0;
  }
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a gRPC message of ", length, " bytes does not parse as ", message->GetTypeName()));
  }
  return true;
}

}  // namespace skewless::h2
