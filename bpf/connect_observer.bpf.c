// cgroup/connect4+6 observer: counts TCP connect() attempts per IPv4 destination, never steers.
// clang-format off
// Order matters: vmlinux.h provides the kernel types bpf_helpers.h uses, and
// abi.h skips <linux/types.h> only once vmlinux.h is in.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
// clang-format on

#include "lib/sock_addr.h"
#include "skewless/abi.h"

// Returning 1 from a cgroup sock_addr program lets the syscall proceed; 0
// would fail it with EPERM. The observer must never change what apps see.
#define SKW_CONNECT_ALLOW 1

struct {
  // LRU so a long-running node with many destinations evicts stale ones
  // instead of silently refusing to count new ones.
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SKW_CONN_COUNTS_MAX_ENTRIES);
  __type(key, struct skw_conn_key);
  __type(value, struct skw_conn_count);
} conn_counts SEC(".maps");

static __always_inline void count_connect(const struct skw_conn_key *key) {
  struct skw_conn_count *count = bpf_map_lookup_elem(&conn_counts, key);
  if (count) {
    // Many CPUs connect to the same destination at once.
    __sync_fetch_and_add(&count->connects, 1);
    return;
  }
  struct skw_conn_count first = {.connects = 1};
  // NOEXIST: if another CPU created the entry since our lookup, do not
  // overwrite its count; add to it instead.
  if (bpf_map_update_elem(&conn_counts, key, &first, BPF_NOEXIST) == 0) return;
  count = bpf_map_lookup_elem(&conn_counts, key);
  if (count) __sync_fetch_and_add(&count->connects, 1);
}

SEC("cgroup/connect4")
int observe_connect4(struct bpf_sock_addr *ctx) {
  if (!skw_sock_addr_is_stream(ctx)) return SKW_CONNECT_ALLOW;

  // Zero-initialised so the pad bytes are part of a stable hash key.
  struct skw_conn_key key = {};
  key.daddr = ctx->user_ip4;
  key.dport = skw_sock_addr_dport(ctx);
  count_connect(&key);
  return SKW_CONNECT_ALLOW;
}

// gRPC (like many runtimes) dials IPv4 through a dual-stack AF_INET6 socket
// with a v4-mapped address (::ffff:a.b.c.d). Such a connect runs the INET6
// hook only, never connect4, so the observer must look here too.
SEC("cgroup/connect6")
int observe_connect6(struct bpf_sock_addr *ctx) {
  if (!skw_sock_addr_is_stream(ctx)) return SKW_CONNECT_ALLOW;

  __u32 daddr;
  if (!skw_sock_addr_v4_mapped(ctx, &daddr)) return SKW_CONNECT_ALLOW;
  struct skw_conn_key key = {};
  key.daddr = daddr;
  key.dport = skw_sock_addr_dport(ctx);
  count_connect(&key);
  return SKW_CONNECT_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
