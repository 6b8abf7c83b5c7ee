// Command-line parsing as every skewless tool does it (CLI11), so --help, bad flags and
// flags over a config file behave and exit the same way everywhere.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

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

// Flags that override fields of a config read from a file. The file's name is itself a
// flag, so the config exists only after parsing: each flag parses into a value of its
// own, and ApplyTo writes the flags that were given (CLI11's count, so an explicit
// `--flag=false` counts too) over the config. Precedence: flag > file > default.
//
// `field` is anything std::invoke turns into a reference to the config's field: a member
// pointer (&Config::zone) or an accessor ([](Config& c) -> auto& { return c.lrs.expiry; }).
template <typename Config>
class FlagOverrides {
 public:
  // --flag sets the field to its value as given. A bool field makes an option-less flag
  // (name it "--x,!--no-x" for a negation).
  template <typename Field>
  CLI::Option* Add(CLI::App& app, const std::string& flag, Field field, const std::string& help) {
    using Value = std::remove_cvref_t<std::invoke_result_t<Field, Config&>>;
    return Add<Value>(app, flag, field, help,
                      [](const Value& value) -> absl::StatusOr<Value> { return value; });
  }

  // --flag parses as `Parsed`; `convert` turns that into the field's value or an error,
  // which ApplyTo reports as "--flag: <error>".
  template <typename Parsed, typename Field, typename Convert>
  CLI::Option* Add(CLI::App& app, const std::string& flag, Field field, const std::string& help,
                   Convert convert) {
    auto parsed = std::make_shared<Parsed>();
    CLI::Option* option;
    if constexpr (std::is_same_v<Parsed, bool>) {
      option = app.add_flag(flag, *parsed, help);
    } else {
      option = app.add_option(flag, *parsed, help);
    }
    overrides_.push_back([option, parsed, field, convert](Config& config) -> absl::Status {
      if (option->count() == 0) return absl::OkStatus();
      auto value = convert(*parsed);
      if (!value.ok()) {
        return absl::Status(value.status().code(),
                            absl::StrCat(option->get_name(), ": ", value.status().message()));
      }
      std::invoke(field, config) = *std::move(value);
      return absl::OkStatus();
    });
    return option;
  }

  // Writes every given flag over `config`, in the order they were added. All are applied
  // even past a bad one; the first error is returned.
  absl::Status ApplyTo(Config& config) const {
    absl::Status first_error;
    for (const auto& apply : overrides_) first_error.Update(apply(config));
    return first_error;
  }

 private:
  std::vector<std::function<absl::Status(Config&)>> overrides_;
};

inline std::chrono::milliseconds MillisecondsOf(double seconds) {
  return std::chrono::milliseconds(static_cast<long>(seconds * 1000));
}

// A FlagOverrides converter: seconds as given, a milliseconds field.
inline absl::StatusOr<std::chrono::milliseconds> SecondsToMilliseconds(double seconds) {
  return MillisecondsOf(seconds);
}

// A FlagOverrides converter: seconds within [min, max], a milliseconds field.
inline auto SecondsWithin(int min, int max) {
  return [min, max](double seconds) -> absl::StatusOr<std::chrono::milliseconds> {
    if (seconds < min || seconds > max) {
      return absl::InvalidArgumentError(absl::StrCat("expected ", min, "-", max, " seconds"));
    }
    return MillisecondsOf(seconds);
  };
}

// A flag in seconds bound to a milliseconds value that holds its default (shown in --help)
// and receives what is given.
inline CLI::Option* AddSecondsOption(CLI::App& app, const std::string& flag,
                                     std::chrono::milliseconds& target, const std::string& help) {
  CLI::Option* option = app.add_option_function<double>(
      flag, [&target](double seconds) { target = MillisecondsOf(seconds); }, help);
  // As CLI11 prints a double default (capture_default_str): no trailing zeros.
  std::ostringstream shown;
  shown << static_cast<double>(target.count()) / 1000;
  option->default_str(shown.str());
  return option;
}

// A flag bound to an absl::Duration that holds its default (shown in --help): "10s",
// "500ms", "1m30s" (absl's syntax) or a bare number of seconds. With `min`, a value below
// it is refused naming the flag.
inline CLI::Option* AddDurationOption(CLI::App& app, const std::string& flag, absl::Duration* value,
                                      const std::string& help,
                                      absl::Duration min = -absl::InfiniteDuration()) {
  return app
      .add_option_function<std::string>(
          flag,
          [flag, value, min](const std::string& text) {
            double seconds = 0;
            if (absl::SimpleAtod(text, &seconds)) {
              *value = absl::Seconds(seconds);
            } else if (!absl::ParseDuration(text, value)) {
              throw CLI::ValidationError(flag,
                                         "expected a duration like 10s or 500ms, got " + text);
            }
            if (*value < min) {
              throw CLI::ValidationError(
                  flag,
                  (min == absl::ZeroDuration() ? std::string("must not be negative")
                                               : "must be at least " + absl::FormatDuration(min)) +
                      ", got " + text);
            }
          },
          help + " (default " + absl::FormatDuration(*value) + ")")
      ->type_name("DURATION");
}

}  // namespace skewless
