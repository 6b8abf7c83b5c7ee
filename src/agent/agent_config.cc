// Parsing and validation of the agent's YAML configuration.
#include "skewless/agent/agent_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "skewless/common/log.h"
#include "skewless/common/net.h"
#include "skewless/common/yaml_load.h"
#include "skewless/datapath/backend_set.h"

namespace skewless::agent {
namespace {

std::string Where(const std::string& source_name, const YAML::Node& node, const std::string& key) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return absl::StrCat(source_name, ": ", key);
  return absl::StrCat(source_name, ":", mark.line + 1, ":", mark.column + 1, ": ", key);
}

bool ReadBool(const YAML::Node& value, bool* out) {
  try {
    *out = value.as<bool>();
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}

// A number of seconds in [0, max], kept as milliseconds; false for anything else.
bool ReadSeconds(const YAML::Node& value, double max, std::chrono::milliseconds* out) {
  double seconds = 0;
  try {
    seconds = value.as<double>();
  } catch (const YAML::Exception&) {
    return false;
  }
  if (!(seconds >= 0 && seconds <= max)) return false;
  *out = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  return true;
}

}  // namespace

absl::StatusOr<AdsProtocol> ParseAdsProtocol(std::string_view name) {
  if (name == "delta") return AdsProtocol::kDelta;
  if (name == "sotw") return AdsProtocol::kStateOfTheWorld;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", std::string(name), "\" is not one of delta, sotw"));
}

absl::StatusOr<AgentConfig> ParseAgentConfigYaml(std::string_view document,
                                                 std::string_view source_name) {
  absl::StatusOr<YAML::Node> loaded = LoadYaml(document, source_name);
  if (!loaded.ok()) return loaded.status();
  const YAML::Node& root = *loaded;
  const std::string source(source_name);
  AgentConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": expected a mapping"));
  }
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(Where(source, entry.first, key), ": ", what));
    };
    if (key == "xds_server") {
      config.xds_servers.clear();
      if (value.IsScalar()) {
        config.xds_servers.push_back(value.Scalar());
      } else if (value.IsSequence()) {
        for (const auto& item : value) {
          if (!item.IsScalar()) return fail("expected host:port strings");
          config.xds_servers.push_back(item.Scalar());
        }
      } else {
        return fail("expected host:port or a list of them");
      }
      continue;
    }
    if (!value.IsScalar()) return fail("expected a scalar");
    const std::string text = value.Scalar();
    if (key == "xds_protocol") {
      absl::StatusOr<AdsProtocol> protocol = ParseAdsProtocol(text);
      if (!protocol.ok()) return fail(protocol.status().message());
      config.xds_protocol = *protocol;
    } else if (key == "node_name") {
      config.node_name = text;
    } else if (key == "zone") {
      config.zone = text;
    } else if (key == "cgroup") {
      config.cgroup = text;
    } else if (key == "pin_dir") {
      config.pin_dir = text;
    } else if (key == "http_listen") {
      config.http_listen = text;
    } else if (key == "log_level") {
      config.log_level = text;
    } else if (key == "log_format") {
      config.log_format = text;
    } else if (key == "uninstall_on_stop") {
      if (!ReadBool(value, &config.uninstall_on_stop)) return fail("expected true or false");
    } else if (key == "plaintext") {
      if (!ReadBool(value, &config.plaintext)) return fail("expected true or false");
    } else if (key == "load_reporting") {
      if (!ReadBool(value, &config.load_reporting)) return fail("expected true or false");
    } else if (key == "load_report_change_interval_seconds") {
      if (!ReadSeconds(value, 60, &config.load_report_change_interval)) {
        return fail("expected 0-60 seconds");
      }
    } else if (key == "cluster_load_max_age_seconds") {
      if (!ReadSeconds(value, 3600, &config.cluster_load_max_age)) {
        return fail("expected 0-3600 seconds");
      }
    } else if (key == "controlplane_ca_file") {
      config.controlplane_ca_file = text;
    } else if (key == "controlplane_server_name") {
      config.controlplane_server_name = text;
    } else if (key == "tls_client_cert_file") {
      config.tls_client_cert_file = text;
    } else if (key == "tls_client_key_file") {
      config.tls_client_key_file = text;
    } else if (key == "token_file") {
      config.token_file = text;
    } else if (key == "splicer_address") {
      config.splicer_address = text;
    } else if (key == "splicer_mark") {
      try {
        config.splicer_mark = value.as<std::uint32_t>();
      } catch (const YAML::Exception&) {
        return fail("expected a 32-bit mark (0 = none)");
      }
    } else if (key == "slow_start_window_seconds") {
      if (!ReadSeconds(value, 3600, &config.slow_start_window)) {
        return fail("expected 0-3600 seconds");
      }
    } else {
      return fail("unknown key");
    }
  }
  return config;
}

absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the config file"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseAgentConfigYaml(text.str(), path);
}

std::optional<h2::TlsClientOptions> ControlPlaneTls(const AgentConfig& config) {
  if (config.plaintext) return std::nullopt;
  return h2::TlsClientOptions{.ca_file = config.controlplane_ca_file,
                              .server_name = config.controlplane_server_name,
                              .client_cert_file = config.tls_client_cert_file,
                              .client_key_file = config.tls_client_key_file};
}

namespace {

// TLS unless plaintext is explicit; nothing that would go unused (or, for a token, go
// out in clear text) is accepted beside plaintext.
absl::Status ValidateControlPlaneSecurity(const AgentConfig& config) {
  if (config.plaintext) {
    for (const auto& [value, name] :
         {std::pair{&config.controlplane_ca_file, "controlplane_ca_file"},
          std::pair{&config.controlplane_server_name, "controlplane_server_name"},
          std::pair{&config.tls_client_cert_file, "tls_client_cert_file"},
          std::pair{&config.tls_client_key_file, "tls_client_key_file"}}) {
      if (!value->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("plaintext and ", name,
                         " exclude each other: drop --plaintext to use TLS, or the "
                         "TLS settings to talk plaintext"));
      }
    }
    if (!config.token_file.empty()) {
      return absl::InvalidArgumentError(
          "token_file: a bearer token is not sent over plaintext; give controlplane_ca_file "
          "(--controlplane-ca-file) instead of plaintext (--plaintext)");
    }
    return absl::OkStatus();
  }
  if (config.controlplane_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "controlplane_ca_file: the control plane is reached over TLS unless told otherwise; "
        "give its CA bundle (--controlplane-ca-file) or, for a plaintext control plane, "
        "--plaintext (plaintext: true)");
  }
  if (config.tls_client_cert_file.empty() != config.tls_client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_cert_file and tls_client_key_file: give both (mTLS) or neither");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAgentConfig(const AgentConfig& config) {
  if (config.node_name.empty()) {
    return absl::InvalidArgumentError(
        "node_name: required (--node-name, or NODE_NAME from the downward API)");
  }
  if (config.xds_servers.empty()) {
    return absl::InvalidArgumentError("xds_server: at least one control-plane address");
  }
  for (const std::string& server : config.xds_servers) {
    absl::StatusOr<net::HostPort> split = net::SplitHostPort(server);
    if (!split.ok() || split->host.empty() || split->port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("xds_server: \"", server, "\" is not host:port",
                       split.ok() ? " (empty host or port 0)"
                                  : absl::StrCat(" (", split.status().message(), ")")));
    }
  }
  if (absl::Status secured = ValidateControlPlaneSecurity(config); !secured.ok()) return secured;
  if (absl::StatusOr<net::HostPort> split = net::SplitHostPort(config.http_listen); !split.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("http_listen: \"", config.http_listen,
                                                   "\" is not host:port (",
                                                   split.status().message(), ")"));
  }
  if (!config.splicer_address.empty()) {
    absl::StatusOr<net::IpPort> splicer = net::ParseIpPort(config.splicer_address);
    if (!splicer.ok() || splicer->port == 0) {
      return absl::InvalidArgumentError(absl::StrCat("splicer_address: \"", config.splicer_address,
                                                     "\" is not IP:port or [IPv6]:port"));
    }
  }
  if (config.pin_dir.empty() || config.pin_dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("pin_dir: \"", config.pin_dir, "\" is not an absolute path"));
  }
  if (!config.cgroup.empty() && config.cgroup.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup: \"", config.cgroup, "\" is not an absolute path"));
  }
  if (config.cluster_load_max_age.count() < 0 ||
      config.cluster_load_max_age > std::chrono::hours(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster_load_max_age: ", config.cluster_load_max_age.count(),
                     " ms is not within 0-3600 seconds"));
  }
  if (!log::ParseLevel(config.log_level).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("log_level: \"", config.log_level, "\" is not debug, info, warn or error"));
  }
  if (!log::ParseFormat(config.log_format).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("log_format: \"", config.log_format, "\" is not logfmt or json"));
  }
  return absl::OkStatus();
}

}  // namespace skewless::agent
