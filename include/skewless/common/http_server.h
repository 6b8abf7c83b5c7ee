// The small HTTP server every skewless daemon runs for /metrics, /healthz and /readyz:
// libevent's evhttp on one thread of its own, bound before Start returns so the port is
// known and a taken port is an error at startup, not a silent share.
//
// (Not cpp-httplib: Debian builds it with OpenSSL, whose initialisation alone keeps
// 3 MiB resident, and the agent runs on every node.)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace skewless {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// GET (and HEAD) on an exact path. Handlers run on the server's thread.
struct HttpRoute {
  std::string path;
  std::function<HttpReply()> handler;
};

class HttpServer {
 public:
  // `listen` is host:port (IPv6 hosts in brackets; port 0 = any free port). `field`
  // names the setting in errors (e.g. "http.listen"). Other paths answer 404, other
  // methods 501 (libevent's answer).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           std::vector<HttpRoute> routes,
                                                           const std::string& field);
  ~HttpServer();  // stops

  int port() const { return port_; }
  // Stops serving and joins the server thread; idempotent.
  void Stop();

 private:
  HttpServer();
  struct State;
  std::unique_ptr<State> state_;
  int port_ = 0;
};

}  // namespace skewless
