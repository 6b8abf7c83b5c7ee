/* The one implementation of the connect-time choice, plain C: compiled into
 * the BPF programs (bpf/steer.bpf.c) and into userspace (unit tests, explain).
 * The rules are in docs/datapath.md.
 *
 * The includer defines, BEFORE including this header, how to read state:
 *
 *   static __always_inline const struct skw_backend *
 *   skw_env_backend(void *env, __u32 backend_id);           // NULL if unknown
 *   static __always_inline __u64 skw_env_active(void *env, __u32 backend_id);
 *   static __always_inline __u32 skw_env_slot(void *env, __u32 index);
 *                                  // backend id in slot `index` (>= 1), 0 if none
 *   static __always_inline __u32 skw_env_random(void *env);  // uniform u32
 *   static __always_inline __u64 skw_env_now_ns(void *env);  // bpf_ktime_get_ns clock
 *
 * In BPF these are map lookups and helpers; in tests, arrays and a seeded PRNG.
 * An env may also hide a backend (return NULL) that this connect cannot use,
 * e.g. an IPv6 backend for an IPv4 VIP: it is then skipped like an ejected one.
 *
 * Verifier notes: every loop has a constant bound, all arithmetic is 64-bit
 * integer with operands clamped so products cannot overflow, and every divisor
 * is provably non-zero. No floats, no recursion. */
#ifndef SKEWLESS_SELECT_H_
#define SKEWLESS_SELECT_H_

/* BPF gets __always_inline from bpf_helpers.h, glibc userspace from
 * <sys/cdefs.h>; anything else gets the same meaning here. */
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#include "skewless/abi.h"
#include "skewless/backend_load.h"
#include "skewless/spill_rule.h"

/* Positive errno value returned negated when nothing can take the connection
 * (BPF has no <errno.h>; this is ENOENT's value on Linux). */
#define SKW_SELECT_ENOENT 2

/* Draws per candidate. A tier this small is scanned whole (from a random
 * start), so "every backend ejected" is detected exactly; a larger one is
 * sampled this many times, so it is missed only if a fraction f of it is
 * ejected with probability f^16 (1.5e-5 at half the tier ejected). */
#define SKW_SELECT_MAX_PROBES 16

/* Slow start begins at Envoy's minimum weight factor, 0.1. */
#define SKW_SLOW_START_MIN_PERMILLE 100

/* Overflow guard. With active <= 2^24 the cost is < 1.7e11 (the ramp is at least 100
 * permille), under spill_rule.h's clamp. 16M connections to one backend is far past any
 * real load. */
#define SKW_SELECT_ACTIVE_CAP (1ull << 24)

/* The env contract, declared again so a mismatching definition fails to
 * compile instead of being called with the wrong types. */
static __always_inline const struct skw_backend *skw_env_backend(void *env, __u32 backend_id);
static __always_inline __u64 skw_env_active(void *env, __u32 backend_id);
static __always_inline __u32 skw_env_slot(void *env, __u32 index);
static __always_inline __u32 skw_env_random(void *env);
static __always_inline __u64 skw_env_now_ns(void *env);

/* Returns 0 with out->backend_id set, or -ENOENT-like (negative) when no
 * backend can take the connection (out->reason == SKW_REASON_NONE).
 * out->candidate/cost hold the two P2C candidates (the second 0 when only one
 * was found); after a spill they hold the preferred winner and the sampled
 * backend outside the preferred tier that took the connection. */
static __always_inline int skw_select(void *env, const struct skw_service *service,
                                      const struct skw_slot *header,
                                      const struct skw_node_config *node, struct skw_choice *out);

/* One drawn candidate: its slot offset inside the tier and what it costs. */
struct skw_candidate {
  __u32 backend_id;
  __u32 offset;
  __u64 active_conns;
  __u64 cost;
};

/* Ejected backends take no new connections; UNUSED ones are ids the agent
 * has not (or no longer) filled in. SERVING ones only appear in the
 * terminating tier, or in a ready tier the agent has not rebuilt yet. */
static __always_inline int skw_backend_usable(const struct skw_backend *backend) {
  return backend->state == SKW_BACKEND_READY || backend->state == SKW_BACKEND_SERVING;
}

/* Linear slow-start ramp: 100 permille when the backend became ready, 1000
 * once the service's window has passed. ready_since_ns == 0 means "long ago".
 * A ready_since in the future (clock skew between writer and kernel) counts
 * as "just became ready". */
