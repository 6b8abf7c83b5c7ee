// Userspace env for select.h: backends, slots and loads in arrays, a seeded PRNG.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <vector>

#include "skewless/abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

namespace skewless::select_test {

// What skw_select reads, as plain containers. Random numbers come first from
// `scripted_random` (to force a draw) and then from a seeded PRNG, so every
// run of a test sees the same sequence.
struct Env {
  std::map<__u32, skw_backend> backends;
  std::map<__u32, __u64> active_conns;
  std::vector<__u32> slots{0};  // slots[0] is the header, never read as a backend
  std::deque<__u32> scripted_random;
  std::mt19937 prng{12345};
  __u64 now_ns = 1'000'000'000'000ull;
};

}  // namespace skewless::select_test

static __always_inline const struct skw_backend *skw_env_backend(void *env, __u32 backend_id) {
  auto *e = static_cast<skewless::select_test::Env *>(env);
  auto it = e->backends.find(backend_id);
  return it == e->backends.end() ? nullptr : &it->second;
}

static __always_inline __u64 skw_env_active(void *env, __u32 backend_id) {
  auto *e = static_cast<skewless::select_test::Env *>(env);
  auto it = e->active_conns.find(backend_id);
  return it == e->active_conns.end() ? 0 : it->second;
}

static __always_inline __u32 skw_env_slot(void *env, __u32 index) {
  auto *e = static_cast<skewless::select_test::Env *>(env);
  return index < e->slots.size() ? e->slots[index] : 0;
}

static __always_inline __u32 skw_env_random(void *env) {
  auto *e = static_cast<skewless::select_test::Env *>(env);
  if (!e->scripted_random.empty()) {
    __u32 value = e->scripted_random.front();
    e->scripted_random.pop_front();
    return value;
  }
  return static_cast<__u32>(e->prng());
}

static __always_inline __u64 skw_env_now_ns(void *env) {
  return static_cast<skewless::select_test::Env *>(env)->now_ns;
}

#include "skewless/select.h"

namespace skewless::select_test {

// A service with its backend set laid out as the agent writes it: slot 0 the
// header, then preferred-ready | other-ready | serving-terminating. Backend
// ids are 100 + slot, so an id never equals the slot index it sits in.
struct Cluster {
  Env env;
  skw_service service{};
  skw_node_config node{};
  skw_slot header{};

  Cluster(int n_preferred, int n_other_ready, int n_serving, bool prefer_local = false) {
    service.service_id = 1;
    service.flags = prefer_local ? SKW_SVC_F_PREFER_LOCAL : 0;
    header.n_preferred = static_cast<__u16>(n_preferred);
    header.n_ready = static_cast<__u16>(n_preferred + n_other_ready);
    header.n_serving = static_cast<__u16>(n_serving);
    for (int i = 0; i < n_preferred + n_other_ready; ++i) Add(SKW_BACKEND_READY);
    for (int i = 0; i < n_serving; ++i) Add(SKW_BACKEND_SERVING);
  }

  static __u32 IdOfSlot(__u32 slot) { return 100 + slot; }
  __u32 SlotCount() const { return static_cast<__u32>(env.slots.size() - 1); }

  skw_backend &Backend(__u32 slot) { return env.backends.at(IdOfSlot(slot)); }
  void SetActive(__u32 slot, __u64 active_conns) {
    env.active_conns[IdOfSlot(slot)] = active_conns;
  }

  skw_choice Select(int *result = nullptr) {
    skw_choice choice{};
    int rc = skw_select(&env, &service, &header, &node, &choice);
    if (result) *result = rc;
    return choice;
  }

  // A connect that establishes: sockops would count it on the chosen backend.
  __u32 Connect() {
    skw_choice choice = Select();
    if (choice.backend_id) ++env.active_conns[choice.backend_id];
    return choice.backend_id;
  }

 private:
  void Add(__u8 state) {
    __u32 slot = static_cast<__u32>(env.slots.size());
    skw_backend backend{};
    backend.state = state;
    backend.weight = SKW_DEFAULT_WEIGHT;
    env.backends[IdOfSlot(slot)] = backend;
    env.slots.push_back(IdOfSlot(slot));
  }
};

}  // namespace skewless::select_test
