// The command lines the manifests give our binaries, against the binaries' own --help.
#include <sys/wait.h>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

bool IsFlagChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

// `flag` as a whole word of `help` (so --config does not match --config-dir).
bool Mentions(std::string_view help, std::string_view flag) {
  for (std::size_t at = help.find(flag); at != std::string_view::npos;
       at = help.find(flag, at + 1)) {
    const std::size_t end = at + flag.size();
    const bool starts_word = at == 0 || !IsFlagChar(help[at - 1]);
    const bool ends_word = end == help.size() || !IsFlagChar(help[end]);
    if (starts_word && ends_word) return true;
  }
  return false;
}

}  // namespace

std::vector<Invocation> Invocations(const ManifestSet& set) {
  std::vector<Invocation> invocations;
  for (const Workload& workload : set.Workloads()) {
    for (const YAML::Node& container : workload.containers) {
      const std::string program = Program(container);
      if (!program.starts_with("skewless-")) continue;
      Invocation invocation{
          .where = absl::StrCat(Describe(*workload.document), " container ",
                                Text(At(container, {"name"}))),
          .program = program,
          .args = Strings(At(container, {"args"})),
      };
      // Only a leading word is a subcommand; later words are flag values.
      if (!invocation.args.empty() && !invocation.args.front().starts_with("-")) {
        invocation.subcommand = invocation.args.front();
      }
      invocations.push_back(std::move(invocation));
    }
  }
  return invocations;
}

Problems CheckFlagsInHelp(const Invocation& invocation, std::string_view help) {
  Problems problems;
  for (const std::string& arg : invocation.args) {
    if (!arg.starts_with("--")) continue;
    const std::string flag = arg.substr(0, arg.find('='));
    if (!Mentions(help, flag)) {
      problems.push_back(absl::StrCat(invocation.where, ": ", invocation.program,
                                      invocation.subcommand.empty() ? "" : " ",
                                      invocation.subcommand, " has no flag ", flag));
    }
  }
  return problems;
}

absl::StatusOr<std::string> HelpText(const std::string& binary, const std::string& subcommand) {
  const std::string command = absl::StrCat("'", binary, "' ", subcommand, " --help 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string output;
  char buffer[4096];
  while (std::size_t read = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, read);
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(command, " failed (status ", status, "): ", output));
  }
  return output;
}

}  // namespace skewless::deploy
