#pragma once
// Error types and boundary checks. No torch here: readers and the data model use these too.
#include <sstream>
#include <stdexcept>
#include <string>

namespace plural {

/// Bad input from a user (file, argument, value). Python sees ValueError.
struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// A resource problem outside the caller's arguments (I/O, HDF5, a corrupt file).
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace plural

/// User-facing check: the message names the function, what was expected and what was received.
#define PLURAL_CHECK(cond, ...)                                                  \
  do {                                                                           \
    if (!(cond)) throw ::plural::ValueError(::plural::detail::cat(__VA_ARGS__)); \
  } while (0)

/// Internal invariant: a failure is a bug in plural, not in the caller's input.
#define PLURAL_ASSERT(cond)                                                                          \
  do {                                                                                               \
    if (!(cond))                                                                                     \
      throw std::logic_error(                                                                        \
          ::plural::detail::cat("plural internal error: ", #cond, " at ", __FILE__, ":", __LINE__)); \
  } while (0)
