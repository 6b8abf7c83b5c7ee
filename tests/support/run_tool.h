// Runs one of our binaries to completion and returns its exit code, stdout and stderr, for
// tests that check a CLI's real output (skewlessctl).
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "skewless/lab/subprocess.h"

namespace skewless::testing {

struct ToolRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// argv[0] is an absolute path. Fails the test (and returns exit_code -1) when the binary
// cannot be started or does not finish within `timeout`.
inline ToolRun RunTool(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  static std::atomic<int> runs{0};
  // stderr goes to a file (lab::Child never leaves a pipe undrained).
  const std::string err_path = (std::filesystem::temp_directory_path() /
                                absl::StrCat("skewless-tool-", getpid(), "-", runs++, ".stderr"))
                                   .string();
  ToolRun run;
  absl::StatusOr<lab::Child> child = lab::Child::Spawn({.argv = argv, .log_path = err_path});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return run;
  absl::StatusOr<std::string> out = child->ReadAll(timeout);
  EXPECT_TRUE(out.ok()) << argv[0] << ": " << out.status();
  if (out.ok()) run.out = *std::move(out);
  absl::StatusOr<int> code = child->Wait(timeout);
  EXPECT_TRUE(code.ok()) << argv[0] << ": " << code.status();
  if (code.ok()) run.exit_code = *code;
  std::ifstream err(err_path);
  std::stringstream text;
  text << err.rdbuf();
  run.err = text.str();
  std::filesystem::remove(err_path);
  return run;
}

}  // namespace skewless::testing