static __always_inline __u32 skw_ramp_permille(const struct skw_service *service,
                                               const struct skw_backend *backend, __u64 now_ns) {
  if (service->slow_start_window_ms == 0 || backend->ready_since_ns == 0) return SKW_PERMILLE;
  if (now_ns <= backend->ready_since_ns) return SKW_SLOW_START_MIN_PERMILLE;
  __u64 window_ns = (__u64)service->slow_start_window_ms * 1000000ull; /* > 0, < 2^42 */
  __u64 elapsed_ns = now_ns - backend->ready_since_ns;
  if (elapsed_ns >= window_ns) return SKW_PERMILLE;
  /* elapsed < 2^42, so 900 x elapsed < 2^52. */
  return SKW_SLOW_START_MIN_PERMILLE +
         (__u32)((SKW_PERMILLE - SKW_SLOW_START_MIN_PERMILLE) * elapsed_ns / window_ns);
}

/* cost = (active + 1) x 1000 x 1000 / (weight x ramp_permille): a weight-200
 * backend costs half a weight-100 one at equal load; a backend at the start
 * of slow start costs 10x. */
static __always_inline __u64 skw_cost(__u64 active_conns, __u16 weight, __u32 ramp_permille) {
  if (active_conns > SKW_SELECT_ACTIVE_CAP) active_conns = SKW_SELECT_ACTIVE_CAP;
  __u64 effective_weight = weight ? weight : 1; /* abi.h: weight 0 is treated as 1 */
  if (ramp_permille == 0) ramp_permille = 1;    /* cannot happen; keeps the divisor > 0 */
  return (active_conns + 1) * 1000000ull / (effective_weight * ramp_permille);
}

/* Weighs backend_id (in slot `offset` of its tier) into *out; 0 when it cannot take the
 * connection (no such slot or backend, ejected, unused). */
static __always_inline int skw_weigh(void *env, const struct skw_service *service, __u64 now_ns,
                                     __u32 backend_id, __u32 offset, struct skw_candidate *out) {
  if (backend_id == 0) return 0;
  const struct skw_backend *backend = skw_env_backend(env, backend_id);
  if (!backend || !skw_backend_usable(backend)) return 0;
  out->backend_id = backend_id;
  out->offset = offset;
  out->active_conns = skw_env_active(env, backend_id);
  if (out->active_conns > SKW_SELECT_ACTIVE_CAP) out->active_conns = SKW_SELECT_ACTIVE_CAP;
  out->cost =
      skw_cost(out->active_conns, backend->weight, skw_ramp_permille(service, backend, now_ns));
  return 1;
}

/* Draws one usable backend from the tier's slots [first_slot, first_slot +
 * n_slots), never the slot at offset skip_offset (pass n_slots for "none")
 * nor backend skip_id. The skipped slot is removed from the range before
 * drawing, so the second P2C candidate is uniform over the other slots.
 * Returns 1 and fills *out, or 0 when the bounded draws found nothing. */
static __always_inline int skw_pick(void *env, const struct skw_service *service, __u64 now_ns,
                                    __u32 first_slot, __u32 n_slots, __u32 skip_offset,
                                    __u32 skip_id, struct skw_candidate *out) {
  int skipping = skip_offset < n_slots;
  __u32 n_drawable = skipping ? n_slots - 1 : n_slots;
  if (n_drawable == 0) return 0;
  __u32 start = skw_env_random(env) % n_drawable;
  for (__u32 probe = 0; probe < SKW_SELECT_MAX_PROBES; probe++) {
    __u32 position;
    if (n_drawable <= SKW_SELECT_MAX_PROBES) {
      /* Small tier: walk it once from the random start. */
      if (probe >= n_drawable) break;
      position = start + probe;
      if (position >= n_drawable) position -= n_drawable;
    } else {
      position = probe == 0 ? start : skw_env_random(env) % n_drawable;
    }
    __u32 offset = (skipping && position >= skip_offset) ? position + 1 : position;
    __u32 backend_id = skw_env_slot(env, first_slot + offset);
    if (backend_id == skip_id) continue;
    if (skw_weigh(env, service, now_ns, backend_id, offset, out)) return 1;
  }
  return 0;
}

/* Least loaded over a whole tier of at most SKW_SELECT_SCAN_MAX slots: every usable
 * backend weighed, the cheapest wins, ties broken uniformly by a random key drawn per
 * backend (no slot position is favoured). Only the winner is kept (*first): a counter or
 * a runner-up would be state the verifier tracks precisely across iterations, and the
 * paths it must walk would grow with every turn. Returns 0, 1, or 2 when more than one
 * backend was weighed. */
