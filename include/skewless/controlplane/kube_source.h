// The control plane's source in a cluster: list + watch of Services, EndpointSlices and
// Nodes from the Kubernetes API, folded into one Snapshot (model.h) per change.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/controlplane/model.h"

namespace skewless::controlplane {

// Where the API server is and how to authenticate to it.
struct KubeConfig {
  std::string server;        // "https://10.96.0.1:443" or "http://127.0.0.1:8001"
  std::string ca_file;       // PEM bundle that signs the server's certificate; empty = system
  std::string bearer_token;  // literal token, or ...
  // ... a file re-read on every (re)connect (projected tokens rotate); wins over the literal
  std::string bearer_token_file;
  std::string client_cert_file;  // PEM client certificate and key (kubeconfig client auth)
  std::string client_key_file;
  bool insecure_skip_tls_verify = false;
  // The same PEM material given inline (kubeconfig's *-data fields, base64-decoded); each
  // replaces its *_file counterpart. Kept in memory, never written to disk.
  std::string ca_data;
  std::string client_cert_data;
  std::string client_key_data;
};

// In-cluster configuration: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the
// service account's token and CA under `service_account_dir`. The error says which part
// is missing.
absl::StatusOr<KubeConfig> InClusterConfig(
    const std::string& service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// A kubeconfig file's cluster and user for `context_name` (its current-context when
// empty). Errors name the file and the missing or malformed field.
absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path,
                                          const std::string& context_name = "");

struct KubeSourceOptions {
  std::uint32_t page_size = 500;  // list ?limit=, continued with ?continue=
  // Watches ask for timeoutSeconds in [min, 2*min) (as client-go's reflector does) so
  // they end and restart from the last resourceVersion instead of hanging forever.
  std::chrono::seconds watch_timeout{300};
  // Reconnect backoff after a failed list or watch: doubles from initial to max, ±20%.
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{30000};
  // Events arrive in bursts (a rollout touches many slices): publish one snapshot after
  // this much quiet, but at least every max_delay while changes keep coming.
  std::chrono::milliseconds debounce{10};
  std::chrono::milliseconds max_delay{200};
  std::chrono::seconds request_timeout{30};  // one list page, once connected
  // TCP connect + TLS handshake. Stop() can wait this long when it lands in a connect
  // (cpp-httplib connects under a lock that its abort also takes).
  std::chrono::milliseconds connect_timeout{5000};
};

// What the watcher did, for metrics and tests.
struct KubeSourceStats {
  std::uint64_t lists = 0;         // completed (all pages) lists
  std::uint64_t watch_starts = 0;  // watches opened
  std::uint64_t events = 0;        // watch events applied (ADDED/MODIFIED/DELETED)
  std::uint64_t bookmarks = 0;
  std::uint64_t relists_gone = 0;      // relists forced by 410 Gone / ERROR 410
  std::uint64_t errors = 0;            // failed requests and dropped connections (not 410s)
  std::uint64_t rejected_objects = 0;  // objects skipped as malformed
  std::uint64_t snapshots = 0;         // snapshots published
  bool synced = false;                 // every resource listed at least once
};

// Lists and watches the three resources, each on its own thread, and publishes a new
// Snapshot (only when its content changed) once all three have been listed. While the
// API is unreachable the last published snapshot stands; a malformed object is reported
// through `on_error` (naming kind, namespace/name and field) and skipped, keeping the
// previous good version of that object if there was one.
class KubeSource {
 public:
  using SnapshotCallback = std::function<void(std::shared_ptr<const Snapshot>)>;
  using ErrorCallback = std::function<void(const absl::Status&)>;

  // Starts the watchers and returns at once; the first snapshot follows the first
  // complete lists. Fails only on an unusable configuration (e.g. a bad server URL, an
  // unreadable CA file). `on_error` also hears of failed requests, which are retried on
  // their own (default: a line on stderr). Callbacks run one at a time on the source's
  // own threads; they must not call Stop or destroy the source.
  static absl::StatusOr<std::unique_ptr<KubeSource>> Start(KubeConfig config,
                                                           SnapshotCallback on_snapshot,
                                                           ErrorCallback on_error = nullptr,
                                                           KubeSourceOptions options = {});
  virtual ~KubeSource() = default;

  // Stops the watchers (aborting in-flight requests) and joins them; idempotent.
  virtual void Stop() = 0;
  // The last published snapshot; nullptr before the first complete list.
  virtual std::shared_ptr<const Snapshot> Current() const = 0;
  virtual KubeSourceStats Stats() const = 0;
};

}  // namespace skewless::controlplane
