// What every deploy test file names: the checks, the parsed deploy/ directory and the
// matchers they are asserted with, declared once for all of them.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "checks.h"
#include "deploy_fixture.h"

namespace skewless::deploy {

using ::testing::AllOf;
using testing::ClusterDomain;
using ::testing::Contains;
using testing::DocumentNode;
using ::testing::HasSubstr;
using testing::Installed;
using ::testing::IsEmpty;
using testing::kDeployDir;
using testing::Kustomization;
using ::testing::Not;
using testing::ReadFile;
using testing::WithUninstall;

}  // namespace skewless::deploy
