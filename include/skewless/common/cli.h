// Command-line parsing as every skewless tool does it (CLI11), so --help and bad flags
// behave and exit the same way everywhere.
#pragma once

#include <optional>

#include "CLI/CLI.hpp"

namespace skewless {

// Parses argv into `app`. nullopt: parsed, carry on. Otherwise the exit code main
// returns: 0 after --help (or another CLI11 early success, printed), `bad_flags_code`
// after CLI11 printed what was wrong with the flags.
inline std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv, int bad_flags_code) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : bad_flags_code;
  }
  return std::nullopt;
}

}  // namespace skewless
