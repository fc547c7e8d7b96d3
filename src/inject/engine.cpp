#include "inject/engine.hpp"

namespace syschaos {

std::string_view end_reason_name(EndReason reason) {
  switch (reason) {
    case EndReason::duration: return "duration elapsed";
    case EndReason::interrupted: return "interrupted";
    case EndReason::target_exited: return "target exited";
  }
  return "unknown";
}

}  // namespace syschaos
