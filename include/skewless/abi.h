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
#define SKW_ABI_VERSION 6

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

// --- steering data path (bpf/steer.bpf.c; docs/datapath.md) ---

// Sizes chosen up front: resizing a pinned map later means recreating it,
// which disrupts (Cilium's 64k-entry defaults are a known complaint).
#define SKW_MAX_SERVICES 262144  // VIP:port:proto entries
#define SKW_MAX_BACKENDS 262144  // backend ids are [1, SKW_MAX_BACKENDS); 0 = none
#define SKW_MAX_SET_SLOTS 4097   // per service: header slot 0 + up to 4096 backends
#define SKW_MAX_UDP_REV 65536    // unconnected-UDP reverse translations (LRU)
#define SKW_MAX_ORIGINS 65536    // connections redirected to the splicer, open now (LRU)
#define SKW_DEFAULT_WEIGHT 100

// An IPv6 address, or an IPv4 one as v4-mapped (::ffff:a.b.c.d). One form
// for both families: dual-stack sockets (gRPC's) dial IPv4 services through
// connect6 with exactly this form. Network byte order.
struct skw_addr {
  __u32 words[4];
};
SKW_ABI_SIZE_ASSERT(struct skw_addr, 16);

struct skw_service_key {
  struct skw_addr vip;
  __u16 port;  // network order
  __u8 proto;  // IPPROTO_TCP or IPPROTO_UDP
  __u8 pad;    // always zero (bytewise hash key)
};
SKW_ABI_SIZE_ASSERT(struct skw_service_key, 20);

enum skw_service_flags {
  // trafficDistribution PreferClose/PreferSameZone/PreferSameNode (or the
  // agent's default): pick from the set's preferred tier, spill by load.
  SKW_SVC_F_PREFER_LOCAL = 1u << 0,
  // appProtocol kubernetes.io/h2c or grpc: TCP connects go to the node's HTTP/2
  // splicer (skw_node_config.splicer_*) when one is configured, else to a
  // backend as usual.
  SKW_SVC_F_SPLICE = 1u << 1,
};

// How a backend is chosen inside a tier (select.h dispatches on it; the splicer's
// balance::Picker has one implementation per value). The control plane names it per
// Service (the skewless.io/load-balancing annotation); 0 is the default.
enum skw_lb_policy {
  // Power of Two Choices: the cheaper of two random backends (Envoy's LEAST_REQUEST with
  // choice_count 2), spilling out of the preferred tier by load.
  SKW_LB_LEAST_REQUEST = 0,
  // Uniformly random inside the tier, load ignored and no spill by load (kube-proxy's
  // choice, for A/B runs and for workloads whose load the counts do not reflect).
  SKW_LB_RANDOM = 1,
  // Every backend of a tier of up to SKW_SELECT_SCAN_MAX weighed and the cheapest taken
  // (ties at random); P2C above that. With every node's load known (cluster_conns), this
  // is what keeps a few long-lived connections per node even across pods.
  SKW_LB_LEAST_LOADED = 2,
  SKW_LB_POLICY_COUNT = 3,
};

// SKW_LB_LEAST_LOADED weighs every backend of a tier this small (both sides: select.h and
// the splicer's picker); a larger one gets P2C. The bound keeps the loop, three map
// lookups a turn, within the verifier's budget and a connect's cost near P2C's.
#define SKW_SELECT_SCAN_MAX 16

struct skw_service {
  __u32 service_id;            // key of the service's backend set in skw_backend_sets
  __u32 flags;                 // enum skw_service_flags
  __u32 slow_start_window_ms;  // 0 = no slow start
  __u8 lb_policy;              // enum skw_lb_policy; unknown values act as the default
  __u8 pad[3];
};
SKW_ABI_SIZE_ASSERT(struct skw_service, 16);

