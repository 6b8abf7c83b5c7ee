// abi.h's address (struct skw_addr: IPv6, IPv4 as v4-mapped) in BPF: build and compare.
//
// Reading one out of a kernel context is done per context type (sock_addr.h, sock_ops.h,
// bpf_sock.h), each word written out as its own field access: on a context the verifier
// accepts only whole 4-byte loads at a constant offset from the context pointer itself, and a
// generic copy from the array's address lets clang compute `ctx + offset` first, which it
// rejects ("dereference of modified ctx ptr"). Written out, the objects match word for word.
#pragma once

#include <bpf/bpf_endian.h>

#include "skewless/abi.h"
#include "vmlinux.h"

// Address families as the kernel numbers them (vmlinux.h carries no #defines).
#define SKW_AF_INET 2
#define SKW_AF_INET6 10

// ::ffff:0:0/96, how abi.h stores IPv4 addresses. One comparison, not three branches: this
// runs for every backend the choice draws, and each branch there multiplies the states the
// verifier walks.
static __always_inline int skw_addr_is_v4_mapped(const struct skw_addr *addr) {
  return (addr->words[0] | addr->words[1] | (addr->words[2] ^ bpf_htonl(0x0000ffff))) == 0;
}

static __always_inline void skw_addr_set_v4(struct skw_addr *addr, __u32 ip4) {
  addr->words[0] = 0;
  addr->words[1] = 0;
  addr->words[2] = bpf_htonl(0x0000ffff);
  addr->words[3] = ip4;
}

static __always_inline int skw_addr_equal(const struct skw_addr *a, const struct skw_addr *b) {
  return a->words[0] == b->words[0] && a->words[1] == b->words[1] && a->words[2] == b->words[2] &&
         a->words[3] == b->words[3];
}
