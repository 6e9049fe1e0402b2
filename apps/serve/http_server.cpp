#include "apps/serve/http_server.hpp"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/base/error.hpp"

namespace plural::apps {

using nlohmann::json;

namespace {

constexpr std::array<double, 9> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5};

/// Request counts by route and status, and latency histograms by route, in Prometheus' text format.
class Metrics {
 public:
  void record(const std::string& route, int status, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[{route, status}];
    auto& h = latency_[route];
    for (size_t i = 0; i < kBuckets.size(); ++i) h.buckets[i] += seconds <= kBuckets[i];
    h.sum += seconds;
    ++h.count;
  }
  std::string text(int64_t users, const core::EncodeBatcher::Stats& encoded) {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream os;
    os << "# HELP plural_requests_total Requests served, by route and HTTP status.\n"
          "# TYPE plural_requests_total counter\n";
    for (const auto& [key, n] : counts_)
      os << "plural_requests_total{route=\"" << key.first << "\",code=\"" << key.second << "\"} " << n << "\n";
    os << "# HELP plural_request_seconds Time to answer a request, by route.\n"
          "# TYPE plural_request_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
      for (size_t i = 0; i < kBuckets.size(); ++i)
        os << "plural_request_seconds_bucket{route=\"" << route << "\",le=\"" << kBuckets[i] << "\"} " << h.buckets[i]
           << "\n";
      os << "plural_request_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} " << h.count << "\n";
      os << "plural_request_seconds_sum{route=\"" << route << "\"} " << h.sum << "\n";
      os << "plural_request_seconds_count{route=\"" << route << "\"} " << h.count << "\n";
    }
    os << "# HELP plural_users Users with stored answers.\n# TYPE plural_users gauge\nplural_users " << users << "\n";
    os << "# HELP plural_encoded_texts_total Texts not in the cache, encoded and added to it.\n"
          "# TYPE plural_encoded_texts_total counter\nplural_encoded_texts_total "
       << encoded.texts << "\n";
    os << "# HELP plural_encode_batches_total Encoder batches (concurrent requests' new texts share one).\n"
          "# TYPE plural_encode_batches_total counter\nplural_encode_batches_total "
       << encoded.batches << "\n";
    return os.str();
  }

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    double sum = 0;
    uint64_t count = 0;
  };
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> counts_;
  std::map<std::string, Histogram> latency_;
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

json parse_body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  try {
    return json::parse(req.body);
  } catch (const json::parse_error& e) {
    throw HttpError(400, std::string("body: not valid JSON (") + e.what() + ")");
  }
}

}  // namespace

sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

void run_server(PreferenceService& service, const ServerOptions& options,
                const std::function<void(int port)>& on_listening) {
  const sigset_t stop_signals = block_stop_signals();

  httplib::Server server;
  Metrics metrics;
  const size_t threads =
      options.threads ? options.threads : std::max<size_t>(4, 2 * std::thread::hardware_concurrency());
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_tcp_nodelay(true);

  const std::string bearer = options.token.empty() ? "" : "Bearer " + options.token;
  // Every route goes through here: the token, the JSON error for any failure, and the metrics.
  auto route = [&](const std::string& name, bool needs_token, auto handler) {
    return [&, name, needs_token, handler](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      try {
        if (needs_token && !bearer.empty() && req.get_header_value("Authorization") != bearer)
          throw HttpError(401, "Authorization: this server needs 'Bearer <token>' (its --token-file)");
        handler(req, res);
      } catch (const HttpError& e) {
        send_json(res, e.status, {{"error", e.what()}});
      } catch (const ValueError& e) {
        send_json(res, 400, {{"error", e.what()}});
      } catch (const std::exception& e) {
        std::cerr << "plural serve: " << req.method << " " << req.path << ": " << e.what() << "\n";
        send_json(res, 500, {{"error", std::string("internal error: ") + e.what()}});
      }
      metrics.record(name, res.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
  };
  auto post_json = [&](const std::string& name, auto fn) {
    return route(name, true, [fn](const httplib::Request& req, httplib::Response& res) {
      send_json(res, 200, fn(req, parse_body(req)));
    });
  };

  server.Get("/", route("/", false, [](const httplib::Request&, httplib::Response& res) {
               res.set_content(kServePage, "text/html; charset=utf-8");
             }));
  server.Get("/healthz", route("/healthz", false, [&](const httplib::Request&, httplib::Response& res) {
               send_json(res, 200, {{"status", "ok"}, {"family", service.session().shared_model()->family()}});
             }));
  server.Get("/metrics", route("/metrics", true, [&](const httplib::Request&, httplib::Response& res) {
               res.set_content(metrics.text(service.user_count(), service.encoded()), "text/plain; version=0.0.4");
             }));
  server.Post("/get_reward", post_json("/get_reward", [&](auto&, const json& b) { return service.get_reward(b); }));
  server.Post("/v1/reward", post_json("/v1/reward", [&](auto&, const json& b) { return service.reward(b); }));
  server.Post("/v1/prefer", post_json("/v1/prefer", [&](auto&, const json& b) { return service.prefer(b); }));
  server.Post(R"(/v1/users/([^/]+)/answers)", post_json("/v1/users/{id}/answers", [&](auto& req, const json& b) {
                return service.add_answers(req.matches[1], b);
              }));
  server.Post(R"(/v1/users/([^/]+)/next)", post_json("/v1/users/{id}/next", [&](auto& req, const json& b) {
                return service.next(req.matches[1], b);
              }));
  server.Get(R"(/v1/users/([^/]+))",
             route("/v1/users/{id}", true, [&](const httplib::Request& req, httplib::Response& res) {
               send_json(res, 200, service.get_user(req.matches[1]));
             }));
  server.Delete(R"(/v1/users/([^/]+))",
                route("/v1/users/{id}", true, [&](const httplib::Request& req, httplib::Response& res) {
                  send_json(res, 200, service.delete_user(req.matches[1]));
                }));
  // What httplib answers itself (no such route, a body over the limit) gets a JSON error too.
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string what = res.status == 404   ? "no such route: " + req.method + " " + req.path
                           : res.status == 413 ? "body: larger than the server's limit"
                                               : "HTTP " + std::to_string(res.status);
        send_json(res, res.status, {{"error", what}});
        return httplib::Server::HandlerResponse::Handled;
      }));

  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
    PLURAL_CHECK(port > 0, "serve: cannot bind ", options.host);
  } else {
    PLURAL_CHECK(server.bind_to_port(options.host, port), "serve: cannot bind ", options.host, ":", port,
                 " (in use, or not an address of this machine)");
  }
  std::atomic<bool> signalled{false};
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    signalled = true;
    server.stop();
  });
  on_listening(port);
  server.listen_after_bind();
  // Stopped by a signal (the stopper is done) or by an error: wake the stopper so it can be joined.
  if (!signalled) pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
}

}  // namespace plural::apps
