// report.html: one self-contained page (inline CSS and SVG, no script or font from anywhere,
// a Content-Security-Policy that forbids loading anything) that works offline.
#pragma once

#include <string>

#include "experiment/experiment_result.hpp"

namespace syschaos::experiment {

std::string render_report_html(const CampaignResult& campaign);

}  // namespace syschaos::experiment
