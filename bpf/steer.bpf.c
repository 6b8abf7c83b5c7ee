// Steering data path: connect/sendmsg to a Service VIP go to a backend chosen by select.h.
// clang-format off
// Order matters: vmlinux.h provides the kernel types bpf_helpers.h uses, and
// abi.h skips <linux/types.h> only once vmlinux.h is in.
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "lib/addr.h"
#include "lib/bpf_sock.h"
#include "lib/sock_addr.h"
#include "lib/sock_ops.h"
#include "lib/steer_env.h"
#include "lib/steer_maps.h"
#include "skewless/abi.h"
#include "skewless/select.h"

// A cgroup sock_addr program's return value is the verdict: 1 lets the
// syscall proceed (with whatever we rewrote), 0 fails it, with EPERM unless
// bpf_set_retval() chose another errno first.
#define SKW_VERDICT_ALLOW 1
#define SKW_VERDICT_DENY 0

// vmlinux.h carries no errno, SOL_* or netfilter macros (AF_* are in lib/addr.h).
#define SKW_ECONNREFUSED 111
#define SKW_SOL_IP 0
#define SKW_SOL_IPV6 41
// netfilter's SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST (SOL_IPV6).
#define SKW_SO_ORIGINAL_DST 80

// Where a steered connect or datagram went.
struct skw_steered {
  struct skw_addr backend;
  __u16 backend_port;  // network order
  __u16 vip_port;      // network order
  __u32 backend_id;    // 0 when sent to the splicer
  __u32 spliced;
};

// Writes the chosen backend over the destination the application gave.
// An AF_INET hook gets the IPv4 address; an AF_INET6 hook all four words,
// which for an IPv4 backend is its v4-mapped form, exactly what a dual-stack
// socket dialling ::ffff:a.b.c.d expects.
static __always_inline void skw_rewrite_destination(struct bpf_sock_addr *ctx, int hook_is_v6,
                                                    const struct skw_steered *steered) {
  if (hook_is_v6) {
    skw_sock_addr_set_ip6(ctx, &steered->backend);
  } else {
    ctx->user_ip4 = steered->backend.words[3];
  }
  // The port lives in the low 16 bits of the 32-bit field, network order.
  ctx->user_port = steered->backend_port;
}

// A SKW_SVC_F_SPLICE service's TCP connect goes to the node's splicer unless
// none is configured, none holds the lease (stopped, draining or crashed), the
// socket is the splicer's own (its SO_MARK), or the splicer listens in the
// other address family than the VIP's.
static __always_inline int skw_goes_to_splicer(const struct bpf_sock_addr *ctx,
                                               const struct skw_service *service,
                                               const struct skw_node_config *node,
                                               const struct skw_addr *vip) {
  const __u32 lease_key = 0;
  if (!(service->flags & SKW_SVC_F_SPLICE) || !node || node->splicer_port == 0) return 0;
  if (!skw_sock_addr_is_stream(ctx)) return 0;
  const struct skw_splicer_lease *lease = bpf_map_lookup_elem(&skw_splicer, &lease_key);
  if (!lease || bpf_ktime_get_ns() >= lease->alive_until_ns) return 0;
  if (node->splicer_mark != 0) {
    struct bpf_sock *sk = ctx->sk;
    if (!sk || sk->mark == node->splicer_mark) return 0;
  }
  return skw_addr_is_v4_mapped(&node->splicer_addr) == skw_addr_is_v4_mapped(vip);
}

