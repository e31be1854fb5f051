// Logging sink: one line per message, serialized so server threads do not interleave.
#include "core/log.h"

#include <atomic>
#include <mutex>

namespace r1 {

namespace {
std::atomic<int> g_level{int(LogLevel::kWarn)};
std::mutex g_mutex;
}  // namespace

LogLevel log_level() { return LogLevel(g_level.load(std::memory_order_relaxed)); }
void set_log_level(LogLevel level) { g_level.store(int(level), std::memory_order_relaxed); }

void log_write(LogLevel level, const std::string& message) {
  static const char* kTag[] = {"error", "warn", "info", "debug"};
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "r1 %s: %s\n", kTag[int(level)], message.c_str());
}

}  // namespace r1
