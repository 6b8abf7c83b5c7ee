// cpp-httplib behind HttpServer: binding, the serving thread and a clean stop.
#include "skewless/common/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace skewless {

struct HttpServer::State {
  httplib::Server server;
  std::thread thread;
};

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(address.substr(colon + 1), port) && *port >= 0 && *port <= 65535;
}

HttpServer::HttpServer() : state_(std::make_unique<State>()) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, const std::function<void(httplib::Server&)>& routes,
    const std::string& field) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(listen, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", listen, "\" is not host:port"));
  }
  std::unique_ptr<HttpServer> http(new HttpServer());
  httplib::Server& server = http->state_->server;
  routes(server);
  // httplib's default adds SO_REUSEPORT: a second process on this host would then share
  // the port silently instead of failing to start.
  server.set_socket_options([](int socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http->port_ =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (http->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat(field, ": cannot listen on ", listen));
  }
  http->state_->thread = std::thread([&server] { server.listen_after_bind(); });
  // stop() before the loop runs would be lost and the join would hang: wait for it.
  for (int waited_ms = 0; !server.is_running() && waited_ms < 2000; ++waited_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return http;
}

void HttpServer::Stop() {
  if (!state_->thread.joinable()) return;
  state_->server.stop();
  state_->thread.join();
}

}  // namespace skewless
