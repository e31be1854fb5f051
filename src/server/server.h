// The OpenAI-compatible HTTP server: routes, auth, limits, SSE streaming, metrics, graceful
// shutdown. The one place where errors become HTTP statuses. The model may still be loading when
// the server starts listening: /health answers 503 until set_engine() is called.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"

namespace httplib {
class Server;
}

namespace r1::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;              // 0: any free port (see bound_port())
  std::string api_key;          // empty: no authentication
  size_t max_body_bytes = size_t(8) << 20;
  int http_threads = 64;        // concurrent connections served (streams hold one each)
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds the socket (throws r1::Error if it cannot). Call before run().
  void bind();
  int bound_port() const { return port_; }
  // Serves until stop(); blocks.
  void run();
  // Makes the model available (ends the 503 loading state).
  void set_engine(std::shared_ptr<Engine> engine);
  // Graceful stop: refuses new requests, cancels or finishes running ones (cancel_running), closes
  // streams with a final event, then stops the listener. Safe to call from a signal-watching thread.
  void stop(bool cancel_running);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace r1::server
