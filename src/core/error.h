// Errors: r1::Error for bad input at a boundary (files, config, CLI, HTTP, schemas), R1_CHECK for bugs.
// Library code never calls exit(); the CLI and the server turn an Error into a message or a status.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace r1 {

// What kind of bad input an Error reports; the server maps it to an HTTP status.
enum class ErrorKind { kInvalidInput, kNotFound, kUnsupported, kIo, kLimit };

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, ErrorKind kind = ErrorKind::kInvalidInput)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Throws r1::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...), kind);
}

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& message);

}  // namespace r1

// Internal invariant (a bug if false), always on: prints where and aborts.
#define R1_CHECK(cond, ...)                                                                   \
  do {                                                                                        \
    if (!(cond)) [[unlikely]]                                                                 \
      ::r1::check_failed(__FILE__, __LINE__, #cond, ::r1::detail_check_message(__VA_ARGS__)); \
  } while (0)

namespace r1 {
inline std::string detail_check_message() { return {}; }
template <typename... Args>
std::string detail_check_message(fmt::format_string<Args...> format, Args&&... args) {
  return fmt::format(format, std::forward<Args>(args)...);
}
}  // namespace r1
