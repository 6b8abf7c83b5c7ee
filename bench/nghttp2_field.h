// A header field for nghttp2 that it does not copy, for the bench's own HTTP/2 tools
// (skewless-h2-pace, skewless-h2-pod).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string_view>

namespace skewless::bench {

// NO_COPY: the caller keeps name and value alive for as long as the session may use
// them (literals, or strings that outlive every session).
inline nghttp2_nv UncopiedField(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

}  // namespace skewless::bench