static __always_inline int skw_scan(void *env, const struct skw_service *service, __u64 now_ns,
                                    __u32 first_slot, __u32 n_slots, struct skw_candidate *first,
                                    struct skw_candidate *winner) {
  __u32 first_key = 0;
  int several = 0;
  first->backend_id = 0;
  for (__u32 offset = 0; offset < SKW_SELECT_SCAN_MAX; offset++) {
    if (offset >= n_slots) break;
    struct skw_candidate c = {0, 0, 0, 0};
    if (!skw_weigh(env, service, now_ns, skw_env_slot(env, first_slot + offset), offset, &c)) {
      continue;
    }
    __u32 key = skw_env_random(env);
    if (first->backend_id != 0) several = 1;
    if (first->backend_id == 0 || c.cost < first->cost ||
        (c.cost == first->cost && key < first_key)) {
      *first = c;
      first_key = key;
    }
  }
  *winner = *first;
  if (first->backend_id == 0) return 0;
  return several ? 2 : 1;
}

/* Power of Two Choices over two distinct slots of one tier. Returns how many
 * candidates were found (0, 1 or 2); the winner is copied to *winner. */
static __always_inline int skw_p2c(void *env, const struct skw_service *service, __u64 now_ns,
                                   __u32 first_slot, __u32 n_slots, struct skw_candidate *first,
                                   struct skw_candidate *second, struct skw_candidate *winner) {
  if (!skw_pick(env, service, now_ns, first_slot, n_slots, n_slots, 0, first)) return 0;
  if (!skw_pick(env, service, now_ns, first_slot, n_slots, first->offset, first->backend_id,
                second)) {
    *winner = *first;
    return 1;
  }
  /* Ties go to the first draw, which is itself random. */
  *winner = second->cost < first->cost ? *second : *first;
  return 2;
}

/* Whether skw_choose_in_tier weighs the whole tier of n_slots rather than two draws. Only
 * the ready tier of a Service without a zone preference is scanned (may_scan): each scan
 * site adds a full walk of the scan's paths to what the verifier checks (at all three
 * sites the connect programs took 630k of its 1M instructions, at this one 212k against
 * P2C's 181k), and the preferred and terminating tiers keep P2C. */
static __always_inline int skw_scanned(const struct skw_service *service, __u32 n_slots,
                                       int may_scan) {
  return may_scan && service->lb_policy == SKW_LB_LEAST_LOADED && n_slots <= SKW_SELECT_SCAN_MAX;
}

/* The service's policy inside one tier: the one place a new policy plugs in on this side
 * (balance/pickers.cc is the other). Returns how many candidates were weighed (0 when the
 * tier has no usable backend); SKW_LB_RANDOM weighs one. */
static __always_inline int skw_choose_in_tier(void *env, const struct skw_service *service,
                                              __u64 now_ns, __u32 first_slot, __u32 n_slots,
                                              int may_scan, struct skw_candidate *first,
                                              struct skw_candidate *second,
                                              struct skw_candidate *winner) {
  if (service->lb_policy == SKW_LB_RANDOM) {
    if (!skw_pick(env, service, now_ns, first_slot, n_slots, n_slots, 0, first)) return 0;
    *winner = *first;
    return 1;
  }
  if (skw_scanned(service, n_slots, may_scan)) {
    second->backend_id = 0;
    second->cost = 0;
    return skw_scan(env, service, now_ns, first_slot, n_slots, first, winner);
  }
  return skw_p2c(env, service, now_ns, first_slot, n_slots, first, second, winner);
}

/* spill_rule.h's rule on active connections, with the node's thresholds. */
static __always_inline int skw_should_spill(const struct skw_node_config *node,
                                            const struct skw_candidate *preferred,
                                            const struct skw_candidate *other) {
  return skw_spill_rule(preferred->cost, preferred->active_conns, other->cost, other->active_conns,
                        node ? node->spill_ratio_permille : 0, node ? node->spill_min_delta : 0);
}

static __always_inline void skw_choice_set(struct skw_choice *out, __u32 reason,
                                           const struct skw_candidate *chosen,
                                           const struct skw_candidate *first,
                                           const struct skw_candidate *second, int n_found) {
  out->backend_id = chosen->backend_id;
  out->reason = reason;
  out->candidate[0] = first->backend_id;
  out->cost[0] = first->cost;
  if (n_found == 2) {
    out->candidate[1] = second->backend_id;
    out->cost[1] = second->cost;
  }
}

