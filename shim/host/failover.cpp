// failover.cpp - the "try the next MX host?" rule (see failover.h).
#include "failover.h"

#include <algorithm>

namespace mtatls::host {

bool try_next_mx(const AttemptResult& result) {
    if (result.outcome != Outcome::deferred) return false;
    switch (result.stage) {
    case Stage::connect:
    case Stage::greeting:
    case Stage::hello:
    case Stage::tls: return true;
    case Stage::transaction:
        return std::all_of(result.recipients.begin(), result.recipients.end(),
                           [](const RecipientResult& r) { return r.outcome == Outcome::deferred; });
    case Stage::resolve:
    case Stage::message:
    case Stage::local: return false;
    }
    return false;
}

} // namespace mtatls::host
