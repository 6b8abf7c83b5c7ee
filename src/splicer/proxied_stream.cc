// ByteQueue (a string with a read offset, compacted when drained), header blocks, and
// the per-thread spares of recycled streams.
#include "proxied_stream.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace skewless::splicer {
namespace {

// Spare streams a worker keeps: enough for the calls in flight of a busy loop; beyond
// that a finished stream is freed.
constexpr std::size_t kSpareStreams = 256;

thread_local std::vector<std::unique_ptr<ProxiedStream>> spare_streams;

}  // namespace

ByteQueue::ByteQueue(ByteQueue&& other) noexcept
    : bytes_(std::move(other.bytes_)),
      offset_(std::exchange(other.offset_, 0)),
      account_(std::exchange(other.account_, nullptr)) {
  other.bytes_.clear();
}

ByteQueue& ByteQueue::operator=(ByteQueue&& other) noexcept {
  if (this != &other) {
    Count(-static_cast<double>(size()));
    bytes_ = std::move(other.bytes_);
    offset_ = std::exchange(other.offset_, 0);
    account_ = std::exchange(other.account_, nullptr);
    other.bytes_.clear();
  }
  return *this;
}

void ByteQueue::Clear(std::size_t keep_bytes) {
  Count(-static_cast<double>(size()));
  bytes_.clear();
  if (bytes_.capacity() > keep_bytes) std::string().swap(bytes_);
  offset_ = 0;
  account_ = nullptr;
}

void ByteQueue::Drop() {
  Count(-static_cast<double>(size()));
  std::string().swap(bytes_);
  offset_ = 0;
}

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

HeaderBlock::HeaderBlock(
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  for (const auto& [name, value] : fields) Add(name, value);
}

void HeaderBlock::Add(std::string_view name, std::string_view value) {
  if (size_ == fields_.size()) fields_.emplace_back();
  Header& header = fields_[size_++];
  header.name.assign(name);
  header.value.assign(value);
}

void HeaderBlock::Clear(std::size_t keep_bytes) {
  size_ = 0;
  std::size_t held = 0;
  for (const Header& header : fields_) held += header.name.capacity() + header.value.capacity();
  if (held > keep_bytes) {
    std::vector<Header>().swap(fields_);
    std::vector<nghttp2_nv>().swap(nv_);
  }
}

const std::vector<nghttp2_nv>& HeaderBlock::Nv() {
  nv_.clear();
  for (const Header& header : *this) {
    nv_.push_back(nghttp2_nv{
        .name = reinterpret_cast<std::uint8_t*>(const_cast<char*>(header.name.data())),
        .value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(header.value.data())),
        .namelen = header.name.size(),
        .valuelen = header.value.size(),
        .flags = NGHTTP2_NV_FLAG_NONE,
    });
  }
  return nv_;
}

std::unique_ptr<ProxiedStream> TakeStream() {
  if (spare_streams.empty()) return std::make_unique<ProxiedStream>();
  std::unique_ptr<ProxiedStream> stream = std::move(spare_streams.back());
  spare_streams.pop_back();
  return stream;
}

void RecycleStream(std::unique_ptr<ProxiedStream> stream) {
  if (stream == nullptr || spare_streams.size() >= kSpareStreams) return;
  ProxiedStream& s = *stream;
  // Everything back to its initial state by assignment from a new stream (so a field
  // added later cannot be forgotten here), then the buffers' storage handed back.
  HeaderBlock blocks[] = {std::move(s.request_headers), std::move(s.request_trailers),
                          std::move(s.response_headers), std::move(s.response_trailers)};
  ByteQueue bodies[] = {std::move(s.request_body), std::move(s.response_body)};
  std::string sent = std::move(s.request_sent);
  s = ProxiedStream{};
  for (HeaderBlock& block : blocks) block.Clear(kKeptBufferBytes);
  s.request_headers = std::move(blocks[0]);
  s.request_trailers = std::move(blocks[1]);
  s.response_headers = std::move(blocks[2]);
  s.response_trailers = std::move(blocks[3]);
  for (ByteQueue& body : bodies) body.Clear(kKeptBufferBytes);
  s.request_body = std::move(bodies[0]);
  s.response_body = std::move(bodies[1]);
  sent.clear();
  if (sent.capacity() <= kKeptBufferBytes) s.request_sent = std::move(sent);
  spare_streams.push_back(std::move(stream));
}

}  // namespace skewless::splicer
