// The ChaosFS control socket: change rules while mounted, without remounting.
//
// Protocol: AF_UNIX stream; the client sends one JSON object on one line, the server answers
// one JSON object on one line and closes.
//   {"cmd":"list"}                      -> {"ok":true,"seed":N,"mountpoint":"...","rules":[
//                                            {"id":1,"name":"","description":"...",
//                                             "counters":{"matched":..,"fired":..,...}}]}
//   {"cmd":"add","rules":"<YAML>"}      -> {"ok":true,"ids":[2,3]}
//   {"cmd":"replace","rules":"<YAML>"}  -> {"ok":true,"ids":[4]}   (all old rules removed)
//   {"cmd":"remove","id":2}             -> {"ok":true} | {"ok":false,"error":"no rule 2"}
//   {"cmd":"clear"}                     -> {"ok":true}
// The YAML is either format parse_fs_rules() accepts; a bad file changes nothing.
#pragma once

#include <string>
#include <thread>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "fs/fs_rule_engine.hpp"

namespace syschaos::fs {

class FsControlServer {
 public:
  // listen_fd: a bound, listening socket (owned from now on). stop_fd: readable = stop.
  FsControlServer(UniqueFd listen_fd, int stop_fd, FsRuleEngine& engine, std::string mountpoint);
  ~FsControlServer();  // joins the thread (the owner makes stop_fd readable first)

  // Handles one request line; returns the response line (no newline). Public for tests.
  static std::string handle(const std::string& request, FsRuleEngine& engine,
                            const std::string& mountpoint);

 private:
  void loop();
  UniqueFd listen_fd_;
  int stop_fd_;
  FsRuleEngine& engine_;
  std::string mountpoint_;
  std::thread thread_;
};

// Binds and listens on a unix socket path (an existing socket file there is replaced).
Result<UniqueFd> listen_control_socket(const std::string& path);

// Client side: sends one request, returns the response line. Used by `syschaos fs rules`.
Result<std::string> control_request(const std::string& socket_path, const std::string& request);

}  // namespace syschaos::fs
