// The steering maps (docs/datapath.md), each defined once; sizes and structs from abi.h.
#pragma once

// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
// clang-format on

#include "skewless/abi.h"

// Every map is pinned by name, so the loader can pin them under the directory
// it passes as bpf_object_open_opts.pin_root_path and a restarted agent (or
// skewlessctl) reuses them: services keep steering and live connection counts
// are not lost across restarts. skw_reasons is pinned too: its counters are
// what skewlessctl reads, and they should not reset when the agent restarts.

// The agent writes services and backends from userspace only, so the BPF side
// never allocates in them; BPF_F_NO_PREALLOC saves the ~23 MB each that a
// preallocated 262144-entry hash would hold even when nearly empty.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SKW_MAX_SERVICES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skw_service_key);
  __type(value, struct skw_service);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_services SEC(".maps");

// Template of one service's backend set. BPF_F_INNER_MAP lets each inner
// array have its own max_entries (a 3-backend service needs 4 slots, not
// 4097); the price is that the verifier no longer inlines lookups into it.
// Key and value are given by size, not __type: clang 14 emits a struct named
// two pointer levels deep in .maps only as a BTF forward declaration, which
// libbpf cannot size (and a BTF key without a BTF value is rejected). The
// kernel matches inner maps by type, key/value size and flags, never by BTF,
// so the inner arrays the agent creates fit either way.
struct skw_backend_set {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SKW_MAX_SET_SLOTS);
  __uint(map_flags, BPF_F_INNER_MAP);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct skw_slot));
};

// service id -> inner array; the agent swaps a whole set in one update.
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, SKW_MAX_SERVICES);
  __type(key, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
  __array(values, struct skw_backend_set);
} skw_backend_sets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SKW_MAX_BACKENDS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct skw_backend);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_backends SEC(".maps");

// An ARRAY indexed by backend id: entries always exist, so sockops can add to
// a backend's count with one atomic op and no "create if missing" race.
// Mmapable: the splicer counts its streams in it with atomic adds of its own.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SKW_MAX_BACKENDS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct skw_backend_load);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_backend_loads SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct skw_node_config);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_node SEC(".maps");

// One entry: the splicer's lease (abi.h). Mmapable: the splicer renews it with
// a plain store, no syscall.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct skw_splicer_lease);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_splicer SEC(".maps");

// Socket-local storage is freed with the socket, so a steered socket that
// dies any way at all (RST, abort, process killed) leaves nothing behind.
// The kernel requires BPF_F_NO_PREALLOC and max_entries 0 for SK_STORAGE.
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct skw_sock_state);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_sock_states SEC(".maps");

// LRU: unconnected UDP sockets never tell us when a flow ends, so the least
// recently used translations make room instead of new ones being dropped.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SKW_MAX_UDP_REV);
  __type(key, struct skw_udp_rev_key);
  __type(value, struct skw_udp_rev);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_udp_rev SEC(".maps");

// Connections redirected to the splicer, by 4-tuple (abi.h skw_origin_key).
// LRU: an entry whose close sockops never saw (the maps were recreated under
// an open socket) ages out instead of filling the map.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SKW_MAX_ORIGINS);
  __type(key, struct skw_origin_key);
  __type(value, struct skw_origin);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_origins SEC(".maps");

// Per CPU: counted on every connect without atomics; readers sum the CPUs.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SKW_REASON_COUNT);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} skw_reasons SEC(".maps");

static __always_inline void skw_count_reason(__u32 reason) {
  __u64 *count = bpf_map_lookup_elem(&skw_reasons, &reason);
  if (count) *count += 1;
}
