// libevent's evhttp behind HttpServer: binding, the serving thread and a clean stop.
#include "skewless/common/http_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/socket.h>

#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "skewless/common/event_threads.h"
#include "skewless/common/log.h"
#include "skewless/common/log_limiter.h"
#include "skewless/common/net.h"

namespace skewless {
namespace {

// A slow or stalled client is dropped after this long; probes answer in microseconds.
constexpr int kClientTimeoutSeconds = 10;
// Out of descriptors, the listener stays readable: accepting pauses this long instead of
// spinning on it (and logging each failure).
constexpr timeval kAcceptPause{.tv_sec = 0, .tv_usec = 100000};

void Serve(evhttp_request* request, void* arg) {
  const auto& route = *static_cast<const HttpRoute*>(arg);
  const HttpReply reply = route.handler();
  evkeyvalq* headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", reply.content_type.c_str());
  evbuffer* body = evbuffer_new();
  evbuffer_add(body, reply.body.data(), reply.body.size());
  evhttp_send_reply(request, reply.status, nullptr, body);
  evbuffer_free(body);
}

void BreakLoop(evutil_socket_t, short, void* base) {
  event_base_loopbreak(static_cast<event_base*>(base));
}

void ResumeAccepting(evutil_socket_t, short, void* listener) {
  evconnlistener_enable(static_cast<evconnlistener*>(listener));
}

// libevent retries EAGAIN by itself; any other accept error (EMFILE, ENFILE, ENOMEM) leaves
// the listener readable, and without this the loop would spin on it, logging each time.
void PauseAccepting(evconnlistener* listener, void*) {
  const int error = EVUTIL_SOCKET_ERROR();
  evconnlistener_disable(listener);
  event_base_once(evconnlistener_get_base(listener), -1, EV_TIMEOUT, &ResumeAccepting, listener,
                  &kAcceptPause);
  static std::mutex mutex;
  static log::Limiter limiter(std::chrono::seconds(10));
  std::uint64_t suppressed = 0;
  bool allowed = false;
  {
    std::lock_guard<std::mutex> lock(mutex);
    allowed = limiter.Allow(&suppressed);
  }
  if (allowed) {
    log::Warn("http: cannot accept, pausing for 100 ms",
              {{"error", evutil_socket_error_to_string(error)},
               {"suppressed", absl::StrCat(suppressed)}});
  }
}

}  // namespace

struct HttpServer::State {
  std::vector<HttpRoute> routes;  // evhttp holds pointers to these
  event_base* base = nullptr;
  evhttp* http = nullptr;
  // Activated by Stop(): a loopbreak sent before the loop runs would be lost (the loop
  // clears it on entry), an active event is not.
  event* stop = nullptr;
  std::thread thread;

  ~State() {
    if (stop != nullptr) event_free(stop);
    if (http != nullptr) evhttp_free(http);
    if (base != nullptr) event_base_free(base);
  }
};

HttpServer::HttpServer() : state_(std::make_unique<State>()) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                              std::vector<HttpRoute> routes,
                                                              const std::string& field) {
  absl::StatusOr<net::HostPort> split = net::SplitHostPort(listen);
  if (!split.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", listen, "\" is not host:port (",
                                                   split.status().message(), ")"));
  }
  const std::string host = split->host.empty() ? "0.0.0.0" : split->host;
  UseLibeventThreads();  // Stop() wakes the loop from another thread

  std::unique_ptr<HttpServer> server(new HttpServer());
  State& state = *server->state_;
  state.routes = std::move(routes);
  state.base = event_base_new();
  state.http = state.base == nullptr ? nullptr : evhttp_new(state.base);
  state.stop =
      state.http == nullptr ? nullptr : event_new(state.base, -1, 0, &BreakLoop, state.base);
  if (state.stop == nullptr) return absl::InternalError("libevent: cannot create an HTTP server");
  evhttp_set_timeout(state.http, kClientTimeoutSeconds);
  evhttp_set_allowed_methods(state.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
  for (HttpRoute& route : state.routes) {
    evhttp_set_cb(state.http, route.path.c_str(), &Serve, &route);
  }
  evhttp_bound_socket* bound =
      evhttp_bind_socket_with_handle(state.http, host.c_str(), split->port);
  if (bound == nullptr) {
    return absl::UnavailableError(absl::StrCat(field, ": cannot listen on ", listen,
                                               " (address in use or not on this host?)"));
  }
  evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound), &PauseAccepting);
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&address),
                  &length) != 0) {
    return absl::InternalError(absl::StrCat(field, ": cannot read the bound port"));
  }
  absl::StatusOr<net::IpPort> bound_address = net::FromSocketAddress(address);
  if (!bound_address.ok()) return bound_address.status();
  server->port_ = bound_address->port;
  // EVLOOP_NO_EXIT_ON_EMPTY: the loop lives until Stop(), whatever is pending.
  state.thread =
      std::thread([base = state.base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
  return server;
}

void HttpServer::Stop() {
  if (!state_->thread.joinable()) return;
  event_active(state_->stop, 0, 0);
  state_->thread.join();
}

}  // namespace skewless
