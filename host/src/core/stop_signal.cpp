#include "nest/core/stop_signal.hpp"

#include <csignal>

namespace nest {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void nest_on_stop_signal(int sig) { g_stop_signal = sig; }
}  // namespace

StopSignals::StopSignals() {
  g_stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = nest_on_stop_signal;
  sa.sa_flags = SA_RESETHAND;  // the second Ctrl-C is the default action: end now
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &saved_int_);
  sigaction(SIGTERM, &sa, &saved_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &saved_int_, nullptr);
  sigaction(SIGTERM, &saved_term_, nullptr);
}

int stop_signal() { return static_cast<int>(g_stop_signal); }

}  // namespace nest