// The worker shared by connect and sendmsg: looks the destination up as a
// Service and, when it is one, chooses a backend and rewrites the
// destination. Returns 1 when steered, 0 when the destination is no
// Service (left untouched), -ECONNREFUSED when the Service has no usable
// backend. *reason always says which.
static __always_inline int skw_steer(struct bpf_sock_addr *ctx, const struct skw_addr *vip,
                                     int hook_is_v6, struct skw_steered *steered, __u32 *reason) {
  const __u32 header_slot = 0;
  const __u32 node_key = 0;

  *reason = SKW_REASON_NOT_A_SERVICE;
  // Zeroed whole: the pad byte is part of the hash key.
  struct skw_service_key key = {};
  key.vip = *vip;
  key.port = skw_sock_addr_dport(ctx);
  key.proto = (__u8)ctx->protocol;
  const struct skw_service *service = bpf_map_lookup_elem(&skw_services, &key);
  if (!service) return 0;

  const struct skw_node_config *node = bpf_map_lookup_elem(&skw_node, &node_key);
  if (skw_goes_to_splicer(ctx, service, node, vip)) {
    *reason = SKW_REASON_SPLICED;
    steered->backend = node->splicer_addr;
    steered->backend_port = node->splicer_port;
    steered->vip_port = key.port;
    steered->spliced = 1;
    skw_rewrite_destination(ctx, hook_is_v6, steered);
    return 1;
  }

  *reason = SKW_REASON_NONE;
  // No set (yet, or any more) means no backend: refuse rather than let the
  // connect go to a VIP nothing answers on and hang until it times out.
  void *backend_set = bpf_map_lookup_elem(&skw_backend_sets, &service->service_id);
  if (!backend_set) return -SKW_ECONNREFUSED;
  const struct skw_slot *header_in_map = bpf_map_lookup_elem(backend_set, &header_slot);
  if (!header_in_map) return -SKW_ECONNREFUSED;
  // One snapshot of the counts for the whole choice.
  struct skw_slot header = *header_in_map;

  // The clock the agent uses for skw_backend.ready_since_ns (CLOCK_MONOTONIC).
  struct skw_steer_env env = {.backend_set = backend_set,
                              .vip_is_v4 = skw_addr_is_v4_mapped(vip),
                              .now_ns = bpf_ktime_get_ns()};
  struct skw_choice choice = {};
  int err = skw_select(&env, service, &header, node, &choice);
  *reason = choice.reason;
  if (err) return -SKW_ECONNREFUSED;

  // Read again rather than trusting a pointer held across select: the agent
  // may have deleted the backend since (it deletes only unreferenced ones,
  // but a set swap can race this connect).
  const struct skw_backend *backend = bpf_map_lookup_elem(&skw_backends, &choice.backend_id);
  if (!backend) {
    *reason = SKW_REASON_NONE;
    return -SKW_ECONNREFUSED;
  }
  steered->backend = backend->addr;
  steered->backend_port = backend->port;
  steered->vip_port = key.port;
  steered->backend_id = choice.backend_id;
  skw_rewrite_destination(ctx, hook_is_v6, steered);
  return 1;
}