// One slot of a service's backend set (an inner array of skw_backend_sets,
// swapped whole for atomic updates). Slot 0 is the set's header: its
// backend_id is 0 and its counts describe the slots after it, ordered
// preferred-ready | other-ready | serving-terminating:
//   slots [1, n_preferred]            ready, in the preferred tier (same node
//                                     or zone, chosen by the agent following
//                                     kube-proxy's topology fallback)
//   slots [1, n_ready]                every ready backend (preferred first)
//   slots [n_ready+1, n_ready+n_serving]  serving but terminating
// In slots >= 1 the count fields are zero.
struct skw_slot {
  __u32 backend_id;
  __u16 n_preferred;
  __u16 n_ready;
  __u16 n_serving;
  __u16 pad;
};
SKW_ABI_SIZE_ASSERT(struct skw_slot, 12);

enum skw_backend_state {
  SKW_BACKEND_UNUSED = 0,
  SKW_BACKEND_READY = 1,
  SKW_BACKEND_SERVING = 2,  // terminating but still serving
  SKW_BACKEND_EJECTED = 3,  // outlier (the splicer ejects); no new connections
};

struct skw_backend {
  struct skw_addr addr;
  __u16 port;  // network order
  __u8 state;  // enum skw_backend_state
  __u8 pad;
  __u16 zone_id;         // the agent's zone numbering; 0 = unknown
  __u16 weight;          // relative capacity; 0 is treated as 1
  __u64 ready_since_ns;  // bpf_ktime_get_ns() clock; 0 = long ago (no slow start)
};
SKW_ABI_SIZE_ASSERT(struct skw_backend, 32);

// Written by the data path (sockops) and the splicer, never by the agent's
// set updates: load survives backend and set rewrites. The map is
// BPF_F_MMAPABLE so the splicer adds to outstanding_requests with one atomic
// instruction per stream, no syscall.
struct skw_backend_load {
  __u64 active_conns;          // TCP connections steered to it, connecting or open now
  __u64 total_conns;           // established ever
  __u64 outstanding_requests;  // the splicer's in-flight streams to it, all workers summed
  // bpf_ktime_get_ns() clock. Until then the splicer has it ejected as an
  // outlier, and connects skip it as they skip SKW_BACKEND_EJECTED ones. The
  // splicer renews it while the ejection lasts, so a dead splicer's verdict
  // expires by itself.
  __u64 ejected_until_ns;
  // Open connections to it from every other node, as the control plane last summed the
  // agents' load reports (skewless.load.v1.ClusterLoad less this node's own share).
  // Written by the agent alone, with a plain store through the mmap; 0 when the agent
  // has no fresh cluster-wide figure, so choices fall back to this node's own counts.
  __u64 cluster_conns;
};
SKW_ABI_SIZE_ASSERT(struct skw_backend_load, 40);

struct skw_node_config {
  __u16 zone_id;  // this node's zone in the agent's numbering; 0 = unknown
  __u16 pad;
  // Spill out of the preferred tier when its better P2C candidate costs more
  // than spill_ratio_permille/1000 x a sampled other candidate AND carries
  // at least spill_min_delta more active connections (so a lightly loaded
  // tier never spills on noise). Defaults 2000 and 8 (docs/datapath.md).
  __u32 spill_ratio_permille;
  __u32 spill_min_delta;
  __u32 flags;
  // The node's HTTP/2 splicer: SKW_SVC_F_SPLICE services' TCP connects go
  // here. splicer_port 0 = none (those services are steered at L4). The
  // splicer's address family must be the VIP's (an IPv4 splicer takes IPv4
  // Services only); other connects are steered at L4 too.
  struct skw_addr splicer_addr;
  __u16 splicer_port;  // network order
  __u16 pad2;
  // SO_MARK of the splicer's own sockets: never sent to the splicer (a
  // splicer dialling a Service would otherwise reach itself). 0 = none.
  __u32 splicer_mark;
};
SKW_ABI_SIZE_ASSERT(struct skw_node_config, 40);

// skw_splicer's one entry, written by the running splicer (mmapped), read by the
// connect hook: SKW_SVC_F_SPLICE connects go to the splicer only while
// bpf_ktime_get_ns() < alive_until_ns. The splicer renews it every half second
// and zeroes it when it starts draining, so a splicer that stops or crashes
// sends new connects back to L4 steering at once or within the lease, instead
// of to a port nobody listens on.
struct skw_splicer_lease {
  __u64 alive_until_ns;
  __u32 pid;  // the splicer holding it (for operators; never read by BPF)
  __u32 pad;
};
SKW_ABI_SIZE_ASSERT(struct skw_splicer_lease, 16);

