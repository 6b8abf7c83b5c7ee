// select.h's env in the kernel: a service's set, backends and loads read from the steering maps.
#pragma once

// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "lib/addr.h"
#include "lib/steer_maps.h"
#include "skewless/abi.h"
#include "skewless/backend_load.h"

struct skw_steer_env {
  void *backend_set;  // the service's inner array of struct skw_slot
  // The VIP's family. A backend of the other family is hidden from the
  // choice (as if ejected): an IPv4 socket cannot be sent to an IPv6 pod, and
  // IPv6 VIPs get IPv6 backends only.
  int vip_is_v4;
  __u64 now_ns;  // one reading for the whole choice (ejections expire by it)
};

static __always_inline const struct skw_backend *skw_env_backend(void *env, __u32 backend_id) {
  const struct skw_steer_env *steer = env;
  const struct skw_backend *backend = bpf_map_lookup_elem(&skw_backends, &backend_id);
  if (!backend) return 0;
  if (skw_addr_is_v4_mapped(&backend->addr) != steer->vip_is_v4) return 0;
  const struct skw_backend_load *load = bpf_map_lookup_elem(&skw_backend_loads, &backend_id);
  if (load && skw_load_ejected(load, steer->now_ns)) return 0;
  return backend;
}

static __always_inline __u64 skw_env_active(void *env, __u32 backend_id) {
  (void)env;
  const struct skw_backend_load *load = bpf_map_lookup_elem(&skw_backend_loads, &backend_id);
  return load ? skw_load_active(load) : 0;
}

static __always_inline __u32 skw_env_slot(void *env, __u32 index) {
  const struct skw_steer_env *steer = env;
  // Out-of-range indexes come back NULL from the array: the set may be
  // smaller than its header claims while the agent swaps it.
  const struct skw_slot *slot = bpf_map_lookup_elem(steer->backend_set, &index);
  return slot ? slot->backend_id : 0;
}

static __always_inline __u32 skw_env_random(void *env) {
  (void)env;
  return bpf_get_prandom_u32();
}

static __always_inline __u64 skw_env_now_ns(void *env) {
  const struct skw_steer_env *steer = env;
  return steer->now_ns;
}

#include "skewless/select.h"
