// One HTTP/2 connection on a worker's event loop: socket bytes into an nghttp2 session,
// the session's output back to the socket. The client side and the backend side of the
// splicer both derive from it.
//
// Output is never written from inside an nghttp2 callback (nghttp2 forbids re-entering
// a session): whoever submits something calls RequestFlush(), which runs after the
// current event's handler returns.
#pragma once

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>

namespace skewless::splicer {

// Flow control (no automatic WINDOW_UPDATE): a stream's window reopens only as the other
// side takes its bytes, so a slow reader slows its own sender and its buffer stays within
// the stream window (SplicerLimits::stream_window_bytes). The connection's window is given
// back as soon as bytes are buffered: one stalled stream never holds a connection that other
// streams (other clients' calls, on a shared backend connection) need. What a connection
// buffers in all is held by its budget (buffer_account.h), not by this window.
inline constexpr std::int32_t kConnectionWindowBytes = 16 << 20;
inline constexpr int kConnectTimeoutSeconds = 2;

class H2Connection {
 public:
  // Takes the (nonblocking) socket. `on_closed` runs once, after the connection ended,
  // from the event loop (never from inside this connection's callbacks): the owner
  // may delete the connection there.
  H2Connection(event_base* base, int fd, std::function<void(H2Connection*)> on_closed);
  virtual ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  nghttp2_session* session() const { return session_; }
  bool closing() const { return closing_; }
  // Sends what the session has queued, soon (after the current handler).
  void RequestFlush();
  // Ends the connection now (streams get their close callbacks first, as a reset).
  void Close(const std::string& why);
  // Sends GOAWAY with `error_code` (best effort), then ends the connection as Close does.
  void Terminate(std::uint32_t error_code, const std::string& why);
  // A server's peer has sent the whole HTTP/2 client preface.
  bool preface_received() const { return preface_checked_; }
  const std::string& close_reason() const { return close_reason_; }
  // Gives up the socket (for Divert): the connection then ends without closing it.
  int TakeSocket();

 protected:
  // Creates the session (a server's, or a client's whose connect is in progress) with
  // `callbacks`, automatic WINDOW_UPDATE off, `settings` submitted and the connection
  // window opened to kConnectionWindowBytes; then starts reading. Called once, by the
  // subclass constructor.
  enum class Role { kServer, kClient };
  void Open(Role role, const nghttp2_session_callbacks* callbacks,
            std::initializer_list<nghttp2_settings_entry> settings);
  // The socket became writable for the first time (a client's connect completed).
  virtual void OnConnected() {}
  // Called before the session is deleted: every stream still open is being dropped.
  virtual void OnClosing() = 0;
  // A server's client whose first bytes are not the HTTP/2 preface: return true after
  // taking the socket (TakeSocket) to serve it some other way; false closes it.
  virtual bool Divert(std::string first_bytes) {
    (void)first_bytes;
    return false;
  }

  event_base* base() const { return base_; }
  bool connected() const { return connected_; }

 private:
  static void Readable(evutil_socket_t fd, short what, void* self);
  static void Writable(evutil_socket_t fd, short what, void* self);
  static void Flushing(evutil_socket_t fd, short what, void* self);
  static void Closed(evutil_socket_t fd, short what, void* self);
  void Read();
  void Flush();
  void Finish(const std::string& why);

  event_base* base_;
  int fd_;
  std::function<void(H2Connection*)> on_closed_;
  nghttp2_session* session_ = nullptr;
  event* read_event_ = nullptr;
  event* write_event_ = nullptr;
  event* flush_event_ = nullptr;
  event* closed_event_ = nullptr;
  std::string unsent_;
  std::size_t unsent_offset_ = 0;
  bool connected_ = true;
  bool preface_checked_ = true;  // a server's first bytes still to be looked at
  std::string first_bytes_;
  bool closing_ = false;
  std::string close_reason_;
};

}  // namespace skewless::splicer
