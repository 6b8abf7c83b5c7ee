// Issuing, writing and renewing the serving certificate files.
#include "serving_cert_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "skewless/common/log.h"

namespace skewless::controlplane {
namespace {

// After a failed renewal (it cannot fail for want of the API: the CA is in memory), try
// again soon rather than at the next half-life.
constexpr std::chrono::seconds kRetryInterval{30};

// Replaces `path` with `content` in one rename, so the file watcher never reads half a
// file; written 0600 (the key is one of them).
absl::Status WriteAtomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".new";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(temporary, ": cannot create: ", std::strerror(errno)));
  }
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  const int saved_errno = errno;
  ::close(fd);
  if (!written) {
    return absl::InternalError(absl::StrCat(temporary, ": write: ", std::strerror(saved_errno)));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": rename: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

ServingCertFiles::ServingCertFiles(CertificateAuthority ca, std::vector<std::string> dns_names,
                                   std::chrono::seconds lifetime, std::string directory)
    : ca_(std::move(ca)),
      dns_names_(std::move(dns_names)),
      lifetime_(lifetime),
      directory_(std::move(directory)) {}

absl::StatusOr<std::unique_ptr<ServingCertFiles>> ServingCertFiles::Start(
    CertificateAuthority ca, std::vector<std::string> dns_names, std::chrono::seconds lifetime) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                                     "/skewless-controlplane-tls-XXXXXX");
  // mkdtemp makes the directory 0700: only this process's user reads the key.
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "issued certificates: cannot create a directory ", pattern, ": ", std::strerror(errno)));
  }
  std::unique_ptr<ServingCertFiles> files(
      new ServingCertFiles(std::move(ca), std::move(dns_names), lifetime, pattern));
  absl::StatusOr<std::chrono::steady_clock::time_point> next = files->Renew();
  if (!next.ok()) return next.status();
  files->renewer_ = std::thread([raw = files.get(), next = *next] { raw->RenewLoop(next); });
  return files;
}

ServingCertFiles::~ServingCertFiles() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_requested_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

absl::StatusOr<std::chrono::steady_clock::time_point> ServingCertFiles::Renew() {
  absl::StatusOr<IssuedCertificate> issued =
      IssueServingCertificate(ca_, dns_names_, lifetime_, key_pem_);
  if (!issued.ok()) return issued.status();
  if (key_pem_.empty()) {
    // Before the first certificate, while nothing serves from the directory yet.
    if (absl::Status s = WriteAtomically(key_file(), issued->key_pem); !s.ok()) return s;
    key_pem_ = issued->key_pem;
  }
  if (absl::Status s = WriteAtomically(cert_file(), issued->cert_pem); !s.ok()) return s;
  log::Info("serving certificate issued", {{"dns_names", dns_names_.front()},
                                           {"valid_seconds", absl::StrCat(lifetime_.count())}});
  // Renewed at half its lifetime: a replica that cannot renew has as long again to be
  // noticed before clients refuse it.
  return std::chrono::steady_clock::now() + lifetime_ / 2;
}

void ServingCertFiles::RenewLoop(std::chrono::steady_clock::time_point next) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_requested_.wait_until(lock, next, [this] { return stopping_; })) {
    lock.unlock();
    absl::StatusOr<std::chrono::steady_clock::time_point> renewed = Renew();
    if (!renewed.ok()) {
      log::Error("serving certificate renewal failed",
                 {{"error", std::string(renewed.status().message())}});
    }
    next = renewed.ok() ? *renewed : std::chrono::steady_clock::now() + kRetryInterval;
    lock.lock();
  }
}

}  // namespace skewless::controlplane
