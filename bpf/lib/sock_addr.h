// Reading destinations out of a cgroup sock_addr context (connect4 and friends).
#pragma once

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
