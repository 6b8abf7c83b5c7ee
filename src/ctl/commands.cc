// Each subcommand: read what it needs, render it as a table or JSON, map errors to exit codes.
#include "skewless/ctl/commands.h"

#include "absl/strings/str_cat.h"
#include "skewless/ctl/datapath_state.h"
#include "skewless/ctl/explain.h"
#include "skewless/ctl/render.h"
#include "skewless/ctl/service_view.h"
#include "skewless/ctl/status.h"
#include "skewless/ctl/xds_view.h"

namespace skewless::ctl {
namespace {

int Fail(std::ostream& err, const absl::Status& status, int code = kExitError) {
  std::string hint;
  if (absl::IsPermissionDenied(status)) {
    hint = " (reading BPF maps needs root: CAP_BPF and CAP_SYS_ADMIN)";
  }
  err << "skewlessctl: " << status.message() << hint << "\n";
  return code;
}

// Reads the data path; on failure prints why and sets the exit code (3 when none is there).
std::optional<DatapathState> ReadOrReport(const CommonOptions& options, std::ostream& err,
                                          int* exit_code) {
  absl::StatusOr<DatapathState> state = ReadDatapathState(options.pin_dir);
  if (state.ok()) return *std::move(state);
  *exit_code =
      Fail(err, state.status(), absl::IsNotFound(state.status()) ? kExitNoDatapath : kExitError);
  return std::nullopt;
}

// Zone names when the agent answers; ids are shown otherwise (the renderers say so).
ZoneNames Zones(const CommonOptions& options) {
  if (options.agent_url.empty()) return {};
  absl::StatusOr<ZoneNames> zones = FetchZoneNames(options.agent_url);
  return zones.ok() ? *std::move(zones) : ZoneNames{};
}

bool AgentUrlValid(const CommonOptions& options, std::ostream& err) {
  if (options.agent_url.empty()) return true;
  absl::Status valid = ValidateAgentUrl(options.agent_url);
  if (!valid.ok()) Fail(err, valid);
  return valid.ok();
}

// The table or the JSON, whichever was asked for; only that one is built.
template <typename TextOf, typename JsonOf>
int Emit(std::ostream& out, OutputFormat output, TextOf text_of, JsonOf json_of) {
  if (output == OutputFormat::kJson) {
    // Names come from Kubernetes via the agent: never let a stray byte abort the output.
    out << json_of().dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  } else {
    out << text_of();
  }
  return kExitOk;
}

}  // namespace

int RunServices(const CommonOptions& options, std::ostream& out, std::ostream& err) {
  int code = kExitOk;
  std::optional<DatapathState> state = ReadOrReport(options, err, &code);
  if (!state) return code;
  const std::vector<ServiceView> services = BuildServiceViews(*state);
  return Emit(
      out, options.output, [&] { return RenderServicesText(services); },
      [&] { return ServicesJson(services); });
}

int RunBackends(const CommonOptions& options, const std::optional<std::string>& service,
                const std::string& protocol, std::ostream& out, std::ostream& err) {
  if (!AgentUrlValid(options, err)) return kExitUsage;
  std::optional<skw_service_key> key;
  if (service) {
    absl::StatusOr<skw_service_key> parsed = ParseServiceKey(*service, protocol);
    if (!parsed.ok()) return Fail(err, parsed.status(), kExitUsage);
    key = *parsed;
  }
  int code = kExitOk;
  std::optional<DatapathState> state = ReadOrReport(options, err, &code);
  if (!state) return code;
  const ZoneNames zones = Zones(options);
  if (!key) {
    const std::vector<BackendView> backends = BuildBackendViews(*state);
    return Emit(
        out, options.output, [&] { return RenderBackendsText(backends, zones, state->now_ns); },
        [&] { return BackendsJson(backends, zones, state->now_ns); });
  }
  absl::StatusOr<ServiceView> view = FindService(*state, *key);
  if (!view.ok()) return Fail(err, view.status());
  return Emit(
      out, options.output, [&] { return RenderServiceBackendsText(*view, zones, state->now_ns); },
      [&] { return ServiceBackendsJson(*view, zones, state->now_ns); });
}

int RunLoad(const CommonOptions& options, std::ostream& out, std::ostream& err) {
  if (!AgentUrlValid(options, err)) return kExitUsage;
  int code = kExitOk;
  std::optional<DatapathState> state = ReadOrReport(options, err, &code);
  if (!state) return code;
  const ZoneNames zones = Zones(options);
  const std::vector<ServiceView> services = BuildServiceViews(*state);
  return Emit(
      out, options.output, [&] { return RenderLoadText(services, state->reasons, zones); },
      [&] { return LoadJson(services, state->reasons, zones); });
}

int RunExplain(const CommonOptions& options, const ExplainRequest& request, std::ostream& out,
               std::ostream& err) {
  if (!AgentUrlValid(options, err)) return kExitUsage;
  absl::StatusOr<skw_service_key> key = ParseServiceKey(request.service, request.protocol);
  if (!key.ok()) return Fail(err, key.status(), kExitUsage);
  if (request.draws == 0) {
    return Fail(err, absl::InvalidArgumentError("--draws must be at least 1"), kExitUsage);
  }
  int code = kExitOk;
  std::optional<DatapathState> state = ReadOrReport(options, err, &code);
  if (!state) return code;
  const ZoneNames zones = Zones(options);
  ExplainOptions explain{.draws = request.draws, .seed = request.seed};
  if (request.zone) {
    absl::StatusOr<std::uint16_t> zone_id = ResolveZone(*request.zone, zones);
    if (!zone_id.ok()) return Fail(err, zone_id.status(), kExitUsage);
    explain.zone_id = *zone_id;
  }
  absl::StatusOr<Explanation> explanation = Explain(*state, *key, explain);
  if (!explanation.ok()) return Fail(err, explanation.status());
  return Emit(
      out, options.output, [&] { return RenderExplainText(*explanation, zones); },
      [&] { return ExplainJson(*explanation, zones); });
}

int RunStatus(const CommonOptions& options, std::ostream& out, std::ostream& err) {
  if (!AgentUrlValid(options, err)) return kExitUsage;
  absl::StatusOr<StatusReport> report = GatherStatus(options.pin_dir, options.agent_url);
  if (!report.ok()) return Fail(err, report.status());
  Emit(
      out, options.output, [&] { return RenderStatusText(*report); },
      [&] { return StatusJson(*report); });
  switch (report->verdict) {
    case Verdict::kOk:
    case Verdict::kDegraded:
      return kExitOk;
    case Verdict::kBroken:
      return kExitError;
    case Verdict::kNotInstalled:
      return kExitNoDatapath;
  }
  return kExitError;
}

int RunXds(const XdsFetchOptions& options, OutputFormat output, std::ostream& out,
           std::ostream& err) {
  if (absl::Status secure = ValidateXdsFetchSecurity(options); !secure.ok()) {
    return Fail(err, secure, kExitUsage);
  }
  absl::StatusOr<XdsSnapshot> snapshot = FetchXds(options);
  if (!snapshot.ok()) return Fail(err, snapshot.status());
  const XdsView view = BuildXdsView(*snapshot);
  if (!snapshot->missing_assignments.empty()) {
    err << "skewlessctl: no endpoints received within " << options.timeout.count() << " ms for "
        << snapshot->missing_assignments.size() << " cluster(s)\n";
  }
  return Emit(
      out, output, [&] { return RenderXdsText(view); }, [&] { return XdsJson(view); });
}

}  // namespace skewless::ctl
