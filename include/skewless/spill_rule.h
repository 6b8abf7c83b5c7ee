/* When a choice leaves the preferred tier (same zone or node) for the rest: written once,
 * plain C, for the connect hook (select.h, in BPF and userspace) and for the splicer's
 * balancer (balance/cost.cc), which weigh different loads (connections, outstanding
 * streams) with different costs but must spill by the same rule. */
#ifndef SKEWLESS_SPILL_RULE_H_
#define SKEWLESS_SPILL_RULE_H_

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#include "skewless/abi.h"

#define SKW_PERMILLE 1000
/* docs/datapath.md: spill at 2x the cost and 8 more in flight. */
#define SKW_DEFAULT_SPILL_RATIO_PERMILLE 2000
#define SKW_DEFAULT_SPILL_MIN_DELTA 8
#define SKW_SPILL_RATIO_MAX_PERMILLE 1000000u
/* Costs above this are clamped, so cost x ratio (<= 1e6) stays below 2^64. */
#define SKW_SPILL_COST_MAX (1ull << 43)

/* Leave the preferred tier only when it is clearly worse: its winner costs more than
 * ratio x the outside sample AND carries at least min_delta more in flight, so a lightly
 * loaded local tier never spills on noise. A zero ratio or delta means the default. */
static __always_inline int skw_spill_rule(__u64 preferred_cost, __u64 preferred_load,
                                          __u64 other_cost, __u64 other_load, __u64 ratio_permille,
                                          __u64 min_delta) {
  if (ratio_permille == 0) ratio_permille = SKW_DEFAULT_SPILL_RATIO_PERMILLE;
  if (ratio_permille > SKW_SPILL_RATIO_MAX_PERMILLE) ratio_permille = SKW_SPILL_RATIO_MAX_PERMILLE;
  if (min_delta == 0) min_delta = SKW_DEFAULT_SPILL_MIN_DELTA;
  if (preferred_cost > SKW_SPILL_COST_MAX) preferred_cost = SKW_SPILL_COST_MAX;
  if (other_cost > SKW_SPILL_COST_MAX) other_cost = SKW_SPILL_COST_MAX;
  return preferred_cost * SKW_PERMILLE > ratio_permille * other_cost &&
         preferred_load >= other_load + min_delta;
}

/* Whether a policy weighs load (and so may spill by it). */
static __always_inline int skw_policy_uses_load(__u32 policy) { return policy != SKW_LB_RANDOM; }

#endif /* SKEWLESS_SPILL_RULE_H_ */