static __always_inline int skw_select(void *env, const struct skw_service *service,
                                      const struct skw_slot *header,
                                      const struct skw_node_config *node, struct skw_choice *out) {
  out->backend_id = 0;
  out->reason = SKW_REASON_NONE;
  out->candidate[0] = 0;
  out->candidate[1] = 0;
  out->cost[0] = 0;
  out->cost[1] = 0;

  /* The header comes from a map the agent writes: clamp every count to the
   * slots a set can hold, so a bad header cannot send us past the array. */
  __u32 max_backends = SKW_MAX_SET_SLOTS - 1;
  __u32 n_ready = header->n_ready;
  if (n_ready > max_backends) n_ready = max_backends;
  __u32 n_serving = header->n_serving;
  if (n_serving > max_backends - n_ready) n_serving = max_backends - n_ready;
  __u32 n_preferred = header->n_preferred;
  if (n_preferred > n_ready) n_preferred = n_ready;
  int prefer_local = (service->flags & SKW_SVC_F_PREFER_LOCAL) != 0;
  int random_policy = service->lb_policy == SKW_LB_RANDOM;

  __u64 now_ns = skw_env_now_ns(env);
  struct skw_candidate first = {0, 0, 0, 0};
  struct skw_candidate second = {0, 0, 0, 0};
  struct skw_candidate winner = {0, 0, 0, 0};
  int n_found;

  /* 1. The preferred tier (same node or zone, chosen by the agent). */
  if (prefer_local && n_preferred > 0) {
    n_found = skw_choose_in_tier(env, service, now_ns, 1, n_preferred, 0, &first, &second, &winner);
    if (n_found) {
      __u32 n_other = n_ready - n_preferred;
      /* The spill rule needs winner.active >= other.active + min_delta, so a
       * winner below min_delta cannot spill: skip the extra draw. */
      __u32 min_delta =
          node && node->spill_min_delta ? node->spill_min_delta : SKW_DEFAULT_SPILL_MIN_DELTA;
      struct skw_candidate other = {0, 0, 0, 0};
      if (skw_policy_uses_load(service->lb_policy) && n_other > 0 &&
          winner.active_conns >= min_delta &&
          skw_pick(env, service, now_ns, 1 + n_preferred, n_other, n_other, 0, &other) &&
          skw_should_spill(node, &winner, &other)) {
        skw_choice_set(out, SKW_REASON_SPILL_OVERLOAD, &other, &winner, &other, 2);
        return 0;
      }
      __u32 reason = random_policy  ? SKW_REASON_RANDOM
                     : n_found == 2 ? SKW_REASON_P2C_PREFERRED
                                    : SKW_REASON_SINGLE;
      skw_choice_set(out, reason, &winner, &first, &second, n_found);
      return 0;
    }
    /* Every preferred backend is ejected or gone: fall through. */
  }

  /* 2. Every ready backend outside the preferred tier (all of them when
   *    there is no preference, or the preferred tier is empty). */
  __u32 rest_first = prefer_local ? 1 + n_preferred : 1;
  __u32 rest_count = prefer_local ? n_ready - n_preferred : n_ready;
  n_found = skw_choose_in_tier(env, service, now_ns, rest_first, rest_count, !prefer_local, &first,
                               &second, &winner);
  if (n_found) {
    __u32 reason = prefer_local                          ? SKW_REASON_SPILL_NO_PREFERRED
                   : random_policy                       ? SKW_REASON_RANDOM
                   : n_found == 1                        ? SKW_REASON_SINGLE
                   : skw_scanned(service, rest_count, 1) ? SKW_REASON_LEAST_LOADED
                                                         : SKW_REASON_P2C_READY;
    skw_choice_set(out, reason, &winner, &first, &second, n_found);
    return 0;
  }

  /* 3. Nothing ready: serving-but-terminating backends (kube-proxy's rule). */
  n_found =
      skw_choose_in_tier(env, service, now_ns, 1 + n_ready, n_serving, 0, &first, &second, &winner);
  if (n_found) {
    skw_choice_set(out, SKW_REASON_TERMINATING, &winner, &first, &second, n_found);
    return 0;
  }
  return -SKW_SELECT_ENOENT;
}

#endif /* SKEWLESS_SELECT_H_ */