// Kept with each steered socket (BPF_MAP_TYPE_SK_STORAGE, freed with it).
struct skw_sock_state {
  struct skw_addr vip;      // what the application dialled (getpeername)
  struct skw_addr backend;  // where it went: sockops counts only if the
                            // socket's peer still is this (self-validating)
  __u16 vip_port;           // network order
  __u16 backend_port;       // network order
  __u32 backend_id;         // 0 for a socket sent to the splicer
  __u32 counted;            // 1 while this socket is in active_conns
  __u32 flags;              // enum skw_sock_flags
};
SKW_ABI_SIZE_ASSERT(struct skw_sock_state, 48);

enum skw_sock_flags {
  // Sent to the splicer: `backend` is the splicer's address. Never counted
  // as a backend's load; sockops records its origin instead.
  SKW_SOCK_F_SPLICED = 1u << 0,
};

// A connection redirected to the splicer, as both ends see its 4-tuple: the
// splicer's accepted socket has its own cookie and storage, so the original
// destination is found by address. Filled by sockops when the client's
// connect completes (before its ACK leaves, so before the splicer can accept
// it), removed when the client's socket closes; read by the cgroup/getsockopt
// hook that answers SO_ORIGINAL_DST.
struct skw_origin_key {
  struct skw_addr client;
  struct skw_addr splicer;
  __u16 client_port;   // network order
  __u16 splicer_port;  // network order
};
SKW_ABI_SIZE_ASSERT(struct skw_origin_key, 36);

struct skw_origin {
  struct skw_addr vip;  // what the client dialled
  __u16 vip_port;       // network order
  __u16 pad[3];
};
SKW_ABI_SIZE_ASSERT(struct skw_origin, 24);

// Unconnected UDP: recvmsg turns a reply from a backend back into the VIP.
struct skw_udp_rev_key {
  __u64 cookie;  // the socket's cookie
  struct skw_addr backend;
  __u16 port;  // network order
  __u16 pad[3];
};
SKW_ABI_SIZE_ASSERT(struct skw_udp_rev_key, 32);

struct skw_udp_rev {
  struct skw_addr vip;
  __u16 port;  // network order
  __u16 pad[3];
};
SKW_ABI_SIZE_ASSERT(struct skw_udp_rev, 24);

// Why a backend was (or was not) chosen: the data path counts these per CPU
// and `explain` prints them.
enum skw_reason {
  SKW_REASON_NONE = 0,                // no usable backend: connect refused
  SKW_REASON_SINGLE = 1,              // only one candidate in the tier used
  SKW_REASON_P2C_PREFERRED = 2,       // P2C inside the preferred tier
  SKW_REASON_P2C_READY = 3,           // P2C over every ready backend
  SKW_REASON_SPILL_OVERLOAD = 4,      // preferred tier too loaded: other tier
  SKW_REASON_SPILL_NO_PREFERRED = 5,  // preferred tier empty or all ejected
  SKW_REASON_TERMINATING = 6,         // nothing ready: serving-terminating ones
  SKW_REASON_NOT_A_SERVICE = 7,       // destination is no VIP: untouched
  SKW_REASON_SPLICED = 8,             // sent to the node's HTTP/2 splicer
  SKW_REASON_RANDOM = 9,              // SKW_LB_RANDOM: uniformly inside the tier used
  SKW_REASON_LEAST_LOADED = 10,       // SKW_LB_LEAST_LOADED: the whole tier used weighed
  SKW_REASON_COUNT = 11,
};

struct skw_choice {
  __u32 backend_id;    // 0 when none
  __u32 reason;        // enum skw_reason
  __u32 candidate[2];  // the two P2C candidates (0 when unused)
  __u64 cost[2];       // their costs (see select.h)
};
SKW_ABI_SIZE_ASSERT(struct skw_choice, 32);

#endif  // SKEWLESS_ABI_H_
