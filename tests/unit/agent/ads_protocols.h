// Both ADS protocols as the parameter of the ADS client's suites, each test named for the
// one it runs (…/Delta, …/Sotw).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "skewless/agent/ads_client.h"

namespace skewless::agent::testing {

inline constexpr AdsProtocol kAdsProtocols[] = {AdsProtocol::kDelta, AdsProtocol::kStateOfTheWorld};

inline std::string AdsProtocolName(const ::testing::TestParamInfo<AdsProtocol>& info) {
  return info.param == AdsProtocol::kDelta ? "Delta" : "Sotw";
}

}  // namespace skewless::agent::testing
