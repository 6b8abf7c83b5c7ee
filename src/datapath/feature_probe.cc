// Kernel feature probes: tiny programs and maps the verifier accepts or names as unknown.
#include "skewless/datapath/feature_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace skewless::datapath {
namespace {

constexpr bpf_insn MovImm(std::uint8_t reg, std::int32_t imm) {
  return bpf_insn{
      .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = reg, .src_reg = 0, .off = 0, .imm = imm};
}
constexpr bpf_insn Call(std::int32_t helper) {
  return bpf_insn{.code = BPF_JMP | BPF_CALL, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = helper};
}
constexpr bpf_insn Exit() {
  return bpf_insn{.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0};
}

// fd of a loaded "return 1" program, or -errno.
int LoadAllowProgram(bpf_prog_type type, bpf_attach_type attach_type) {
  const bpf_insn insns[] = {MovImm(0, 1), Exit()};
  bpf_prog_load_opts opts{};
  opts.sz = sizeof(opts);
  opts.expected_attach_type = attach_type;
  const int fd = bpf_prog_load(type, "skw_probe", "GPL", insns, 2, &opts);
  return fd >= 0 ? fd : -errno;
}

// The verifier looks a helper up before checking its arguments, so a call
// with junk arguments that fails with anything but "unknown/invalid func"
// still proves the helper exists for this program type (libbpf's own probe
// works the same way, but cannot pass the expected attach type that cgroup
// sock_addr programs need).
bool HelperAvailable(bpf_prog_type type, bpf_attach_type attach_type, bpf_func_id helper) {
  const bpf_insn insns[] = {MovImm(1, 0), MovImm(2, 0), MovImm(3, 0), MovImm(4, 0),
                            Call(helper), MovImm(0, 1), Exit()};
  char log[4096] = {};
  bpf_prog_load_opts opts{};
  opts.sz = sizeof(opts);
  opts.expected_attach_type = attach_type;
  opts.log_buf = log;
  opts.log_size = sizeof(log);
  opts.log_level = 1;
  const int fd = bpf_prog_load(type, "skw_probe", "GPL", insns, 7, &opts);
  if (fd >= 0) {
    close(fd);
    return true;
  }
  return log[0] != '\0' && std::strstr(log, "unknown func") == nullptr &&
         std::strstr(log, "invalid func") == nullptr;
}

bool AttachTypeAvailable(bpf_prog_type type, bpf_attach_type attach_type) {
  const int fd = LoadAllowProgram(type, attach_type);
  if (fd < 0) return false;
  close(fd);
  return true;
}

bool MapFlagAvailable(bpf_map_type type, std::uint32_t flags) {
  bpf_map_create_opts opts{};
  opts.sz = sizeof(opts);
  opts.map_flags = flags;
  const int fd = bpf_map_create(type, "skw_probe", 4, 8, 1, &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// A real cgroup link, updated to another program and closed again: the
// restart path (adopt pinned links, swap their program) in miniature.
bool CgroupLinkUpdateAvailable(int cgroup_fd) {
  const int first = LoadAllowProgram(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT);
  const int second = LoadAllowProgram(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT);
  bool ok = false;
  if (first >= 0 && second >= 0) {
    const int link = bpf_link_create(first, cgroup_fd, BPF_CGROUP_INET4_CONNECT, nullptr);
    if (link >= 0) {
      ok = bpf_link_update(link, second, nullptr) == 0;
      close(link);
    }
  }
  if (first >= 0) close(first);
  if (second >= 0) close(second);
  return ok;
}

}  // namespace

std::vector<KernelFeature> ProbeKernelFeatures(int cgroup_fd) {
  std::vector<KernelFeature> features = {
      {"cgroup sock_addr programs (connect4/6, sendmsg, recvmsg)", "no steering at all", "4.17",
       AttachTypeAvailable(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT)},
      {"sockops programs", "no active connection counts", "4.13",
       AttachTypeAvailable(BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS)},
      {kGetpeernameHooks, "steered sockets report the pod, not the VIP, as their peer", "5.8",
       AttachTypeAvailable(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME),
       /*required=*/false},
      {kSetRetval,
       "a connect() to a Service without backends fails with EPERM instead of ECONNREFUSED", "5.18",
       HelperAvailable(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
                       BPF_FUNC_set_retval),
       /*required=*/false},
      {kGetsockoptHook,
       "the HTTP/2 splicer cannot learn a redirected client's Service: HTTP/2 Services are "
       "balanced per connection",
       "5.3", AttachTypeAvailable(BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT),
       /*required=*/false},
      {kMmapableArrays,
       "the HTTP/2 splicer cannot share its load counts: HTTP/2 Services are balanced per "
       "connection",
       "5.5", MapFlagAvailable(BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE), /*required=*/false},
      {"socket-local storage (SK_STORAGE maps)", "no per-socket VIP memory", "5.2",
       libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SK_STORAGE, nullptr) == 1},
      {"bpf_sk_storage_get() in cgroup sock_addr programs", "no per-socket VIP memory", "5.10",
       HelperAvailable(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
                       BPF_FUNC_sk_storage_get)},
      {"bpf_sk_storage_get() in sockops programs", "no self-validating connection counts", "5.3",
       HelperAvailable(BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS, BPF_FUNC_sk_storage_get)},
      {"bpf_get_socket_cookie() in cgroup sock_addr programs",
       "no reverse translation for unconnected UDP", "5.0",
       HelperAvailable(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG,
                       BPF_FUNC_get_socket_cookie)},
      {"BPF_F_INNER_MAP (inner maps of different sizes)",
       "every backend set would need the full 4097 slots", "5.10",
       MapFlagAvailable(BPF_MAP_TYPE_ARRAY, BPF_F_INNER_MAP)},
  };
  if (cgroup_fd >= 0) {
    features.push_back({"cgroup bpf_link create and in-place update",
                        "a restarted agent could not replace programs without a gap", "5.7",
                        CgroupLinkUpdateAvailable(cgroup_fd)});
  }
  return features;
}

absl::Status CheckKernelFeatures(int cgroup_fd) {
  return CheckRequiredFeatures(ProbeKernelFeatures(cgroup_fd));
}

bool HasFeature(const std::vector<KernelFeature>& features, const std::string& name) {
  return std::any_of(features.begin(), features.end(), [&](const KernelFeature& feature) {
    return feature.name == name && feature.present;
  });
}

absl::Status CheckRequiredFeatures(const std::vector<KernelFeature>& features) {
  std::vector<std::string> missing;
  for (const KernelFeature& feature : features) {
    if (feature.present || !feature.required) continue;
    missing.push_back(
        absl::StrCat(feature.name, " (Linux ", feature.since, "+; without it ", feature.why, ")"));
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the kernel lacks BPF features skewless steering needs (Linux ", kMinimumKernel,
                   " or newer has them all; or this process lacks "
                   "CAP_BPF/CAP_NET_ADMIN): ",
                   absl::StrJoin(missing, "; ")));
}

}  // namespace skewless::datapath
