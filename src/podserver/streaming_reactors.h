// The Echo service's streaming calls (StreamWork, UploadWork, ChatWork), one reactor each.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "skewless/lab/v1/echo.grpc.pb.h"
#include "sleep_timer.h"

namespace skewless::podserver {

// What the pod says about itself in every reply.
struct ReplyIdentity {
  std::string pod;
  std::string zone;
};

// The largest StreamWork reply: gRPC clients refuse a message over 4 MiB by default.
inline constexpr uint32_t kMaxStreamMessageBytes = 4 << 20;

// The sleep before a reply to a request asking for this extra service time.
using SleepBeforeReply = std::function<std::chrono::microseconds(uint32_t extra_service_time_us)>;

// Each reactor deletes itself once gRPC is done with it and no timer callback is pending.
// StreamWork sleeps `gap` before each reply.
grpc::ServerWriteReactor<skewless::lab::v1::WorkReply>* NewStreamWorkReactor(
    SleepTimer& timer, std::chrono::microseconds gap, ReplyIdentity identity,
    const skewless::lab::v1::StreamWorkRequest& request);

grpc::ServerReadReactor<skewless::lab::v1::WorkRequest>* NewUploadWorkReactor(
    ReplyIdentity identity, skewless::lab::v1::WorkReply* reply);

grpc::ServerBidiReactor<skewless::lab::v1::WorkRequest, skewless::lab::v1::WorkReply>*
NewChatWorkReactor(SleepTimer& timer, SleepBeforeReply service_time, ReplyIdentity identity);

}  // namespace skewless::podserver
