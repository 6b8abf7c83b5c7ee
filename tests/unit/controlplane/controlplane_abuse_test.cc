// The control plane under abuse, one test per class: a skewless-controlplane process (its
// own RSS, log and /metrics) serving 500 Services, a well-behaved ADS client whose
// subscription changes are timed, and hostile or careless gRPC C++ clients (the generated
// ADS stubs) at the same time. Each test asserts a figure: RSS growth (while the abuse runs
// and after it ended), log bytes written, the good client's p95 (within 2x of its run
// alone plus a VM's scheduling slack), and what the metrics counted. Loopback, no root.
//
// Bounds carry honest slack: this is a 2-core VM shared with other builds, and RSS moves
// by a few MB with gRPC's and glibc's own caches. Measured figures are printed and
// recorded as test properties; the bounds sit well above them and well below what the
// code did before the limits (the figures: 24 MB per 40,000-name request, 580 MB
// for eight such streams, kept after they closed; 49 MB of logs in 7.5 s of NACKs).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "loopback_process.h"
#include "prometheus_sample.h"
#include "skewless/lab/subprocess.h"

namespace skewless::controlplane {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using std::chrono::milliseconds;
using testing::RssBytes;
using Stream = grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>;

constexpr char kClusterType[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kEndpointType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
constexpr int kServices = 500;
// A VM's scheduler adds this much to any p95 on its own; the 2x bound is on top of it.
// p95 of 100 probes, not p99 (one probe): on this shared 2-core VM a single probe can
// land behind another job's time slice whatever the control plane does.
constexpr double kP95SlackMs = 20;

std::string ServicesYaml(int services) {
  std::string yaml = "nodes:\n  - {name: node-a, zone: zone-a}\nservices:\n";
  for (int i = 0; i < services; ++i) {
    absl::StrAppend(&yaml, "  - namespace: shop\n    name: svc-", i, "\n    clusterIPs: [198.19.",
                    i / 250, ".", i % 250 + 1,
                    "]\n    ports:\n      - {name: grpc, port: 80, targetPort: 8080}\n");
  }
  yaml += "endpointSlices:\n";
  for (int i = 0; i < services; ++i) {
    absl::StrAppend(&yaml, "  - namespace: shop\n    service: svc-", i, "\n    endpoints:\n");
    for (int e = 0; e < 3; ++e) {
      absl::StrAppend(&yaml, "      - {address: 10.", 1 + i / 250, ".", i % 250, ".", e + 1,
                      ", nodeName: node-a}\n");
    }
  }
  return yaml;
}

DiscoveryRequest Request(std::string_view type_url, const std::vector<std::string>& names,
                         std::string node_id = "") {
  DiscoveryRequest request;
  request.set_type_url(std::string(type_url));
  for (const std::string& name : names) request.add_resource_names(name);
  if (!node_id.empty()) {
    request.mutable_node()->set_id(std::move(node_id));
    request.mutable_node()->set_user_agent_name("abuse-test");
  }
  return request;
}

std::vector<std::string> NamesThatDoNotExist(int count, const std::string& prefix) {
  std::vector<std::string> names;
  names.reserve(count);
  for (int i = 0; i < count; ++i) names.push_back(absl::StrCat(prefix, "/no-such-service-", i));
  return names;
}

// One client call: its context and stream, written to and maybe never read.
struct Call {
  std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
  std::unique_ptr<Stream> stream;
};

Call Open(AggregatedDiscoveryService::Stub& stub) {
  Call call;
  call.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  call.stream = stub.StreamAggregatedResources(call.context.get());
  return call;
}

// `fixed_window`: the client's HTTP/2 receive window stays at 64 KiB instead of growing
// with gRPC's bandwidth probes, so a client that does not read stops the server's writes
// after its first response, as a stuck client on a real network does.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, bool fixed_window = false) {
  grpc::ChannelArguments args;
  if (fixed_window) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 10);
  }
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

class ControlPlaneAbuseTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void TearDown() override {
    if (control_plane_) {
      control_plane_->Signal(SIGTERM);
      (void)control_plane_->Wait(std::chrono::seconds(10));
    }
    std::filesystem::remove_all(dir_);
  }

  void Start(const std::vector<std::string>& flags) {
    if (control_plane_) {
      control_plane_->Signal(SIGTERM);
      (void)control_plane_->Wait(std::chrono::seconds(10));
      control_plane_.reset();
    }
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("cp-abuse-", getpid());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "services.yaml") << ServicesYaml(kServices);
    log_path_ = (dir_ / absl::StrCat(Name(), ".log")).string();
    std::filesystem::remove(log_path_);
    std::vector<std::string> argv = {SKEWLESS_BIN_DIR "/skewless-controlplane",
                                     "--file",
                                     (dir_ / "services.yaml").string(),
                                     "--xds-listen",
                                     "127.0.0.1:0",
                                     "--http-listen",
                                     "127.0.0.1:0",
                                     "--plaintext"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<lab::Child> child = lab::Child::Spawn({.argv = argv, .log_path = log_path_});
    ASSERT_TRUE(child.ok()) << child.status();
    control_plane_.emplace(*std::move(child));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      const std::string log = control_plane_->LogTail();
      const std::size_t at = log.find("control plane serving");
      if (at != std::string::npos && log.find("snapshot applied") != std::string::npos) {
        const std::size_t xds = log.find("xds=", at);
        const std::size_t http = log.find("http=", at);
        xds_address_ = log.substr(xds + 4, log.find(' ', xds) - xds - 4);
        http_address_ = log.substr(http + 5, log.find(' ', http) - http - 5);
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "did not start:\n" << log;
      std::this_thread::sleep_for(milliseconds(20));
    }
    good_channel_ = NewChannel(xds_address_);
    good_stub_ = AggregatedDiscoveryService::NewStub(good_channel_);
  }

  static std::string Name() {
    return ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  double Metric(const std::string& series) {
    const std::size_t colon = http_address_.rfind(':');
    httplib::Client client(http_address_.substr(0, colon),
                           std::stoi(http_address_.substr(colon + 1)));
    client.set_read_timeout(2);
    httplib::Result result = client.Get("/metrics");
    if (!result || result->status != 200) return -1;
    return testing::SampleValue(result->body, series);
  }

  double Rss() { return RssBytes(control_plane_->pid()); }
  std::uintmax_t LogBytes() { return std::filesystem::file_size(log_path_); }

  // The good client: one stream, its CDS subscription changed `probes` times (each change
  // answered at once with the full set); returns the p95 of those round trips in ms.
  double GoodClientP95Ms(int probes = 100) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = good_stub_->StreamAggregatedResources(&context);
    std::vector<double> latencies;
    DiscoveryResponse response;
    std::string nonce, version;
    for (int i = 0; i < probes; ++i) {
      std::vector<std::string> names = {"shop/svc-0:grpc"};
      if (i % 2 == 1) names.push_back("shop/svc-1:grpc");
      DiscoveryRequest request = Request(kClusterType, names, i == 0 ? "good-client" : "");
      request.set_response_nonce(nonce);
      request.set_version_info(version);
      const auto start = std::chrono::steady_clock::now();
      if (!stream->Write(request) || !stream->Read(&response)) {
        ADD_FAILURE() << "the good client's stream ended: " << stream->Finish().error_message();
        return 1e9;
      }
      latencies.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      nonce = response.nonce();
      version = response.version_info();
      std::this_thread::sleep_for(milliseconds(10));
    }
    context.TryCancel();
    (void)stream->Finish();
    std::sort(latencies.begin(), latencies.end());
    return latencies[latencies.size() * 95 / 100];
  }

  // Runs `abuse` in the background and the good client beside it; asserts the good
  // client's p95 against its baseline. Returns the peak RSS growth during the abuse.
  double BesideGoodClient(const std::function<void(std::atomic<bool>& stop)>& abuse,
                          milliseconds under_way = milliseconds(500)) {
    const double baseline_ms = GoodClientP95Ms();
    rss_before_ = Rss();
    std::atomic<bool> stop{false};
    std::atomic<double> peak_rss{rss_before_};
    std::thread sampler([&] {
      while (!stop) {
        peak_rss = std::max(peak_rss.load(), Rss());
        std::this_thread::sleep_for(milliseconds(50));
      }
    });
    std::thread attacker([&] {
      // The attacker's own CPU (building 40,000-name requests) would otherwise be measured
      // as the control plane's latency: in a cluster it runs on another machine.
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
      abuse(stop);
    });
    std::this_thread::sleep_for(under_way);
    const double under_abuse_ms = GoodClientP95Ms();
    stop = true;
    attacker.join();
    sampler.join();
    RecordProperty("good_p95_ms_alone", std::to_string(baseline_ms));
    RecordProperty("good_p95_ms_under_abuse", std::to_string(under_abuse_ms));
    std::cout << Name() << ": good client p95 " << baseline_ms << " ms alone, " << under_abuse_ms
              << " ms under abuse; RSS peak +" << (peak_rss - rss_before_) / 1e6 << " MB\n";
#if !defined(__SANITIZE_ADDRESS__)  // latency under a sanitizer measures the sanitizer
    EXPECT_LE(under_abuse_ms, 2 * baseline_ms + kP95SlackMs) << "alone " << baseline_ms << " ms";
#endif
    return peak_rss - rss_before_;
  }

  // RSS some time after the abuse ended: closed streams' memory goes back to the system
  // (the server trims the heap within a second of streams closing).
  double SettledRssGrowth() {
    std::this_thread::sleep_for(milliseconds(1500));
    return Rss() - rss_before_;
  }

  std::filesystem::path dir_;
  std::string log_path_;
  std::optional<lab::Child> control_plane_;
  std::string xds_address_, http_address_;
  std::shared_ptr<grpc::Channel> good_channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> good_stub_;
  double rss_before_ = 0;
};

