// Reading destinations out of a cgroup sock_addr context (connect4 and friends).
#pragma once

#include <bpf/bpf_endian.h>

#include "skewless/abi.h"
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

// The destination (or, in recvmsg6, the source) an INET6 hook sees, in abi.h's form. Each
// word is its own whole 4-byte access at a constant offset from ctx: the only form the
// verifier accepts on user_ip6[], and clang keeps it only when the words are written out here
// (a generic copy from the array's address lets it compute ctx + 8 first, which the verifier
// rejects as a modified context pointer).
static __always_inline void skw_sock_addr_ip6(const struct bpf_sock_addr *ctx,
                                              struct skw_addr *addr) {
  addr->words[0] = ctx->user_ip6[0];
  addr->words[1] = ctx->user_ip6[1];
  addr->words[2] = ctx->user_ip6[2];
  addr->words[3] = ctx->user_ip6[3];
}

static __always_inline void skw_sock_addr_set_ip6(struct bpf_sock_addr *ctx,
                                                  const struct skw_addr *addr) {
  ctx->user_ip6[0] = addr->words[0];
  ctx->user_ip6[1] = addr->words[1];
  ctx->user_ip6[2] = addr->words[2];
  ctx->user_ip6[3] = addr->words[3];
}
