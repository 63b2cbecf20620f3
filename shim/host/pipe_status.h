// pipe_status.h - the first line of mtatls-send's output under --pipe: an
// RFC 3463 enhanced status code and the reason, as Postfix's pipe(8) reads
// it ("When the output begins with a 4.X.X or 5.X.X enhanced status code,
// the status code takes precedence over the non-zero exit status").
//
// Without it pipe(8) records every deferral as 4.3.0 and every bounce as
// 5.3.0, and the queue shows only the raw command output.  The line is
// one line of log-safe text: it ends up in the mail log, `postqueue -p`
// and the bounce sent to the sender.
#pragma once

#include "attempt_result.h"

#include <string>
#include <string_view>

namespace mtatls::host {

// For a sent message "2.0.0 sent over PROTOCOL, verified, CIPHER, to HOST:
// REPLY" (pipe(8) only logs it), else "D.D.D TEXT": the result's enhanced
// code (its class made to agree with the outcome, 4 or 5) and, for a server's answer, "host
// NAME[ADDR]:PORT said: CODE TEXT", for mtatls's own verdict the
// "[internal] ..." text and the host it concerns.
std::string pipe_status_line(const AttemptResult& result);

// The line for a failure on this side (configuration, module, internal):
// always temporary, so that a broken installation defers mail, never
// bounces it.
std::string local_failure_status_line(std::string_view dsn, std::string_view message);

} // namespace mtatls::host
