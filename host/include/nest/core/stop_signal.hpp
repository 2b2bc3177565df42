// Ctrl-C (SIGINT) and SIGTERM during a long run (nest profile, nest sweep): while a StopSignals
// guard lives, the handler only records the signal, and the run checks stop_signal() between
// steps, keeps what is done and says how to resume. The handler is reset to the default once it
// has fired, so a second Ctrl-C ends the process at once.
#pragma once

#include <csignal>

namespace nest {

class StopSignals {
 public:
  StopSignals();   // installs the handler and clears any signal recorded before
  ~StopSignals();  // restores the previous handlers
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction saved_int_ {};
  struct sigaction saved_term_ {};
};

// The signal received while a StopSignals guard was installed, 0 if none.
int stop_signal();

}  // namespace nest
