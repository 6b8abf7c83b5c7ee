#include "skewless/agent/kernel_check.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/bpf_util.h"
#include "skewless/datapath/feature_probe.h"
#include "skewless/datapath/program_probe.h"

namespace skewless::agent {
namespace {

std::string KernelRelease() {
  utsname name{};
  return uname(&name) == 0 ? name.release : "unknown";
}

// The link probe needs a cgroup to attach to: one of our own, gone when this returns.
std::vector<datapath::KernelFeature> ProbeFeatures(const KernelCheckOptions& options,
                                                   std::string* note) {
  std::string parent = options.cgroup_parent;
  if (parent.empty()) {
    absl::StatusOr<std::string> mount = FindCgroup2Mount();
    if (!mount.ok()) {
      *note = absl::StrCat("no cgroup link probe: ", mount.status().message());
      return datapath::ProbeKernelFeatures();
    }
    parent = *mount;
  }
  absl::StatusOr<OwnedCgroup> probe =
      OwnedCgroup::Create(absl::StrCat(parent, "/skewless-kernel-check-", getpid()));
  if (!probe.ok()) {
    *note = absl::StrCat("no cgroup link probe: ", probe.status().message());
    return datapath::ProbeKernelFeatures();
  }
  absl::StatusOr<datapath::ScopedFd> fd = datapath::OpenCgroup2Dir(probe->path());
  if (!fd.ok()) {
    *note = absl::StrCat("no cgroup link probe: ", fd.status().message());
    return datapath::ProbeKernelFeatures();
  }
  return datapath::ProbeKernelFeatures(fd->get());
}

}  // namespace

int RunKernelCheck(const KernelCheckOptions& options, std::ostream& out) {
  std::string note;
  const std::vector<datapath::KernelFeature> features = ProbeFeatures(options, &note);
  const std::vector<datapath::ProgramLoad> programs = datapath::ProbeProgramLoads(features);
  const absl::Status required = datapath::CheckRequiredFeatures(features);
  bool all_load = true;
  for (const datapath::ProgramLoad& program : programs) {
    all_load &= program.loaded || program.left_out;
  }
  const bool can_run = required.ok() && all_load;

  if (options.json) {
    nlohmann::json report = {{"kernel", KernelRelease()},
                             {"minimum_kernel", datapath::kMinimumKernel},
                             {"can_run", can_run},
                             {"features", nlohmann::json::array()},
                             {"programs", nlohmann::json::array()}};
    if (!note.empty()) report["note"] = note;
    for (const datapath::KernelFeature& feature : features) {
      report["features"].push_back({{"name", feature.name},
                                    {"present", feature.present},
                                    {"required", feature.required},
                                    {"since", feature.since},
                                    {"without_it", feature.why}});
    }
    for (const datapath::ProgramLoad& program : programs) {
      nlohmann::json entry = {{"object", program.object},
                              {"name", program.name},
                              {"section", program.section},
                              {"loaded", program.loaded},
                              {"left_out", program.left_out}};
      if (!program.loaded && !program.left_out) {
        entry["error"] = program.error;
        entry["verifier_log"] = program.verifier_log;
      }
      report["programs"].push_back(std::move(entry));
    }
    out << report.dump(2) << "\n";
    return can_run ? 0 : 1;
  }

  out << "kernel " << KernelRelease() << " (skewless needs " << datapath::kMinimumKernel
      << " or newer)\n\nBPF features:\n";
  for (const datapath::KernelFeature& feature : features) {
    out << "  " << (feature.present ? "yes " : "NO  ") << feature.name << " (Linux "
        << feature.since << "+" << (feature.required ? ", required" : "") << ")";
    if (!feature.present) out << ": without it " << feature.why;
    out << "\n";
  }
  if (!note.empty()) out << "  (" << note << ")\n";
  out << "\nprograms (each loaded alone, nothing attached):\n";
  for (const datapath::ProgramLoad& program : programs) {
    out << "  "
        << (program.loaded     ? "loads    "
            : program.left_out ? "off      "
                               : "REJECTED ")
        << program.object << "/" << program.name << " (" << program.section << ")\n";
    if (!program.loaded) out << "    " << program.error << "\n" << program.verifier_log;
  }
  out << "\n"
      << (can_run ? "the agent can run on this kernel"
                  : absl::StrCat(
                        "the agent cannot run on this kernel: ",
                        required.ok() ? "a program is rejected" : std::string(required.message())))
      << "\n";
  return can_run ? 0 : 1;
}

}  // namespace skewless::agent
