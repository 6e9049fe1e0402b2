#pragma once
// The one way plural writes a file: a temporary beside the target, every write checked, fsync, rename over the
// target, fsync of the folder. On any failure the target is untouched and the temporary is gone. No torch here.
#include <cstddef>
#include <string>
#include <string_view>

namespace plural::core {

/// A file being written atomically. Write through write() or let a library write temp_path() (HDF5), then commit().
/// Destroyed without commit(), it removes its temporary and leaves the target as it was.
class AtomicFile {
 public:
  /// Picks a temporary name unique to this process and object, in the target's folder, and removes the stale
  /// temporaries of the same target left by processes that died.
  explicit AtomicFile(std::string target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& target() const { return target_; }
  const std::string& temp_path() const { return temp_; }
  /// Appends bytes to the temporary (opened on first use). Throws IoError naming the target and the cause.
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  /// fsyncs the temporary, renames it over the target and fsyncs the folder.
  void commit();

 private:
  void open_fd();
  std::string target_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Writes `content` to `path` through an AtomicFile.
void write_file_atomic(const std::string& path, std::string_view content);

/// The cause of a failed system call in words a user acts on ("disk full" for ENOSPC).
std::string io_cause(int err);

/// For a temporary written and closed by someone else (HDF5): fsync it, rename it over `target`, fsync the folder.
void replace_with(const std::string& temp, const std::string& target);

/// Removes `<target>.tmp-<pid>-…` files in the target's folder whose process is gone.
void remove_stale_temporaries(const std::string& target);

}  // namespace plural::core
