// Reading a socket's two ends from a struct bpf_sock (ctx->sk of getsockopt and friends), in
// abi.h's address form.
#pragma once

#include <bpf/bpf_endian.h>

#include "lib/addr.h"
#include "vmlinux.h"

// Returns 0 for a socket of neither INET family. Each src_ip6/dst_ip6 word is its own access:
// the verifier allows no arithmetic on a socket pointer (see addr.h).
static __always_inline int skw_bpf_sock_ends(const struct bpf_sock *sk, struct skw_addr *local,
                                             struct skw_addr *peer) {
  __u32 family = sk->family;
  if (family == SKW_AF_INET) {
    skw_addr_set_v4(local, sk->src_ip4);
    skw_addr_set_v4(peer, sk->dst_ip4);
    return 1;
  }
  if (family == SKW_AF_INET6) {
    local->words[0] = sk->src_ip6[0];
    local->words[1] = sk->src_ip6[1];
    local->words[2] = sk->src_ip6[2];
    local->words[3] = sk->src_ip6[3];
    peer->words[0] = sk->dst_ip6[0];
    peer->words[1] = sk->dst_ip6[1];
    peer->words[2] = sk->dst_ip6[2];
    peer->words[3] = sk->dst_ip6[3];
    return 1;
  }
  return 0;
}
