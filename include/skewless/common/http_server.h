// The small HTTP server every skewless daemon runs for /metrics, /healthz and /readyz:
// cpp-httplib on its own thread, bound before Start returns so the port is known and a
// taken port is an error at startup, not a silent share.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace skewless {

class HttpServer {
 public:
  // `listen` is host:port (IPv6 hosts in brackets; port 0 = any free port). `routes`
  // registers the handlers before the server accepts anything. `field` names the setting
  // in errors (e.g. "http.listen").
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, const std::function<void(httplib::Server&)>& routes,
      const std::string& field);
  ~HttpServer();  // stops

  int port() const { return port_; }
  // Stops accepting and joins the server thread; idempotent.
  void Stop();

 private:
  HttpServer();
  struct State;
  std::unique_ptr<State> state_;
  int port_ = 0;
};

// Splits "host:port" (IPv6 hosts in brackets) into its parts; false when it is not that.
bool SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace skewless
