// The manifests against the real binaries (their --help) and the container recipe.
#include <sys/wait.h>

#include "absl/strings/str_replace.h"
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

// Every invocation of `program` in the manifests, checked against its own --help.
void ExpectFlagsInHelp(const std::string& program, const std::string& binary) {
  int checked = 0;
  for (const Invocation& invocation : Invocations(WithUninstall())) {
    if (invocation.program != program) continue;
    absl::StatusOr<std::string> help = HelpText(binary, invocation.subcommand);
    ASSERT_TRUE(help.ok()) << help.status();
    EXPECT_THAT(CheckFlagsInHelp(invocation, *help), IsEmpty());
    ++checked;
  }
  EXPECT_GT(checked, 0) << "no container runs " << program;
}

TEST(DeployBinaries, EveryControlPlaneFlagInTheManifestsIsInItsHelp) {
  ExpectFlagsInHelp(std::string(kControlPlane), SKEWLESS_CONTROLPLANE_BIN);
}

TEST(DeployBinaries, EveryAgentFlagInTheManifestsIsInItsHelp) {
  // The agent's own DaemonSet and `skewless-agent uninstall` in uninstall/.
  ExpectFlagsInHelp(std::string(kAgent), SKEWLESS_AGENT_BIN);
}

TEST(DeployBinaries, EverySplicerFlagInTheManifestsIsInItsHelp) {
  ExpectFlagsInHelp(std::string(kSplicer), SKEWLESS_SPLICER_BIN);
}

TEST(DeployBinaries, AFlagTheBinaryDoesNotHaveIsCaught) {
  absl::StatusOr<std::string> help = HelpText(SKEWLESS_CONTROLPLANE_BIN, "");
  ASSERT_TRUE(help.ok()) << help.status();
  const Invocation typo{.where = "test",
                        .program = "skewless-controlplane",
                        .args = {"--config=/etc/skewless/controlplane.yaml", "--xds-listn=:1"}};
  EXPECT_THAT(CheckFlagsInHelp(typo, *help), Contains(HasSubstr("no flag --xds-listn")));
  // A prefix of a real flag is not that flag.
  const Invocation prefix{.where = "test", .program = "skewless-controlplane", .args = {"--kube"}};
  EXPECT_THAT(CheckFlagsInHelp(prefix, *help), Not(IsEmpty()));
}

// Whatever a manifest forgets, the control plane never serves plaintext by accident.
TEST(DeployBinaries, TheControlPlaneGivenNeitherTlsNorPlaintextRefusesToStart) {
  const std::string command = std::string("'") + SKEWLESS_CONTROLPLANE_BIN +
                              "' --xds-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[1024];
  while (std::size_t read = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, read);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 2) << output;
  EXPECT_THAT(output, HasSubstr("--tls-cert-file"));
  EXPECT_THAT(output, HasSubstr("--ca-secret"));
  EXPECT_THAT(output, HasSubstr("--plaintext"));
}

TEST(DeployImages, EveryContainerRunsOneImageTheKustomizationCanRetarget) {
  EXPECT_THAT(CheckImages(WithUninstall(), Kustomization()), IsEmpty());
}

TEST(DeployImages, ASecondImageIsCaught) {
  ManifestSet broken = WithUninstall().Clone();
  DocumentNode(broken, "DaemonSet", kAgent)["spec"]["template"]["spec"]["containers"][0]["image"] =
      "ghcr.io/example/skewless-agent:0.1.0";
  EXPECT_THAT(CheckImages(broken, Kustomization()), Contains(HasSubstr("several images")));
}

TEST(DeployImages, TheContainerfileBuildsAndInstallsWhatTheManifestsRun) {
  EXPECT_THAT(CheckContainerfile(ReadFile(kDeployDir / "Containerfile"), WithUninstall()),
              IsEmpty());
}

TEST(DeployImages, AContainerfileThatDoesNotInstallTheAgentIsCaught) {
  const std::string without_agent =
      absl::StrReplaceAll(ReadFile(kDeployDir / "Containerfile"),
                          {{"/build/bin/skewless-agent /usr/local/bin/", "/usr/local/bin/"}});
  EXPECT_THAT(CheckContainerfile(without_agent, WithUninstall()),
              Contains(HasSubstr("does not build and install skewless-agent")));
}

TEST(DeployImages, RuntimePackagesNamesTheDebianPackagesOfTheLibraries) {
  const std::string command = std::string("'") + (kDeployDir / "runtime-packages.sh").string() +
                              "' '" + SKEWLESS_CONTROLPLANE_BIN + "'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[1024];
  while (std::size_t read = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, read);
  ASSERT_EQ(pclose(pipe), 0) << output;
  EXPECT_THAT(output, HasSubstr("libgrpc++1.51\n"));
  EXPECT_THAT(output, HasSubstr("libyaml-cpp0.7\n"));
}

}  // namespace
}  // namespace skewless::deploy
