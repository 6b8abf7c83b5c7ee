// ByteQueue (a string with a read offset, compacted when drained) and header lists.
#include "proxied_stream.h"

#include <algorithm>
#include <cstring>

namespace skewless::splicer {

std::size_t ByteQueue::Take(std::uint8_t* out, std::size_t length) {
  const std::size_t taken = std::min(length, size());
  std::memcpy(out, bytes_.data() + offset_, taken);
  offset_ += taken;
  Count(-static_cast<double>(taken));
  if (offset_ == bytes_.size()) {
    bytes_.clear();
    offset_ = 0;
  }
  return taken;
}

void ByteQueue::Prepend(std::string_view bytes) {
  bytes_ = std::string(bytes) + bytes_.substr(offset_);
  offset_ = 0;
  Count(static_cast<double>(bytes.size()));
}

std::vector<nghttp2_nv> ToNv(const Headers& headers) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size());
  for (const Header& header : headers) {
    nv.push_back(nghttp2_nv{
        .name = reinterpret_cast<std::uint8_t*>(const_cast<char*>(header.name.data())),
        .value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(header.value.data())),
        .namelen = header.name.size(),
        .valuelen = header.value.size(),
        .flags = NGHTTP2_NV_FLAG_NONE,
    });
  }
  return nv;
}

}  // namespace skewless::splicer
