// plural serve: the model as an HTTP service (OpenRLHF's remote reward model, a JSON API, the query page), with
// users' answers and states in a durable store. apps/serve/ holds the service; this file only reads options.
#include <torch/torch.h>

#include <cctype>
#include <cstdio>
#include <fstream>

#include "apps/commands.hpp"
#include "apps/serve/http_server.hpp"
#include "core/base/error.hpp"
#include "core/base/file_roles.hpp"
#include "core/base/progress.hpp"
#include "core/data/readers.hpp"
#include "core/query.hpp"

namespace plural::apps {

using namespace plural::core;

namespace {

std::string read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(detail::cat(path, ": cannot read the token file"));
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  PLURAL_CHECK(token.size() >= 16, path, ": the token (its first line) must be at least 16 characters, got ",
               token.size());
  return token;
}

std::vector<TextComparison> candidate_pool(const std::string& path) {
  std::vector<TextComparison> out;
  if (path.empty()) return out;
  auto data = read_candidates(path);
  auto text = [&](int32_t t) { return t < 0 ? std::string() : data.texts[t]; };
  for (const auto& c : data.comparisons) out.push_back({text(c.prompt_a), text(c.a), text(c.b)});
  return out;
}

}  // namespace

void add_serve(CLI::App& app, Common& common) {
  struct Opts {
    std::string model, cache, encoder, db, host = "127.0.0.1", token_file, candidates;
    int port = 8000;
    size_t workers = 0, max_body_mb = 8;
    ServiceOptions service;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("serve", "Serve a model over HTTP: rewards (OpenRLHF-compatible), users, the query page");
  cmd->add_option("--model", o->model, "trained model file")->required();
  cmd->add_option("--cache", o->cache, "feature cache (texts not in it are encoded and added)")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec for texts not in the cache (must match the model's)");
  cmd->add_option("--db", o->db, "SQLite file of users' answers and states (created if missing)")->required();
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "port (0 = any free one, printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--token-file", o->token_file, "every request but the page and /healthz needs this bearer token");
  cmd->add_option("--candidates", o->candidates, "default pool of pairs to ask from (.jsonl: a, b, optional prompt)");
  cmd->add_option("--scorer", o->service.scorer, "query scorer of `next`")->capture_default_str();
  cmd->add_option("--done-below", o->service.done_below,
                  "`next` says done when the best pair's expected information (nats) is below this")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--workers", o->workers, "HTTP worker threads (0 = twice the cores, at least 4)");
  cmd->add_option("--max-body-mb", o->max_body_mb, "largest request body")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->callback([o, &common] {
    block_stop_signals();  // before LibTorch starts its threads
    set_threads(common.threads);
    core::require_distinct_files(
        {{"--db", o->db}, {"--cache", o->cache}},
        {{"--model", o->model}, {"--candidates", o->candidates}, {"--token-file", o->token_file}});
    ServerOptions server;
    server.host = o->host;
    server.port = o->port;
    server.threads = o->workers;
    server.max_body_bytes = o->max_body_mb << 20;
    if (!o->token_file.empty()) server.token = read_token(o->token_file);
    o->service.candidates = candidate_pool(o->candidates);
    make_query_scorer(o->service.scorer, 0);  // an unknown scorer fails before the model loads

    Personalizer session(o->model, o->cache, cli_session_options(o->encoder));
    auto store = open_sqlite_store(o->db);
    PreferenceService service(session, *store, o->service);
    run_server(service, server, [&](int port) {
      std::printf("plural serve: %s model on http://%s:%d (%lld stored users, %zu candidate pairs)%s\n",
                  session.shared_model()->family().c_str(), o->host.c_str(), port,
                  static_cast<long long>(service.user_count()), o->service.candidates.size(),
                  server.token.empty() ? "" : ", token required");
      std::fflush(stdout);
    });
    std::printf("plural serve: stopped\n");
  });
}

}  // namespace plural::apps
