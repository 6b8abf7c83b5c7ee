// One image for every container, and a Containerfile that builds and installs what the
// manifests run.
#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

// "registry/skewless:0.1.0" → {"registry/skewless", "0.1.0"}; a digest counts as the tag.
std::pair<std::string, std::string> SplitImage(std::string_view image) {
  const std::size_t digest = image.find('@');
  if (digest != std::string_view::npos) {
    return {std::string(image.substr(0, digest)), std::string(image.substr(digest + 1))};
  }
  const std::size_t slash = image.rfind('/');
  const std::size_t colon = image.rfind(':');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) {
    return {std::string(image), "latest"};
  }
  return {std::string(image.substr(0, colon)), std::string(image.substr(colon + 1))};
}

// Instructions with their backslash continuations joined, comments dropped.
std::vector<std::string> Instructions(const std::string& containerfile) {
  std::vector<std::string> instructions;
  std::string current;
  for (absl::string_view line : absl::StrSplit(containerfile, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (current.empty() && (line.empty() || line.front() == '#')) continue;
    const bool continued = absl::EndsWith(line, "\\");
    if (continued) line.remove_suffix(1);
    absl::StrAppend(&current, line, " ");
    if (!continued) {
      instructions.push_back(std::string(absl::StripAsciiWhitespace(current)));
      current.clear();
    }
  }
  return instructions;
}

}  // namespace

Problems CheckImages(const ManifestSet& set, const YAML::Node& kustomization) {
  Problems problems;
  std::set<std::string> repositories, tags;
  for (const Workload& workload : set.Workloads()) {
    for (const YAML::Node& container : workload.containers) {
      const auto [repository, tag] = SplitImage(Text(At(container, {"image"})));
      repositories.insert(repository);
      tags.insert(tag);
    }
  }
  // Both daemons and their helpers come from one build: mixing images or versions would
  // pair an agent with a control plane it was not tested with.
  if (repositories.size() != 1) {
    problems.push_back(
        absl::StrCat("containers use several images: ", absl::StrJoin(repositories, ", ")));
  }
  if (tags.size() != 1) {
    problems.push_back(absl::StrCat("containers use several tags: ", absl::StrJoin(tags, ", ")));
  }
  bool retargetable = false;
  for (const YAML::Node& image : Items(At(kustomization, {"images"}))) {
    retargetable |= repositories.size() == 1 && Text(At(image, {"name"})) == *repositories.begin();
  }
  if (!retargetable) {
    problems.push_back(
        "kustomization.yaml: images has no entry for the workloads' image (`kustomize edit set "
        "image` could not point them at a registry)");
  }
  return problems;
}

Problems CheckContainerfile(const std::string& containerfile, const ManifestSet& set) {
  Problems problems;
  std::vector<std::string> bases;
  std::set<std::string> built, installed;
  for (const std::string& instruction : Instructions(containerfile)) {
    const std::vector<std::string> words =
        absl::StrSplit(instruction, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.front() == "FROM" && words.size() >= 2) bases.push_back(words[1]);
    if (words.front() == "COPY" && words.size() >= 3 && words[1].starts_with("--from=") &&
        words.back() == "/usr/local/bin/") {
      for (std::size_t i = 2; i + 1 < words.size(); ++i) {
        installed.insert(std::filesystem::path(words[i]).filename().string());
      }
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (words[i] != "--target") continue;
      for (std::size_t j = i + 1;
           j < words.size() && !words[j].starts_with("-") && words[j] != "&&"; ++j) {
        built.insert(words[j]);
      }
    }
  }
  if (bases.size() < 2 || bases.front() != "debian:12" || bases.back() != "debian:12-slim") {
    problems.push_back("Containerfile: not a debian:12 build stage and a debian:12-slim runtime");
  }
  for (const Invocation& invocation : Invocations(set)) {
    if (!built.contains(invocation.program) || !installed.contains(invocation.program)) {
      problems.push_back(absl::StrCat("Containerfile: does not build and install ",
                                      invocation.program, " (run by ", invocation.where, ")"));
    }
  }
  // The manifests name the binaries by absolute path (the image has no entrypoint).
  for (const Workload& workload : set.Workloads()) {
    for (const YAML::Node& container : workload.containers) {
      const std::vector<std::string> command = Strings(At(container, {"command"}));
      if (!command.empty() && Program(container).starts_with("skewless-") &&
          command.front() != "/usr/local/bin/" + Program(container)) {
        problems.push_back(absl::StrCat(Describe(*workload.document), ": runs ", command.front(),
                                        ", not where the image installs it (/usr/local/bin)"));
      }
    }
  }
  return problems;
}

}  // namespace skewless::deploy
