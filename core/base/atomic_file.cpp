#include "core/base/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/base/error.hpp"

namespace plural::core {

namespace fs = std::filesystem;

namespace {
std::atomic<uint64_t> next_serial{0};

fs::path folder_of(const std::string& target) {
  fs::path p(target);
  return p.has_parent_path() ? p.parent_path() : fs::path(".");
}

// The folder entry of a rename is durable only once the folder itself is synced.
void fsync_folder(const std::string& target) {
  int fd = ::open(folder_of(target).c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // some filesystems refuse; the rename itself has happened
  ::fsync(fd);
  ::close(fd);
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }
}  // namespace

std::string io_cause(int err) {
  switch (err) {
    case ENOSPC:
      return "disk full";
    case EDQUOT:
      return "disk quota exceeded";
    case EROFS:
      return "read-only file system";
    case EACCES:
    case EPERM:
      return "permission denied";
    case ENOENT:
      return "no such folder";
    default:
      return std::strerror(err);
  }
}

void remove_stale_temporaries(const std::string& target) {
  const std::string prefix = fs::path(target).filename().string() + ".tmp-";
  const std::string legacy =
      prefix.substr(0, prefix.size() - 1);  // "<target>.tmp": what model files were staged as before this writer
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder_of(target), ec)) {
    std::string name = e.path().filename().string();
    if (name == legacy) fs::remove(e.path(), ec);
    if (name.rfind(prefix, 0) != 0) continue;
    const char* digits = name.c_str() + prefix.size();
    char* end = nullptr;
    long pid = std::strtol(digits, &end, 10);
    if (end == digits) continue;
    if (pid != static_cast<long>(::getpid()) && !process_alive(pid)) fs::remove(e.path(), ec);
  }
}

AtomicFile::AtomicFile(std::string target) : target_(std::move(target)) {
  PLURAL_CHECK(!target_.empty(), "output path is empty");
  PLURAL_CHECK(!fs::is_directory(target_), target_, ": is a folder, expected a file path");
  remove_stale_temporaries(target_);
  temp_ = target_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(next_serial++);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::open_fd() {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(detail::cat(target_, ": cannot write: ", io_cause(errno)));
}

void AtomicFile::write(const void* data, size_t n) {
  PLURAL_ASSERT(!committed_);
  if (fd_ < 0) open_fd();
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::write(fd_, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) throw IoError(detail::cat(target_, ": write failed: ", io_cause(k < 0 ? errno : ENOSPC)));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void AtomicFile::commit() {
  PLURAL_ASSERT(!committed_);
  if (fd_ < 0 && ::access(temp_.c_str(), F_OK) != 0) open_fd();  // nothing was written: an empty file
  if (fd_ >= 0) {                                                // else a library wrote and closed the temporary itself
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw IoError(detail::cat(target_, ": write failed: ", io_cause(errno)));
  }
  replace_with(temp_, target_);
  committed_ = true;
}

void replace_with(const std::string& temp, const std::string& target) {
  int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(detail::cat(target, ": cannot reopen its temporary: ", io_cause(errno)));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw IoError(detail::cat(target, ": write failed: ", io_cause(err)));
  if (::rename(temp.c_str(), target.c_str()) != 0)
    throw IoError(detail::cat(target, ": cannot replace: ", io_cause(errno)));
  fsync_folder(target);
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

}  // namespace plural::core