// 1,000 streams (each its own node id, so the per-peer limit does not refuse them: the
// worst case), each subscribing 100 names and never reading, then dropped by the client.
// Measured: RSS +44 MB with all 1,000 open (~44 KB a stream, most of it gRPC's per-call
// state); +6 MB after they closed (+44 MB without the heap trim).
TEST_F(ControlPlaneAbuseTest, AThousandAbandonedStreams) {
  double open_growth = BesideGoodClient([&](std::atomic<bool>& stop) {
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<AggregatedDiscoveryService::Stub>> stubs;
    for (int c = 0; c < 10; ++c) {
      channels.push_back(NewChannel(xds_address_));
      stubs.push_back(AggregatedDiscoveryService::NewStub(channels.back()));
    }
    std::vector<Call> calls;
    for (int i = 0; i < 1000; ++i) {
      calls.push_back(Open(*stubs[i % 10]));
      calls.back().stream->Write(
          Request(kEndpointType, NamesThatDoNotExist(100, "x"), absl::StrCat("abandoned-", i)));
    }
    while (!stop) std::this_thread::sleep_for(milliseconds(20));
    for (Call& call : calls) call.context->TryCancel();
  });
  const double settled = SettledRssGrowth();
  RecordProperty("rss_growth_open_bytes", std::to_string(open_growth));
  RecordProperty("rss_growth_settled_bytes", std::to_string(settled));
  std::cout << "RSS +" << open_growth / 1e6 << " MB with 1,000 streams open, +" << settled / 1e6
            << " MB after they closed\n";
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident
  EXPECT_LT(open_growth, 60e6) << "1,000 small streams must cost well under 60 KB each";
  EXPECT_LT(settled, 15e6) << "closed streams' memory goes back";
#endif
  EXPECT_GE(Metric("skewless_xds_streams_opened_total{protocol=\"sotw\"}"), 1000);
  EXPECT_EQ(Metric("skewless_xds_stream_memory_bytes"), 0) << "no stream holds anything";
}

