// Forked children in the test cgroup, the pipes they talk to the parent through and the
// exit codes they report: what every kernel test that makes real syscalls from its cgroup needs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>

#include "skewless/common/cgroup.h"
#include "skewless/datapath/bpf_util.h"

namespace skewless::testing {

// An owned file descriptor, closed when it goes out of scope: the loader's own.
using Fd = datapath::ScopedFd;

// Exit codes of the children, so a failure says which step broke.
enum ChildResult {
  kOk = 0,
  kConnectFailed = 10,
  kWrongPeer = 11,
  kSendFailed = 12,
  kNoReply = 13,
  kWrongReplySource = 14,
  kWrongErrno = 15,
  kTooSlow = 16,
  kNotAccepted = 17,
  kNoByte = 18,
};

// A forked child moved into the test cgroup before it runs `body`. The body
// runs in a copy of a possibly multi-threaded process: plain syscalls only,
// no allocation. It gets two pipe ends to talk to the parent (Signal/Await).
struct ChildPipes {
  int to_parent;
  int from_parent;
};
void Signal(int fd);  // one byte; a child that cannot send it exits 90
bool Await(int fd);   // one byte or false on EOF

class Child {
 public:
  static std::unique_ptr<Child> Start(const OwnedCgroup& cgroup,
                                      const std::function<int(ChildPipes)>& body);
  ~Child();
  bool AwaitSignal(int timeout_ms);  // the child called Signal(to_parent)
  void SendSignal();                 // the child's Await(from_parent) returns
  int Wait();                        // exit status; 128+signal when killed
  std::optional<int> TryWait();      // the same, or nullopt while it runs

 private:
  pid_t pid_ = -1;
  Fd to_parent_;
  Fd from_parent_;
};

}  // namespace skewless::testing
