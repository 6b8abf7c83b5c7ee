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
 * Userspace defines __always_inline as inline before including. */
#ifndef SKEWLESS_SELECT_H_
#define SKEWLESS_SELECT_H_

#include "skewless/abi.h"

/* Returns 0 with out->backend_id set, or -ENOENT-like (negative) when no
 * backend can take the connection (out->reason == SKW_REASON_NONE). */
static __always_inline int skw_select(void *env, const struct skw_service *service,
                                      const struct skw_slot *header,
                                      const struct skw_node_config *node,
                                      struct skw_choice *out);

#endif /* SKEWLESS_SELECT_H_ */
