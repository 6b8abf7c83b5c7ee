// One program per load: libbpf loads a whole object or nothing, so a rejected program
// would hide whether its siblings load. Maps are created fresh and unpinned each time.
#include "skewless/datapath/program_probe.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "connect_observer.skel.h"
#include "kernel_fit.h"
#include "steer.skel.h"

namespace skewless::datapath {
namespace {

constexpr std::size_t kLogBytes = 1 << 20;
constexpr std::size_t kLogTailLines = 40;

std::string Tail(const char* log) {
  const std::vector<std::string> lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
  const std::size_t from = lines.size() > kLogTailLines ? lines.size() - kLogTailLines : 0;
  std::string tail;
  for (std::size_t i = from; i < lines.size(); ++i) absl::StrAppend(&tail, lines[i], "\n");
  return tail;
}

// Opens `Skeleton` once per program and loads that program alone.
template <typename Skeleton>
void ProbeObject(const std::string& object, const std::vector<KernelFeature>& features,
                 std::vector<ProgramLoad>& out) {
  std::vector<std::string> left_out;
  if constexpr (std::is_same_v<Skeleton, steer_bpf>) left_out = ProgramsLeftOut(features);
  std::vector<std::string> names;
  {
    Skeleton* skel = Skeleton::open();
    if (skel == nullptr) {
      out.push_back({.object = object, .error = "cannot open the skeleton"});
      return;
    }
    bpf_program* program = nullptr;
    bpf_object__for_each_program(program, skel->obj) names.emplace_back(bpf_program__name(program));
    Skeleton::destroy(skel);
  }
  auto log = std::make_unique<std::array<char, kLogBytes>>();
  for (const std::string& name : names) {
    Skeleton* skel = Skeleton::open();
    ProgramLoad result{.object = object, .name = name};
    if (skel == nullptr) {
      result.error = "cannot open the skeleton";
      out.push_back(result);
      continue;
    }
    if (std::find(left_out.begin(), left_out.end(), name) != left_out.end()) {
      result.left_out = true;
      result.error = "left out: this kernel lacks the optional feature it needs";
      Skeleton::destroy(skel);
      out.push_back(std::move(result));
      continue;
    }
    if constexpr (std::is_same_v<Skeleton, steer_bpf>) {
      FitToKernel(skel->obj, &skel->rodata->skw_have_set_retval, features);
    }
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, nullptr);
    bpf_program* program = nullptr;
    bpf_object__for_each_program(program, skel->obj) {
      const bool chosen = name == bpf_program__name(program);
      bpf_program__set_autoload(program, chosen);
      if (!chosen) continue;
      result.section = bpf_program__section_name(program);
      (*log)[0] = '\0';
      // Level 0 with a buffer: libbpf asks the verifier for its log only on failure.
      bpf_program__set_log_buf(program, log->data(), log->size());
    }
    const int err = Skeleton::load(skel);
    result.loaded = err == 0;
    if (!result.loaded) {
      result.error = absl::StrCat("load failed: ", std::strerror(-err));
      result.verifier_log = Tail(log->data());
    }
    Skeleton::destroy(skel);
    out.push_back(std::move(result));
  }
}

}  // namespace

std::vector<ProgramLoad> ProbeProgramLoads(const std::vector<KernelFeature>& features) {
  std::vector<ProgramLoad> loads;
  ProbeObject<steer_bpf>("steer", features, loads);
  ProbeObject<connect_observer_bpf>("connect_observer", features, loads);
  return loads;
}

}  // namespace skewless::datapath
