#include "experiment/observations.hpp"

namespace syschaos::experiment {

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::baseline: return "baseline";
    case Phase::perturbation: return "perturbation";
    case Phase::recovery: return "recovery";
  }
  return "?";
}

const char* request_error_name(RequestError error) {
  switch (error) {
    case RequestError::none: return "none";
    case RequestError::timeout: return "timeout";
    case RequestError::connect: return "connect";
    case RequestError::reset: return "reset";
    case RequestError::other: return "other";
  }
  return "?";
}

}  // namespace syschaos::experiment
