// Reading destinations out of a cgroup sock_addr context (connect4 and friends).
#pragma once

#include <bpf/bpf_endian.h>

#include "vmlinux.h"

// The kernel stores the port in the low 16 bits of the 32-bit user_port field,
// still in network byte order. Read the whole word (the field is declared
// __u32, and older verifiers reject narrow loads of it) and truncate.
static __always_inline __u16 skw_sock_addr_dport(const struct bpf_sock_addr *ctx) {
  return (__u16)ctx->user_port;
}

// Only connection-oriented sockets make a connection the balancer can steer;
// a UDP connect() merely sets a default peer (resolvers do it constantly).
static __always_inline int skw_sock_addr_is_stream(const struct bpf_sock_addr *ctx) {
  return ctx->type == SOCK_STREAM;
}

// True (and the IPv4 address, network order, in *daddr) when an INET6
// connect goes to a v4-mapped address ::ffff:a.b.c.d. Each user_ip6 word is
// read whole: the verifier allows only full 4-byte loads of these fields.
static __always_inline int skw_sock_addr_v4_mapped(const struct bpf_sock_addr *ctx, __u32 *daddr) {
  if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0) return 0;
  if (ctx->user_ip6[2] != bpf_htonl(0x0000ffff)) return 0;
  *daddr = ctx->user_ip6[3];
  return 1;
}
