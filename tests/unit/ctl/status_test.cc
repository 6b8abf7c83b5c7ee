// status's verdict from what was gathered: installed, attached, readable, agent ready.
#include "skewless/ctl/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/datapath/steering.h"

namespace skewless::ctl {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Everything installed and attached on one cgroup, three services, the agent ready.
StatusReport Healthy() {
  StatusReport report;
  report.pin_dir = {.pin_dir = "/sys/fs/bpf/skewless",
                    .exists = true,
                    .fs_path = "/sys/fs/bpf/skewless",
                    .fs_is_bpffs = true};
  for (const std::string& map : datapath::Steering::MapNames()) report.maps.emplace_back(map, true);
  std::uint32_t id = 10;
  for (const std::string& program : datapath::Steering::ProgramNames()) {
    LinkStatus& status = report.links.emplace_back();
    status.link = {.program = program,
                   .pin_path = "/sys/fs/bpf/skewless/links/" + program,
                   .pinned = true,
                   .link_id = id++,
                   .program_id = id++,
                   .cgroup_id = 1,
                   .attach_type = 0};
    status.cgroup_path = "/sys/fs/cgroup";
  }
  report.counts = MapCounts{.services = 3, .backend_sets = 3, .backends = 6};
  report.agent = {.url = "http://127.0.0.1:9091", .healthz = 200, .readyz = 200};
  return report;
}

TEST(CtlStatusJudge, AllAttachedAndAgentReadyIsOk) {
  StatusReport report = Healthy();
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kOk);
  EXPECT_THAT(report.problems, IsEmpty());
  EXPECT_EQ(report.summary,
            "steering 3 services (6 backends) on /sys/fs/cgroup; the agent is ready");
}

TEST(CtlStatusJudge, NoMapsIsNotInstalledAndSaysWhereItLooked) {
  StatusReport report = Healthy();
  for (auto& [name, pinned] : report.maps) pinned = false;
  report.pin_dir.exists = false;
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kNotInstalled);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_THAT(report.problems[0],
              AllOf(HasSubstr("looked in: /sys/fs/bpf/skewless"), HasSubstr("does not exist"),
                    HasSubstr("start skewless-agent")));
}

TEST(CtlStatusJudge, AMissingLinkIsBroken) {
  StatusReport report = Healthy();
  report.links.back().link.pinned = false;
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kBroken);
  EXPECT_THAT(report.problems, ElementsAre(HasSubstr("not attached (no link pinned in "
                                                     "/sys/fs/bpf/skewless/links): skw_connect6")));
}

TEST(CtlStatusJudge, ADetachedLinkIsBroken) {
  StatusReport report = Healthy();
  report.links[0].link.cgroup_id = 0;
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kBroken);
  EXPECT_THAT(report.problems, ElementsAre(HasSubstr("skw_sockops's link is pinned but detached")));
}

TEST(CtlStatusJudge, LinksOnDifferentCgroupsAreBroken) {
  StatusReport report = Healthy();
  report.links[3].cgroup_path = "/sys/fs/cgroup/other";
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kBroken);
  EXPECT_THAT(report.problems, ElementsAre(HasSubstr("attached to different cgroups")));
}

TEST(CtlStatusJudge, APartialInstallNamesTheMissingMaps) {
  StatusReport report = Healthy();
  report.maps[2].second = false;
  report.read_error = "holds only part of a data path";
  report.counts.reset();
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kBroken);
  EXPECT_THAT(report.problems, ElementsAre(HasSubstr("maps not pinned in /sys/fs/bpf/skewless: "
                                                     "skw_backends")));
}

TEST(CtlStatusJudge, AnUnreachableAgentDegrades) {
  StatusReport report = Healthy();
  report.agent = {.url = "http://127.0.0.1:9091",
                  .error =
                      "the agent at http://127.0.0.1:9091 does not answer GET /healthz "
                      "(Connection)"};
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kDegraded);
  EXPECT_THAT(report.problems,
              ElementsAre(AllOf(HasSubstr("does not answer GET /healthz (Connection): the data "
                                          "path keeps steering"))));
}

TEST(CtlStatusJudge, ANotReadyAgentDegradesWithItsReason) {
  StatusReport report = Healthy();
  report.agent.readyz = 503;
  report.agent.readyz_body = "not ready: no control plane reached yet\n";
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kDegraded);
  EXPECT_THAT(report.problems,
              ElementsAre(HasSubstr("is not ready (/readyz 503): not ready: no control plane "
                                    "reached yet")));
}

TEST(CtlStatusJudge, NotAskingTheAgentIsANoteNotAProblem) {
  StatusReport report = Healthy();
  report.agent = {};
  report.counts->services = 0;
  Judge(report);
  EXPECT_EQ(report.verdict, Verdict::kOk);
  EXPECT_THAT(report.notes, ElementsAre(HasSubstr("not asked"), HasSubstr("no services")));
}

}  // namespace
}  // namespace skewless::ctl
