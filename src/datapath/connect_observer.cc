// Loader for the connect4/6 observer: skeleton lifecycle, cgroup attach, map reads.
#include "skewless/datapath/connect_observer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "connect_observer.skel.h"
#include "skewless/abi.h"
#include "skewless/common/net.h"
#include "skewless/datapath/bpf_util.h"

namespace skewless::datapath {
namespace {

// Every map of the program with the abi.h structs it holds: the one list a new
// map must join so the load-time size check covers it.
struct MapWithAbi {
  const bpf_map* map;
  std::uint32_t abi_key_size_bytes;
  std::uint32_t abi_value_size_bytes;
};

std::vector<MapWithAbi> MapsWithAbi(const connect_observer_bpf& skel) {
  return {{skel.maps.conn_counts, sizeof(skw_conn_key), sizeof(skw_conn_count)}};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConnectObserver>> ConnectObserver::Attach(
    const std::string& cgroup_path) {
  RouteLibbpfWarningsToStderr();
  absl::StatusOr<ScopedFd> cgroup_fd = OpenCgroup2Dir(cgroup_path);
  if (!cgroup_fd.ok()) return cgroup_fd.status();

  connect_observer_bpf* skel = connect_observer_bpf::open();
  if (skel == nullptr) {
    return absl::ErrnoToStatus(errno, "opening the connect_observer BPF skeleton");
  }
  // From here on the destructor owns the skeleton, on every error path too.
  std::unique_ptr<ConnectObserver> observer(new ConnectObserver(skel, cgroup_path));

  if (int err = connect_observer_bpf::load(skel); err != 0) {
    return absl::ErrnoToStatus(-err,
                               "loading connect_observer into the kernel (the verifier "
                               "log, if any, is in libbpf's warnings on stderr)");
  }

  for (const MapWithAbi& map : MapsWithAbi(*skel)) {
    absl::StatusOr<MapLayout> loaded = ReadMapLayout(bpf_map__fd(map.map));
    if (!loaded.ok()) return loaded.status();
    absl::Status matches =
        CheckMapLayout(*loaded, map.abi_key_size_bytes, map.abi_value_size_bytes);
    if (!matches.ok()) return matches;
  }

  // bpf_links (not legacy prog attaches) so the programs go away with the
  // link fds: a crashed owner cannot leave them attached.
  skel->links.observe_connect4 =
      bpf_program__attach_cgroup(skel->progs.observe_connect4, cgroup_fd->get());
  if (skel->links.observe_connect4 == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("attaching connect_observer (cgroup/connect4) "
                                                   "to cgroup ",
                                                   cgroup_path));
  }
  skel->links.observe_connect6 =
      bpf_program__attach_cgroup(skel->progs.observe_connect6, cgroup_fd->get());
  if (skel->links.observe_connect6 == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("attaching connect_observer (cgroup/connect6) "
                                                   "to cgroup ",
                                                   cgroup_path));
  }
  return observer;
}

ConnectObserver::~ConnectObserver() { connect_observer_bpf::destroy(skel_); }

absl::StatusOr<std::vector<ConnectCount>> ConnectObserver::Counts() const {
  const int map_fd = bpf_map__fd(skel_->maps.conn_counts);
  std::vector<ConnectCount> counts;
  skw_conn_key key{};
  const skw_conn_key* previous = nullptr;
  for (;;) {
    skw_conn_key next{};
    if (int err = bpf_map_get_next_key(map_fd, previous, &next); err != 0) {
      if (err == -ENOENT) break;  // walked past the last key
      return absl::ErrnoToStatus(-err, "iterating BPF map conn_counts");
    }
    skw_conn_count value{};
    if (int err = bpf_map_lookup_elem(map_fd, &next, &value); err == 0) {
      const std::string daddr =
          net::IpAddress::FromInAddr(in_addr{.s_addr = next.daddr}).ToString();
      counts.push_back({.daddr = daddr, .dport = ntohs(next.dport), .connects = value.connects});
    } else if (err != -ENOENT) {  // ENOENT: evicted by LRU between the two calls
      return absl::ErrnoToStatus(-err, "reading BPF map conn_counts");
    }
    key = next;
    previous = &key;
  }
  return counts;
}

absl::StatusOr<std::vector<MapLayout>> ConnectObserver::MapLayouts() const {
  std::vector<MapLayout> layouts;
  for (const MapWithAbi& map : MapsWithAbi(*skel_)) {
    absl::StatusOr<MapLayout> loaded = ReadMapLayout(bpf_map__fd(map.map));
    if (!loaded.ok()) return loaded.status();
    layouts.push_back(*std::move(loaded));
  }
  return layouts;
}

absl::StatusOr<std::uint32_t> ConnectObserver::ProgramId() const {
  bpf_prog_info info{};
  __u32 info_len = sizeof(info);
  if (int err =
          bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.observe_connect4), &info, &info_len);
      err != 0) {
    return absl::ErrnoToStatus(-err, "reading info of program observe_connect4");
  }
  return info.id;
}

}  // namespace skewless::datapath