// From one address without node ids, the per-peer limit admits 32 streams and refuses
// the rest with RESOURCE_EXHAUSTED, one log line for all of them.
TEST_F(ControlPlaneAbuseTest, StreamsFromOnePeerBeyondItsLimitAreRefused) {
  const std::uintmax_t log_before = LogBytes();
  auto channel = NewChannel(xds_address_);
  auto stub = AggregatedDiscoveryService::NewStub(channel);
  std::vector<Call> calls;
  for (int i = 0; i < 200; ++i) {
    calls.push_back(Open(*stub));
    calls.back().stream->Write(Request(kClusterType, {"shop/svc-0:grpc"}));
  }
  // Every stream answered or ended before any is closed: a closed stream gives its place
  // back to the next.
  std::vector<bool> served;
  for (Call& call : calls) {
    DiscoveryResponse response;
    served.push_back(call.stream->Read(&response));
  }
  EXPECT_EQ(std::count(served.begin(), served.end(), true), 32);
  int refused = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (served[i]) calls[i].context->TryCancel();
    const grpc::Status status = calls[i].stream->Finish();
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_THAT(status.error_message(), ::testing::HasSubstr("--max-streams-per-peer"));
    }
  }
  EXPECT_EQ(refused, 200 - 32);
  EXPECT_EQ(Metric("skewless_xds_stream_rejections_total{reason=\"streams_per_peer\"}"), 168);
  const std::uintmax_t log_bytes = LogBytes() - log_before;
  RecordProperty("log_bytes", std::to_string(log_bytes));
  // Open and close lines and the refusals: one line each per peer per 10 s, not 200 each.
  EXPECT_LT(log_bytes, 4096u);
}

// A client NACKing in a loop with a 64 KiB error detail, as fast as it can, for 3 s.
// Before: every NACK was a warn line with the full detail (49 MB in 7.5 s). Now: the
// stream is read at 100 requests/s (measured: ~750 NACKs got through, one log line of
// ~1 KB), every NACK is counted, one line per 10 s is written with the detail cut to 256
// bytes.
TEST_F(ControlPlaneAbuseTest, ANackLoopWritesOneLinePerIntervalAndCountsEveryNack) {
  const std::uintmax_t log_before = LogBytes();
  std::atomic<int> nacks{0};
  BesideGoodClient([&](std::atomic<bool>& stop) {
    auto channel = NewChannel(xds_address_);
    auto stub = AggregatedDiscoveryService::NewStub(channel);
    Call call = Open(*stub);
    call.stream->Write(Request(kClusterType, {"shop/svc-0:grpc"}, "nack-loop"));
    DiscoveryResponse response;
    if (!call.stream->Read(&response)) return;
    DiscoveryRequest nack = Request(kClusterType, {"shop/svc-0:grpc"});
    nack.set_response_nonce(response.nonce());
    nack.mutable_error_detail()->set_code(3);
    nack.mutable_error_detail()->set_message(std::string(64 << 10, 'e'));
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < end || !stop) {
      if (!call.stream->Write(nack)) break;
      ++nacks;
    }
    // A half-close, so the server reads every NACK before the stream ends.
    call.stream->WritesDone();
    while (call.stream->Read(&response)) {
    }
    (void)call.stream->Finish();
  });
  const std::uintmax_t log_bytes = LogBytes() - log_before;
  RecordProperty("nacks_sent", nacks.load());
  RecordProperty("log_bytes", std::to_string(log_bytes));
  std::cout << nacks << " NACKs, " << log_bytes << " log bytes\n";
  EXPECT_GT(nacks, 100);
  EXPECT_LT(log_bytes, 4096u) << "a NACK loop must not be logged per NACK";
  EXPECT_EQ(Metric("skewless_xds_nacks_total{type=\"Cluster\"}"), nacks);
  EXPECT_GE(Metric("skewless_xds_log_lines_suppressed_total{kind=\"nack\"}"), nacks - 1);
}

