// A TCP listener on loopback for the call's tests against peers that are not gRPC
// servers: it accepts one connection and hands it to a function of the test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

namespace skewless::h2 {

// A TCP listener on loopback that accepts and then does what `peer` says.
class RawPeer {
 public:
  explicit RawPeer(std::function<void(int)> peer) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(listener_, 4);
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, peer = std::move(peer)] {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      peer(fd);
      close(fd);
    });
  }
  ~RawPeer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace skewless::h2
