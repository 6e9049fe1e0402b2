#pragma once
// The HTTP face of PreferenceService: routes, bearer-token check, body bounds, JSON errors and Prometheus metrics.
#include <signal.h>

#include <functional>
#include <string>

#include "apps/serve/service.hpp"

namespace plural::apps {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;     ///< 0 = any free port (printed on start)
  std::string token;   ///< "" = no authentication; else every request but GET / and /healthz needs it
  size_t threads = 0;  ///< 0 = twice the cores, at least 4 (requests wait on I/O as much as on the model)
  size_t max_body_bytes = 8 << 20;
};

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later, so that run_server's watcher
/// thread takes them (a thread started before, e.g. LibTorch's pool, would die of them instead): call it before any
/// other thread starts.
sigset_t block_stop_signals();

/// Serves until SIGINT or SIGTERM (blocked by block_stop_signals() first); `on_listening(port)` runs once the socket
/// is bound.
void run_server(PreferenceService& service, const ServerOptions& options,
                const std::function<void(int port)>& on_listening);

/// The page a person answers queries on (GET /), self-contained HTML + JS.
extern const char* const kServePage;

}  // namespace plural::apps