// Eight streams at a time subscribing 40,000 names that do not exist (the case),
// three rounds, each round closing its streams. Before: +24 MB per stream, 580 MB for
// eight, kept and growing with every round. Measured now: 110-150 MB peak with eight
// open, +7-19 MB after the rounds (+147 MB without the heap trim).
TEST_F(ControlPlaneAbuseTest, HugeNameListsCostBoundedMemoryThatIsGivenBack) {
  std::vector<double> settled;
  double peak = BesideGoodClient([&](std::atomic<bool>&) {
    for (int round = 0; round < 3; ++round) {
      std::vector<std::shared_ptr<grpc::Channel>> channels;
      std::vector<Call> calls;
      for (int s = 0; s < 8; ++s) {
        channels.push_back(NewChannel(xds_address_));
        auto stub = AggregatedDiscoveryService::NewStub(channels.back());
        calls.push_back(Open(*stub));
        calls.back().stream->Write(Request(kEndpointType,
                                           NamesThatDoNotExist(40000, absl::StrCat("r", round)),
                                           absl::StrCat("huge-", round, "-", s)));
      }
      std::this_thread::sleep_for(milliseconds(700));
      for (Call& call : calls) call.context->TryCancel();
      for (Call& call : calls) (void)call.stream->Finish();
    }
  });
  for (int round = 0; round < 2; ++round) settled.push_back(SettledRssGrowth());
  std::cout << "after the rounds: RSS +" << settled.back() / 1e6 << " MB\n";
  RecordProperty("rss_peak_growth_bytes", std::to_string(peak));
  RecordProperty("rss_settled_growth_bytes", std::to_string(settled.back()));
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident
  EXPECT_LT(peak, 300e6) << "eight 40,000-name streams";
#endif
  // Measured 7-19 MB (what glibc keeps in use between arenas varies run to run); without
  // the trim, 147 MB.
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(settled.back(), 40e6) << "memory is given back after the streams close";
#endif
  EXPECT_EQ(Metric("skewless_xds_stream_memory_bytes"), 0);

  // One stream past the name limit is closed, the rest of the control plane unaffected.
  auto channel = NewChannel(xds_address_);
  auto stub = AggregatedDiscoveryService::NewStub(channel);
  Call call = Open(*stub);
  call.stream->Write(Request(kEndpointType, NamesThatDoNotExist(100001, "over"), "too-many"));
  DiscoveryResponse response;
  EXPECT_FALSE(call.stream->Read(&response));
  const grpc::Status status = call.stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(Metric("skewless_xds_stream_rejections_total{reason=\"names_per_stream\"}"), 1);
}

