// Reading a TCP socket's two ends in sockops, in abi.h's address form.
#pragma once

// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "lib/addr.h"

// Both ends of a TCP socket as sockops sees it, in abi.h's address form.
struct skw_tuple {
  struct skw_addr local;
  struct skw_addr remote;
  __u16 local_port;   // network order
  __u16 remote_port;  // network order
};

// Returns 0 for a socket of neither INET family.
static __always_inline int skw_read_tuple(const struct bpf_sock_ops *skops, struct skw_tuple *t) {
  // Every field is read up front, each pinned by barrier_var: left to
  // itself, clang merges the ip4 and ip6[3] loads of the two family
  // branches into one load at a computed ctx offset, which the verifier
  // rejects ("dereference of modified ctx ptr").
  __u32 family = skops->family;
  __u32 remote_port = skops->remote_port;
  __u32 local_port = skops->local_port;
  __u32 remote_ip4 = skops->remote_ip4;
  __u32 local_ip4 = skops->local_ip4;
  struct skw_addr remote_ip6;
  struct skw_addr local_ip6;
  remote_ip6.words[0] = skops->remote_ip6[0];
  remote_ip6.words[1] = skops->remote_ip6[1];
  remote_ip6.words[2] = skops->remote_ip6[2];
  remote_ip6.words[3] = skops->remote_ip6[3];
  local_ip6.words[0] = skops->local_ip6[0];
  local_ip6.words[1] = skops->local_ip6[1];
  local_ip6.words[2] = skops->local_ip6[2];
  local_ip6.words[3] = skops->local_ip6[3];
  barrier_var(remote_ip4);
  barrier_var(local_ip4);
  barrier_var(remote_ip6.words[0]);
  barrier_var(remote_ip6.words[1]);
  barrier_var(remote_ip6.words[2]);
  barrier_var(remote_ip6.words[3]);
  barrier_var(local_ip6.words[0]);
  barrier_var(local_ip6.words[1]);
  barrier_var(local_ip6.words[2]);
  barrier_var(local_ip6.words[3]);

  // Quirks: remote_port holds the network-order port in its upper 16 bits
  // (unlike bpf_sock_addr.user_port, which uses the lower 16); local_port is
  // in host order.
  t->remote_port = (__u16)(remote_port >> 16);
  t->local_port = bpf_htons((__u16)local_port);
  if (family == SKW_AF_INET) {
    skw_addr_set_v4(&t->remote, remote_ip4);
    skw_addr_set_v4(&t->local, local_ip4);
    return 1;
  }
  if (family == SKW_AF_INET6) {
    // Dual-stack sockets to IPv4 peers report v4-mapped addresses here, the
    // same form abi.h stores.
    t->remote = remote_ip6;
    t->local = local_ip6;
    return 1;
  }
  return 0;
}
