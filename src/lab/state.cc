// JSON run records under /run/skewless-lab: save, load, list, remove.
#include "skewless/lab/state.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "skewless/lab/subprocess.h"

namespace skewless::lab {
namespace {

nlohmann::json ToJson(const RecordedProcess& p) {
  return {{"pid", p.pid}, {"start_time", p.start_time}};
}

RecordedProcess ProcessFromJson(const nlohmann::json& j) {
  return {j.at("pid").get<pid_t>(), j.at("start_time").get<unsigned long long>()};
}

}  // namespace

std::string StatePath(const std::string& state_dir, const std::string& id) {
  return absl::StrCat(state_dir, "/", id, ".json");
}

std::string LogDir(const std::string& state_dir, const std::string& id) {
  return absl::StrCat(state_dir, "/", id, ".logs");
}

absl::Status SaveState(const std::string& state_dir, const RunState& state) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", state_dir, ": ", ec.message()));
  nlohmann::json j;
  j["id"] = state.id;
  j["owner"] = ToJson(state.owner);
  j["netns"] = state.netns;
  j["cgroups"] = state.cgroups;
  j["bpffs_mounts"] = state.bpffs_mounts;
  j["processes"] = nlohmann::json::array();
  for (const auto& p : state.processes) j["processes"].push_back(ToJson(p));
  std::string path = StatePath(state_dir, state.id);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << '\n';
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(errno)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunState> LoadState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read run record ", path));
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    RunState state;
    state.id = j.at("id").get<std::string>();
    state.owner = ProcessFromJson(j.at("owner"));
    state.netns = j.at("netns").get<std::vector<std::string>>();
    state.cgroups = j.at("cgroups").get<std::vector<std::string>>();
    state.bpffs_mounts = j.value("bpffs_mounts", std::vector<std::string>{});
    for (const auto& p : j.at("processes")) state.processes.push_back(ProcessFromJson(p));
    return state;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("run record ", path, " is corrupt: ", e.what()));
  }
}

absl::Status RemoveState(const std::string& state_dir, const std::string& id) {
  std::error_code ec;
  std::filesystem::remove_all(LogDir(state_dir, id), ec);
  std::filesystem::remove(StatePath(state_dir, id), ec);
  if (ec) return absl::InternalError(absl::StrCat("remove run record ", id, ": ", ec.message()));
  return absl::OkStatus();
}

std::vector<std::string> ListStates(const std::string& state_dir) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir, ec)) {
    if (entry.path().extension() == ".json") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

bool IsAlive(const RecordedProcess& process) {
  if (process.pid <= 0) return false;
  auto start = ProcessStartTime(process.pid);
  return start && *start == process.start_time;
}

RecordedProcess Record(pid_t pid) { return {pid, ProcessStartTime(pid).value_or(0)}; }
RecordedProcess RecordSelf() { return Record(getpid()); }

}  // namespace skewless::lab