// A request over 4 MiB is refused by gRPC itself with RESOURCE_EXHAUSTED.
TEST_F(ControlPlaneAbuseTest, ARequestOverTheSizeLimitIsRefused) {
  auto channel = NewChannel(xds_address_);
  auto stub = AggregatedDiscoveryService::NewStub(channel);
  Call call = Open(*stub);
  DiscoveryRequest request = Request(kClusterType, {std::string(5 << 20, 'n')}, "big");
  call.stream->Write(request);
  DiscoveryResponse response;
  EXPECT_FALSE(call.stream->Read(&response));
  EXPECT_EQ(call.stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// A 1 MiB node id: the stream works, and its log lines carry 256 bytes of it and its
// length (before: the whole id, twice).
TEST_F(ControlPlaneAbuseTest, AMegabyteNodeIdIsCutInLogs) {
  const std::uintmax_t log_before = LogBytes();
  auto channel = NewChannel(xds_address_);
  auto stub = AggregatedDiscoveryService::NewStub(channel);
  {
    Call call = Open(*stub);
    call.stream->Write(Request(kClusterType, {"shop/svc-0:grpc"}, std::string(1 << 20, 'n')));
    DiscoveryResponse response;
    ASSERT_TRUE(call.stream->Read(&response));
    EXPECT_EQ(response.resources_size(), 1);
    call.context->TryCancel();
    (void)call.stream->Finish();
  }
  std::this_thread::sleep_for(milliseconds(300));  // the close line
  const std::uintmax_t log_bytes = LogBytes() - log_before;
  RecordProperty("log_bytes", std::to_string(log_bytes));
  EXPECT_LT(log_bytes, 2048u);
  std::ifstream log(log_path_);
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, ::testing::HasSubstr("...(1048576 bytes)"));
}

// 300 type URLs the control plane does not serve, on one stream: each is answered once,
// empty (so a client never waits on it); each counts as one name against the limit.
TEST_F(ControlPlaneAbuseTest, UnknownTypeUrlsAreAnsweredOnceAndCountAgainstTheLimit) {
  auto channel = NewChannel(xds_address_);
  auto stub = AggregatedDiscoveryService::NewStub(channel);
  Call call = Open(*stub);
  for (int i = 0; i < 300; ++i) {
    call.stream->Write(Request(absl::StrCat("type.googleapis.com/abuse.Unknown", i), {"x"},
                               i == 0 ? "unknown-types" : ""));
  }
  int answered = 0;
  DiscoveryResponse response;
  while (answered < 300 && call.stream->Read(&response)) {
    EXPECT_EQ(response.resources_size(), 0);
    ++answered;
  }
  EXPECT_EQ(answered, 300);
  call.context->TryCancel();
  (void)call.stream->Finish();

  Start({"--max-names-per-stream", "100"});
  channel = NewChannel(xds_address_);
  stub = AggregatedDiscoveryService::NewStub(channel);
  Call limited = Open(*stub);
  for (int i = 0; i < 200; ++i) {
    if (!limited.stream->Write(Request(absl::StrCat("type.googleapis.com/abuse.Unknown", i), {},
                                       i == 0 ? "unknown-types" : ""))) {
      break;
    }
  }
  while (limited.stream->Read(&response)) {
  }
  EXPECT_EQ(limited.stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// Slow readers: 50 streams take every cluster and endpoint (hundreds of KiB) and never
// read, while the Services change every 100 ms. Each holds at most one round of
// responses, not one per change, and costs no work per change; the good client keeps its
// latency. Measured: RSS +28-70 MB (~1 MB a stream, its round in gRPC's buffers).
TEST_F(ControlPlaneAbuseTest, SlowReadersHoldOneRoundOfResponsesAndDelayNobody) {
  std::atomic<bool> changing{true};
  std::thread changer([&] {
    for (int i = 0; changing; ++i) {
      std::ofstream(dir_ / "services.yaml.tmp") << ServicesYaml(kServices - (i % 2));
      std::filesystem::rename(dir_ / "services.yaml.tmp", dir_ / "services.yaml");
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  std::vector<std::string> all_clusters;
  for (int i = 0; i < kServices; ++i) all_clusters.push_back(absl::StrCat("shop/svc-", i, ":grpc"));
  double peak = BesideGoodClient(
      [&](std::atomic<bool>& stop) {
        std::vector<std::shared_ptr<grpc::Channel>> channels;
        std::vector<Call> calls;
        for (int s = 0; s < 50; ++s) {
          channels.push_back(NewChannel(xds_address_, /*fixed_window=*/true));
          auto stub = AggregatedDiscoveryService::NewStub(channels.back());
          calls.push_back(Open(*stub));
          calls.back().stream->Write(Request(kClusterType, {}, absl::StrCat("slow-", s)));
          calls.back().stream->Write(Request(kEndpointType, all_clusters));
        }
        while (!stop) std::this_thread::sleep_for(milliseconds(20));
        for (Call& call : calls) call.context->TryCancel();
      },
      milliseconds(2500));
  changing = false;
  changer.join();
  RecordProperty("rss_peak_growth_bytes", std::to_string(peak));
  // 50 streams × (CDS + EDS of 500 Services, ~300 KiB) held in flight, plus HTTP/2
  // buffers: tens of MB; without the one-write-at-a-time rule it grew per change.
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident
  EXPECT_LT(peak, 150e6);
#endif
}

}  // namespace
}  // namespace skewless::controlplane
