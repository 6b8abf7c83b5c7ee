// What several tests need of loopback sockets and of a process they started: a listener on
// a free port, a free port, and the process's CPU time and resident memory from /proc.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace skewless::testing {

// A TCP socket bound to 127.0.0.1 on a port the kernel picks; listening with `backlog`
// unless `backlog` is negative. `port` gets the bound port.
inline int LoopbackSocket(int backlog, int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  if (backlog >= 0) listen(fd, backlog);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return fd;
}

// A loopback port free now (bound and released), for a child process to listen on.
inline int FreePort() {
  int port = 0;
  close(LoopbackSocket(-1, &port));
  return port;
}

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
inline double CpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::vector<std::string> values{std::istream_iterator<std::string>(fields), {}};
  return (std::stod(values.at(11)) + std::stod(values.at(12))) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident memory of a process in bytes, from /proc/PID/status; -1 if it is gone.
inline double RssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) * 1024;
  }
  return -1;
}

}  // namespace skewless::testing
