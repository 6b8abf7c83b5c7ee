/* How the connect-time choice reads a backend's skw_backend_load, plain C for
 * the BPF programs and userspace alike (every select.h env uses these). */
#ifndef SKEWLESS_BACKEND_LOAD_H_
#define SKEWLESS_BACKEND_LOAD_H_

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#include "skewless/abi.h"

/* A backend's load as connects weigh it: this node's open steered connections
 * (exact, so its own recent picks count at once), the splicer's in-flight streams
 * to it (each one a request it is serving), and every other node's connections to
 * it as last reported cluster-wide. */
static __always_inline __u64 skw_load_active(const struct skw_backend_load *load) {
  return load->active_conns + load->outstanding_requests + load->cluster_conns;
}

/* The splicer has the backend ejected as an outlier: an env hides it (returns
 * NULL from skw_env_backend) like an ejected one. */
static __always_inline int skw_load_ejected(const struct skw_backend_load *load, __u64 now_ns) {
  return load->ejected_until_ns > now_ns;
}

#endif  // SKEWLESS_BACKEND_LOAD_H_
