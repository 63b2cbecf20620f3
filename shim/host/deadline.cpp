// deadline.cpp - saturating deadline arithmetic (see deadline.h).
#include "deadline.h"

#include <climits>

namespace mtatls::host {

Deadline Deadline::after(Clock::duration limit, Clock::time_point now) {
    if (limit <= Clock::duration::zero()) return Deadline(now);
    // now + limit would overflow: that is as good as never.
    if (limit >= Clock::time_point::max() - now) return never();
    return Deadline(now + limit);
}

Deadline::Clock::duration Deadline::remaining(Clock::time_point now) const {
    if (is_never()) return Clock::duration::max();
    if (now >= when_) return Clock::duration::zero();
    return when_ - now;
}

int Deadline::poll_timeout_ms(Clock::time_point now) const {
    if (is_never()) return -1;
    const auto left = remaining(now);
    if (left <= Clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms >= INT_MAX ? INT_MAX : static_cast<int>(ms);
}

} // namespace mtatls::host
