#include "core/base/isolated.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "core/base/error.hpp"

namespace plural::core {

namespace {
// What the child sends: one status byte ('R' result, 'V' ValueError, 'I' IoError, 'E' other), then the bytes.
void send(int fd, char status, const std::string& bytes) {
  std::string msg = status + bytes;
  const char* p = msg.data();
  size_t n = msg.size();
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    p += k, n -= static_cast<size_t>(k);
  }
}

[[noreturn]] void child(int fd, const std::function<std::string()>& work) {
  // The host's crash handlers (a test framework's, a sanitizer's, Python's faulthandler) must not turn the child's
  // crash into a report and an exit code: the parent reads a crash from the signal.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP}) ::signal(sig, SIG_DFL);
  char status = 'R';
  std::string out;
  try {
    out = work();
  } catch (const ValueError& e) {
    status = 'V', out = e.what();
  } catch (const IoError& e) {
    status = 'I', out = e.what();
  } catch (const std::exception& e) {
    status = 'E', out = e.what();
  } catch (...) {
    status = 'E', out = "an unknown exception";
  }
  send(fd, status, out);
  ::_exit(0);  // no atexit handlers, no destructors of the parent's objects
}

// Reads the pipe until the child closes it or the deadline passes; false on timeout.
bool read_all(int fd, std::string& into, std::chrono::steady_clock::time_point deadline) {
  char buf[1 << 16];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t k = ::read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return true;
    into.append(buf, static_cast<size_t>(k));
  }
}
}  // namespace

std::string run_isolated(const std::function<std::string()>& work, std::chrono::milliseconds timeout,
                         const std::string& what) {
  int fds[2];
  if (::pipe(fds) != 0) throw IoError(detail::cat(what, ": cannot start a reader process: ", std::strerror(errno)));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]), ::close(fds[1]);
    throw IoError(detail::cat(what, ": cannot start a reader process: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1], work);
  }
  ::close(fds[1]);
  std::string got;
  const bool finished = read_all(fds[0], got, std::chrono::steady_clock::now() + timeout);
  ::close(fds[0]);
  if (!finished) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished)
    throw IoError(detail::cat(what, ": the reader did not finish in ", timeout.count() / 1000,
                              " s (HDF5 loops on some damaged files): the file is damaged"));
  if (WIFSIGNALED(status) || got.empty())
    throw IoError(detail::cat(what, ": the reader crashed", WIFSIGNALED(status) ? " (signal " : "",
                              WIFSIGNALED(status) ? std::to_string(WTERMSIG(status)) + ")" : std::string(),
                              ": the file is damaged"));
  const char kind = got[0];
  std::string body = got.substr(1);
  if (kind == 'V') throw ValueError(body);
  if (kind != 'R') throw IoError(body);
  return body;
}

}  // namespace plural::core
