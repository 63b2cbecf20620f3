// deadline_test.cpp - saturating deadline arithmetic and poll timeouts.
#include "deadline.h"

#include <doctest/doctest.h>

#include <chrono>
#include <climits>

using namespace mtatls::host;
using namespace std::chrono_literals;
using Clock = Deadline::Clock;

TEST_CASE("after() counts from the given now and never overflows") {
    const Clock::time_point now = Clock::now();
    const Deadline d = Deadline::after(5s, now);
    CHECK(d.when() == now + 5s);
    CHECK_FALSE(d.expired(now));
    CHECK_FALSE(d.expired(now + 4999ms));
    CHECK(d.expired(now + 5s));
    CHECK(d.remaining(now) == Clock::duration(5s));
    CHECK(d.remaining(now + 6s) == Clock::duration::zero());

    // Huge limits saturate at never() rather than wrapping into the past.
    CHECK(Deadline::after(Clock::duration::max(), now).is_never());
    CHECK(Deadline::after(Clock::duration::max() - 1ns, now + 1h).is_never());
    // Zero and negative limits are already expired.
    CHECK(Deadline::after(0s, now).expired(now));
    CHECK(Deadline::after(-5s, now).expired(now));
}

TEST_CASE("never() never expires and polls forever") {
    const Deadline d = Deadline::never();
    CHECK(d.is_never());
    CHECK_FALSE(d.expired(Clock::now() + 24h * 365 * 100));
    CHECK(d.remaining() == Clock::duration::max());
    CHECK(d.poll_timeout_ms() == -1);
}

TEST_CASE("poll timeouts round up to whole milliseconds") {
    const Clock::time_point now = Clock::now();
    struct Case {
        Clock::duration left;
        int want;
    };
    const Case cases[] = {
        {0ns, 0},    {-1s, 0},       {1ns, 1},       {999us, 1},          {1ms, 1},
        {1001us, 2}, {1500ms, 1500}, {300s, 300000}, {24h * 30, INT_MAX}, // more than INT_MAX ms:
                                                                          // capped
    };
    for (const Case& c : cases) {
        const Deadline d = Deadline::at(now + c.left);
        const int got = d.poll_timeout_ms(now);
        CHECK_MESSAGE(got == c.want, "left ",
                      std::chrono::duration_cast<std::chrono::nanoseconds>(c.left).count(),
                      " ns: got ", got, ", want ", c.want);
    }
}

TEST_CASE("earliest() picks the first deadline; never() loses to anything") {
    const Clock::time_point now = Clock::now();
    const Deadline reply = Deadline::after(300s, now);
    const Deadline attempt = Deadline::after(10s, now);
    CHECK(earliest(reply, attempt) == attempt);
    CHECK(earliest(attempt, reply) == attempt);
    CHECK(earliest(Deadline::never(), reply) == reply);
    CHECK(earliest(reply, Deadline::never()) == reply);
    CHECK(earliest(Deadline::never(), Deadline::never()).is_never());
}

TEST_CASE("seconds() converts command-line seconds") {
    CHECK(seconds(300) == Clock::duration(300s));
    CHECK(seconds(0) == Clock::duration::zero());
}
