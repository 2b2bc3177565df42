// The classic nccl-tests picture of a profile: measured bus bandwidth against message size, one
// panel per collective, one series per measured group (network level), with the fitted
// alpha-beta model of fit.hpp drawn over the measurements. docs/visuals.md §2.
#pragma once

#include <string>

#include "nest/profiler/profile.hpp"

namespace nest::profiler {

// Bus bandwidth of the fitted model for one sample size of a series (GB/s; 0 when the series
// has no fit). The fit's time converted as nccl-tests converts a measured time.
double model_busbw_GBps(const Profile& p, const CollectiveSeries& s, double bytes);

std::string bandwidth_svg(const Profile& p, const std::string& source);

}  // namespace nest::profiler
