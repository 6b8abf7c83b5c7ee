// The one definition of every struct that crosses the kernel/user boundary.
//
// Included by the BPF programs (clang -target bpf, after vmlinux.h) and by the
// C++ loader (g++ -std=c++20). Both sides assert the sizes below, and the
// loader checks each loaded map's key/value size against them, so the two
// views cannot drift apart silently.
#ifndef SKEWLESS_ABI_H_
#define SKEWLESS_ABI_H_

// vmlinux.h already defines the __u32 family (and clashes with the uapi
// posix_types that <linux/types.h> pulls in), so BPF code gets them from there.
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#ifdef __cplusplus
#define SKW_ABI_SIZE_ASSERT(type, bytes) \
  static_assert(sizeof(type) == (bytes), \
                #type " changed size: update both sides and SKW_ABI_VERSION")
#else
#define SKW_ABI_SIZE_ASSERT(type, bytes)  \
  _Static_assert(sizeof(type) == (bytes), \
                 #type " changed size: update both sides and SKW_ABI_VERSION")
#endif

// Bumped on any layout change of a struct below; pinned maps written by an
// older agent carry the old layout, so a mismatch means "recreate the maps".
#define SKW_ABI_VERSION 1

// --- connect_observer (bpf/connect_observer.bpf.c) ---

// Sized up front: the map is an LRU hash, so at this many destinations the
// least recently connected one is evicted instead of new ones being dropped.
#define SKW_CONN_COUNTS_MAX_ENTRIES 16384

// Destination of a connect(). Both fields in network byte order, exactly as
// the kernel hands them to cgroup/connect4 (user_ip4, low 16 bits of user_port).
struct skw_conn_key {
  __u32 daddr;
  __u16 dport;
  // Explicit and always zero: hash keys are compared bytewise, so implicit
  // padding with stack garbage would split one destination into many.
  __u16 pad;
};
SKW_ABI_SIZE_ASSERT(struct skw_conn_key, 8);

struct skw_conn_count {
  __u64 connects;
};
SKW_ABI_SIZE_ASSERT(struct skw_conn_count, 8);

#endif  // SKEWLESS_ABI_H_
