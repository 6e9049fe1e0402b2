// UserStore on SQLite: one connection behind a mutex (commits are serialised anyway), WAL so readers of the file
// (backups, sqlite3 CLI) do not block the server, synchronous=FULL so a returned commit survives power loss.
#include <sqlite3.h>

#include <mutex>
#include <unordered_map>

#include "apps/serve/user_store.hpp"
#include "core/base/error.hpp"

namespace plural::apps {

namespace {

// A prepared statement borrowed from the store's cache for one use: SQL is compiled once per connection, not per
// request (compiling was a visible share of an answer's commit), and reset and unbound when the borrow ends.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  /// True while there is a row.
  bool step(const std::string& path) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw IoError(detail::cat(path, ": ", sqlite3_errmsg(db_)));
  }
  std::string text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, state TEXT NOT NULL, answers INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
  user TEXT NOT NULL, seq INTEGER NOT NULL, prompt TEXT NOT NULL, chosen TEXT NOT NULL, rejected TEXT NOT NULL,
  p_chosen REAL NOT NULL, weight REAL NOT NULL, PRIMARY KEY (user, seq));
)SQL";

class SqliteStore final : public UserStore {
 public:
  explicit SqliteStore(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw IoError(detail::cat(path, ": cannot open the user database: ", msg));
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec(kSchema);
  }
  ~SqliteStore() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  void commit(const std::string& user, const std::vector<core::TextComparison>& answers,
              const std::string& state_json) override {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*this);
    int64_t seq = count_answers(user);
    for (const auto& a : answers) {
      Statement ins = prepared("INSERT INTO answers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
      ins.bind(1, user).bind(2, seq++).bind(3, a.prompt).bind(4, a.chosen).bind(5, a.rejected);
      ins.bind(6, a.p_chosen).bind(7, a.weight).step(path_);
    }
    Statement up = prepared("INSERT OR REPLACE INTO users VALUES (?1, ?2, ?3)");
    up.bind(1, user).bind(2, state_json).bind(3, seq).step(path_);
    tx.commit();
  }

  void replace_states(const std::vector<std::pair<std::string, std::string>>& user_states) override {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*this);
    for (const auto& [user, state] : user_states) {
      Statement up = prepared("UPDATE users SET state = ?2 WHERE id = ?1");
      up.bind(1, user).bind(2, state).step(path_);
    }
    tx.commit();
  }

  std::optional<StoredUser> load(const std::string& user) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = prepared("SELECT state FROM users WHERE id = ?1");
    if (!st.bind(1, user).step(path_)) return std::nullopt;
    StoredUser out;
    out.state_json = st.text(0);
    Statement q =
        prepared("SELECT prompt, chosen, rejected, p_chosen, weight FROM answers WHERE user = ?1 ORDER BY seq");
    q.bind(1, user);
    while (q.step(path_)) out.answers.push_back({q.text(0), q.text(1), q.text(2), q.real(3), q.real(4)});
    return out;
  }

  bool remove(const std::string& user) override {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*this);
    Statement a = prepared("DELETE FROM answers WHERE user = ?1");
    a.bind(1, user).step(path_);
    Statement u = prepared("DELETE FROM users WHERE id = ?1");
    u.bind(1, user).step(path_);
    bool existed = sqlite3_changes(db_) > 0;
    tx.commit();
    return existed;
  }

  std::vector<std::string> users() override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = prepared("SELECT id FROM users ORDER BY id");
    std::vector<std::string> out;
    while (st.step(path_)) out.push_back(st.text(0));
    return out;
  }

  int64_t user_count() override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = prepared("SELECT COUNT(*) FROM users");
    st.step(path_);
    return st.integer(0);
  }

  std::string meta(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = prepared("SELECT value FROM meta WHERE key = ?1");
    return st.bind(1, key).step(path_) ? st.text(0) : std::string();
  }

  void set_meta(const std::string& key, const std::string& value) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = prepared("INSERT OR REPLACE INTO meta VALUES (?1, ?2)");
    st.bind(1, key).bind(2, value).step(path_);
  }

 private:
  // Rolls back unless committed, so an exception halfway leaves the database as it was.
  class Transaction {
   public:
    explicit Transaction(SqliteStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      s_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteStore& s_;
    bool done_ = false;
  };

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw IoError(detail::cat(path_, ": ", msg));
    }
  }

  // Callers hold mu_: a borrowed statement is used by one request at a time.
  Statement prepared(const char* sql) {
    auto& stmt = statements_[sql];
    if (!stmt && sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
      throw IoError(detail::cat(path_, ": ", sqlite3_errmsg(db_)));
    return Statement(db_, stmt);
  }

  int64_t count_answers(const std::string& user) {
    Statement st = prepared("SELECT COUNT(*) FROM answers WHERE user = ?1");
    st.bind(1, user).step(path_);
    return st.integer(0);
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

std::unique_ptr<UserStore> open_sqlite_store(const std::string& path) { return std::make_unique<SqliteStore>(path); }

}  // namespace plural::apps