// Remembers the VIP with the socket (getpeername) and where it went (sockops
// counts it from its connect on). Connected UDP sockets get it too, for
// getpeername; sockops only ever sees TCP.
static __always_inline void skw_remember_steered(struct bpf_sock_addr *ctx,
                                                 const struct skw_addr *vip,
                                                 const struct skw_steered *steered) {
  struct skw_sock_state *state =
      bpf_sk_storage_get(&skw_sock_states, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  // Out of memory: the connect still goes to the backend, it is just not
  // counted. Refusing it would turn memory pressure into an outage.
  if (!state) return;
  // A counted socket is in some backend's active_conns; overwriting its
  // backend_id would make the close decrement the wrong backend. TCP runs
  // this hook only on unconnected sockets, and closing clears `counted`, so
  // this is a guard against kernel behaviour changing, not a normal path.
  if (state->counted) return;
  state->vip = *vip;
  state->backend = steered->backend;
  state->vip_port = steered->vip_port;
  state->backend_port = steered->backend_port;
  state->backend_id = steered->backend_id;
  state->flags = steered->spliced ? SKW_SOCK_F_SPLICED : 0;
}

static __always_inline int skw_connect(struct bpf_sock_addr *ctx, const struct skw_addr *vip,
                                       int hook_is_v6, __u32 *reason) {
  struct skw_steered steered = {};
  int steered_or_err = skw_steer(ctx, vip, hook_is_v6, &steered, reason);
  if (steered_or_err <= 0) return steered_or_err;
  skw_remember_steered(ctx, vip, &steered);
  return 0;
}

// Unconnected UDP: each datagram is its own choice, and the reply's source
// must be turned back into the VIP, keyed by socket and backend.
static __always_inline int skw_sendmsg(struct bpf_sock_addr *ctx, const struct skw_addr *vip,
                                       int hook_is_v6, __u32 *reason) {
  struct skw_steered steered = {};
  int steered_or_err = skw_steer(ctx, vip, hook_is_v6, &steered, reason);
  if (steered_or_err <= 0) return steered_or_err;
  struct skw_udp_rev_key key = {};
  key.cookie = bpf_get_socket_cookie(ctx);
  key.backend = steered.backend;
  key.port = steered.backend_port;
  struct skw_udp_rev rev = {};
  rev.vip = *vip;
  rev.port = steered.vip_port;
  // A full LRU evicts; a failed update only means a reply shows the pod's
  // address, so the datagram is sent either way.
  bpf_map_update_elem(&skw_udp_rev, &key, &rev, BPF_ANY);
  return 0;
}

// Set by the loader before load: false on kernels without bpf_set_retval()
// (before 5.18), where the branch that calls it is dead code the verifier
// never visits, and a refused connect fails with EPERM instead.
const volatile bool skw_have_set_retval = true;

// The entry points stay thin: the worker returns -errno, the entry counts
// the reason and turns the error into the syscall's verdict and errno.
static __always_inline int skw_verdict(int err, __u32 reason) {
  skw_count_reason(reason);
  if (err) {
    if (skw_have_set_retval) bpf_set_retval(err);
    return SKW_VERDICT_DENY;
  }
  return SKW_VERDICT_ALLOW;
}

SEC("cgroup/connect4")
int skw_connect4(struct bpf_sock_addr *ctx) {
  // Services are keyed by the v4-mapped VIP, so connect4 and a dual-stack
  // connect6 to the same IPv4 Service find the same entry.
  struct skw_addr vip;
  skw_addr_set_v4(&vip, ctx->user_ip4);
  __u32 reason;
  int err = skw_connect(ctx, &vip, 0, &reason);
  return skw_verdict(err, reason);
}

// gRPC (like many runtimes) dials IPv4 through an AF_INET6 socket with a
// v4-mapped address; such a connect runs only this hook, never connect4.
SEC("cgroup/connect6")
int skw_connect6(struct bpf_sock_addr *ctx) {
  struct skw_addr vip;
  skw_sock_addr_ip6(ctx, &vip);
  __u32 reason;
  int err = skw_connect(ctx, &vip, 1, &reason);
  return skw_verdict(err, reason);
}

// The kernel runs the sendmsg hooks only for datagrams that carry their own
// destination (unconnected UDP); connected sockets were steered at connect.
SEC("cgroup/sendmsg4")
int skw_sendmsg4(struct bpf_sock_addr *ctx) {
  struct skw_addr vip;
  skw_addr_set_v4(&vip, ctx->user_ip4);
  __u32 reason;
  int err = skw_sendmsg(ctx, &vip, 0, &reason);
  return skw_verdict(err, reason);
}

SEC("cgroup/sendmsg6")
int skw_sendmsg6(struct bpf_sock_addr *ctx) {
  struct skw_addr vip;
  skw_sock_addr_ip6(ctx, &vip);
  __u32 reason;
  int err = skw_sendmsg(ctx, &vip, 1, &reason);
  return skw_verdict(err, reason);
}

// recvmsg sees the source address of a datagram about to be returned to the
// application (recvfrom/recvmsg with a msg_name). It cannot fail the call:
// the kernel only accepts 1 from these programs.
static __always_inline void skw_restore_reply_source(struct bpf_sock_addr *ctx, int hook_is_v6,
                                                     const struct skw_addr *source) {
  struct skw_udp_rev_key key = {};
  key.cookie = bpf_get_socket_cookie(ctx);
  key.backend = *source;
  key.port = skw_sock_addr_dport(ctx);
  const struct skw_udp_rev *rev = bpf_map_lookup_elem(&skw_udp_rev, &key);
  if (!rev) return;
  if (hook_is_v6) {
    skw_sock_addr_set_ip6(ctx, &rev->vip);
  } else {
    ctx->user_ip4 = rev->vip.words[3];
  }
  ctx->user_port = rev->port;
}

SEC("cgroup/recvmsg4")
int skw_recvmsg4(struct bpf_sock_addr *ctx) {
  struct skw_addr source;
  skw_addr_set_v4(&source, ctx->user_ip4);
  skw_restore_reply_source(ctx, 0, &source);
  return SKW_VERDICT_ALLOW;
}

SEC("cgroup/recvmsg6")
int skw_recvmsg6(struct bpf_sock_addr *ctx) {
  struct skw_addr source;
  skw_sock_addr_ip6(ctx, &source);
  skw_restore_reply_source(ctx, 1, &source);
  return SKW_VERDICT_ALLOW;
}

// getpeername: report the VIP the application dialled, not the pod. Only
// when the socket's peer still is the backend we chose: a connected UDP
// socket can be re-connected elsewhere, and its storage outlives that.
static __always_inline void skw_report_vip_as_peer(struct bpf_sock_addr *ctx, int hook_is_v6) {
  const struct skw_sock_state *state = bpf_sk_storage_get(&skw_sock_states, ctx->sk, 0, 0);
  if (!state) return;
  if (skw_sock_addr_dport(ctx) != state->backend_port) return;
  if (hook_is_v6) {
    struct skw_addr peer;
    skw_sock_addr_ip6(ctx, &peer);
    if (!skw_addr_equal(&peer, &state->backend)) return;
    skw_sock_addr_set_ip6(ctx, &state->vip);
  } else {
    if (!skw_addr_is_v4_mapped(&state->backend) || ctx->user_ip4 != state->backend.words[3]) {
      return;
    }
    if (!skw_addr_is_v4_mapped(&state->vip)) return;
    ctx->user_ip4 = state->vip.words[3];
  }
  ctx->user_port = state->vip_port;
}

SEC("cgroup/getpeername4")
int skw_getpeername4(struct bpf_sock_addr *ctx) {
  skw_report_vip_as_peer(ctx, 0);
  return SKW_VERDICT_ALLOW;
}

SEC("cgroup/getpeername6")
int skw_getpeername6(struct bpf_sock_addr *ctx) {
  skw_report_vip_as_peer(ctx, 1);
  return SKW_VERDICT_ALLOW;
}

// True when the established socket's peer is where its storage says it was
// sent (a backend, or the splicer). sockops sees every TCP connection of the
// cgroup, including direct ones to a pod IP and sockets whose storage is
// stale; only a match is ours.
static __always_inline int skw_peer_is_target(const struct skw_tuple *t,
                                              const struct skw_sock_state *state) {
  return t->remote_port == state->backend_port && skw_addr_equal(&t->remote, &state->backend);
}

static __always_inline void skw_origin_key_of(const struct skw_tuple *t,
                                              struct skw_origin_key *key) {
  key->client = t->local;
  key->splicer = t->remote;
  key->client_port = t->local_port;
  key->splicer_port = t->remote_port;
}

// A connection to the splicer is up: remember what it dialled, under the
// 4-tuple the splicer's accepted socket will show. This runs before the
// client's ACK is sent, so the entry exists before the splicer can accept.
static __always_inline void skw_record_origin(struct bpf_sock_ops *skops, const struct skw_tuple *t,
                                              const struct skw_sock_state *state) {
  struct skw_origin_key key = {};
  skw_origin_key_of(t, &key);
  struct skw_origin origin = {};
  origin.vip = state->vip;
  origin.vip_port = state->vip_port;
  // A full LRU evicts the oldest; a failure leaves the splicer unable to
  // route this one connection, which it then closes.
  bpf_map_update_elem(&skw_origins, &key, &origin, BPF_ANY);
  bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

// A connection to a backend is load from its connect on, not from its handshake: a node's
// own burst of connects within one round trip must see its earlier picks, or least-loaded
// sends every one of them to the same pod. A connect that fails passes TCP_CLOSE and is
// uncounted there. total_conns counts it once established. `established` is 0 at
// TCP_CONNECT (the destination and source port are set, the SYN not yet sent) and 1 at
// ACTIVE_ESTABLISHED, which also counts sockets whose connect this program did not see
// (attached mid-handshake).
static __always_inline void skw_count_connection(struct bpf_sock_ops *skops, int established) {
  struct bpf_sock *sk = skops->sk;
  if (!sk) return;
  struct skw_sock_state *state = bpf_sk_storage_get(&skw_sock_states, sk, 0, 0);
  if (!state) return;
  struct skw_tuple tuple = {};
  if (!skw_read_tuple(skops, &tuple) || !skw_peer_is_target(&tuple, state)) return;
  if (state->flags & SKW_SOCK_F_SPLICED) {
    if (established) skw_record_origin(skops, &tuple, state);
    return;
  }
  struct skw_backend_load *load = bpf_map_lookup_elem(&skw_backend_loads, &state->backend_id);
  if (!load) return;
  if (!state->counted) {
    // Many CPUs connect to the same backend at once.
    __sync_fetch_and_add(&load->active_conns, 1);
    state->counted = 1;
    // Ask for state callbacks on this socket only, to see it close (or its connect fail).
    bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
  }
  if (established) __sync_fetch_and_add(&load->total_conns, 1);
}

static __always_inline void skw_count_closed(struct bpf_sock_ops *skops) {
  struct bpf_sock *sk = skops->sk;
  if (!sk) return;
  struct skw_sock_state *state = bpf_sk_storage_get(&skw_sock_states, sk, 0, 0);
  if (!state || !state->counted) return;
  state->counted = 0;
  struct skw_backend_load *load = bpf_map_lookup_elem(&skw_backend_loads, &state->backend_id);
  if (!load) return;
  // Never wrap below zero (if the count was reset under us, e.g. the maps
  // were recreated while this socket was open). A compare-and-swap would
  // close the remaining race but needs -mcpu=v3; every decrement here pairs
  // with one increment above, so only an outside reset can race it.
  if (load->active_conns > 0) __sync_fetch_and_add(&load->active_conns, -1);
}

// The client's socket to the splicer is gone for good. Kept until TCP_CLOSE,
// not dropped when it leaves ESTABLISHED: a client that sends a request and
// half-closes at once may do so before the splicer has asked for the origin.
static __always_inline void skw_forget_origin(struct bpf_sock_ops *skops) {
  struct bpf_sock *sk = skops->sk;
  if (!sk) return;
  struct skw_sock_state *state = bpf_sk_storage_get(&skw_sock_states, sk, 0, 0);
  if (!state || !(state->flags & SKW_SOCK_F_SPLICED)) return;
  struct skw_tuple tuple = {};
  if (!skw_read_tuple(skops, &tuple) || !skw_peer_is_target(&tuple, state)) return;
  struct skw_origin_key key = {};
  skw_origin_key_of(&tuple, &key);
  bpf_map_delete_elem(&skw_origins, &key);
}

SEC("sockops")
int skw_sockops(struct bpf_sock_ops *skops) {
  switch (skops->op) {
    case BPF_SOCK_OPS_TCP_CONNECT_CB:
      skw_count_connection(skops, 0);
      break;
    case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
      skw_count_connection(skops, 1);
      break;
    case BPF_SOCK_OPS_STATE_CB:
      // args[0] is the old state, args[1] the new one. A connection stops
      // being load the moment either side closes it (it leaves ESTABLISHED),
      // not when the kernel finally frees it: an orphaned FIN_WAIT2 socket
      // can linger up to tcp_fin_timeout (60 s) before TCP_CLOSE. Every other
      // way a socket ends (RST, abort, timeout) still passes TCP_CLOSE.
      if (skops->args[0] == BPF_TCP_ESTABLISHED || skops->args[1] == BPF_TCP_CLOSE) {
        skw_count_closed(skops);
      }
      if (skops->args[1] == BPF_TCP_CLOSE) skw_forget_origin(skops);
      break;
    default:
      break;
  }
  // sockops' return value only matters for ops that ask for a reply.
  return 1;
}

// Answers SO_ORIGINAL_DST (SOL_IP, or IP6T_SO_ORIGINAL_DST on SOL_IPV6) on
// the splicer's accepted sockets with the Service the client dialled, as
// iptables' REDIRECT would: the splicer needs no knowledge of BPF. Sockets
// with no skw_origins entry get the kernel's own answer unchanged. The
// kernel runs this for the cgroup of the socket, and an accepted socket
// belongs to its listener's: the splicer's listener must be opened under
// the attach point (the node's root cgroup in production).
SEC("cgroup/getsockopt")
int skw_getsockopt(struct bpf_sockopt *ctx) {
  // The verdict of a getsockopt program: 1 returns ctx->retval and
  // ctx->optval to the caller.
  if (ctx->optname != SKW_SO_ORIGINAL_DST) return 1;
  int level = ctx->level;
  if (level != SKW_SOL_IP && level != SKW_SOL_IPV6) return 1;
  struct bpf_sock *sk = ctx->sk;
  if (!sk) return 1;
  // The accepted socket's local end is the splicer, its peer the client.
  struct skw_origin_key key = {};
  if (!skw_bpf_sock_ends(sk, &key.splicer, &key.client)) return 1;
  key.splicer_port = bpf_htons((__u16)sk->src_port);  // host order in bpf_sock
  key.client_port = sk->dst_port;                     // network order
  const struct skw_origin *origin = bpf_map_lookup_elem(&skw_origins, &key);
  if (!origin) return 1;

  if (level == SKW_SOL_IP) {
    // An IPv4 answer exists only for an IPv4 Service.
    if (!skw_addr_is_v4_mapped(&origin->vip)) return 1;
    struct sockaddr_in *answer = ctx->optval;
    if ((void *)(answer + 1) > ctx->optval_end) return 1;
    __builtin_memset(answer, 0, sizeof(*answer));
    answer->sin_family = SKW_AF_INET;
    answer->sin_port = origin->vip_port;
    answer->sin_addr.s_addr = origin->vip.words[3];
    ctx->optlen = sizeof(*answer);
  } else {
    struct sockaddr_in6 *answer = ctx->optval;
    if ((void *)(answer + 1) > ctx->optval_end) return 1;
    __builtin_memset(answer, 0, sizeof(*answer));
    answer->sin6_family = SKW_AF_INET6;
    answer->sin6_port = origin->vip_port;
    answer->sin6_addr.in6_u.u6_addr32[0] = origin->vip.words[0];
    answer->sin6_addr.in6_u.u6_addr32[1] = origin->vip.words[1];
    answer->sin6_addr.in6_u.u6_addr32[2] = origin->vip.words[2];
    answer->sin6_addr.in6_u.u6_addr32[3] = origin->vip.words[3];
    ctx->optlen = sizeof(*answer);
  }
  ctx->retval = 0;
  return 1;
}

// "Dual BSD/GPL" is GPL-compatible for the kernel, which the GPL-only
// helpers used here (bpf_sk_storage_get among them) require.
char LICENSE[] SEC("license") = "Dual BSD/GPL";
