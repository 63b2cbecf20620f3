// deadline.h - monotonic deadlines for every wait of a delivery attempt.
//
// Each wait has two limits: its own (per reply, per handshake, per write
// without progress) and the whole attempt's.  A Deadline is a point on the
// monotonic clock (wall-clock jumps must not shorten or stretch a wait);
// `earliest` combines the two, so a slow drip of bytes can never carry a
// wait past the attempt deadline.  Arithmetic saturates instead of
// overflowing, so "never" and very long limits are safe to combine.
#pragma once

#include <chrono>

namespace mtatls::host {

class Deadline {
  public:
    using Clock = std::chrono::steady_clock;

    // A deadline that never expires.
    static Deadline never() { return Deadline(Clock::time_point::max()); }
    static Deadline at(Clock::time_point when) { return Deadline(when); }
    // `limit` from `now`; saturates at never() instead of overflowing.
    static Deadline after(Clock::duration limit, Clock::time_point now = Clock::now());

    [[nodiscard]] bool is_never() const { return when_ == Clock::time_point::max(); }
    [[nodiscard]] Clock::time_point when() const { return when_; }
    [[nodiscard]] bool expired(Clock::time_point now = Clock::now()) const { return now >= when_; }
    // Time left, never negative; Clock::duration::max() for never().
    [[nodiscard]] Clock::duration remaining(Clock::time_point now = Clock::now()) const;
    // The timeout argument for poll(2): -1 for never(), 0 once expired,
    // otherwise the remaining time rounded UP to whole milliseconds (so a
    // wait just short of the deadline sleeps instead of spinning), capped
    // at INT_MAX.
    [[nodiscard]] int poll_timeout_ms(Clock::time_point now = Clock::now()) const;

    friend bool operator==(const Deadline&, const Deadline&) = default;

  private:
    explicit Deadline(Clock::time_point when) : when_(when) {}
    Clock::time_point when_;
};

// The deadline that comes first.
inline Deadline earliest(const Deadline& a, const Deadline& b) {
    return a.when() <= b.when() ? a : b;
}

// Whole seconds as a Clock::duration (the command line speaks seconds).
inline Deadline::Clock::duration seconds(long long count) {
    return std::chrono::duration_cast<Deadline::Clock::duration>(std::chrono::seconds(count));
}

} // namespace mtatls::host
