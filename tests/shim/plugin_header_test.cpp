// plugin_header_test.cpp - the ABI's frozen numbers: verdicts equal
// libmilter's SMFIS_* values, hook ids and status codes never move.
#include <mtatls/plugin.h>

#include <libmilter/mfapi.h>

#include <doctest/doctest.h>

static_assert(MTATLS_VERDICT_CONTINUE == SMFIS_CONTINUE);
static_assert(MTATLS_VERDICT_REJECT == SMFIS_REJECT);
static_assert(MTATLS_VERDICT_TEMPFAIL == SMFIS_TEMPFAIL);

// Frozen forever; a change here is an ABI break.
static_assert(MTATLS_HOOK_CONFIG_LOAD == 1 && MTATLS_HOOK_CONN_SETUP == 10 &&
              MTATLS_HOOK_STARTTLS_STEP == 13 && MTATLS_HOOK_UNLOAD == 20);
static_assert(MTATLS_STATUS_OK == 0 && MTATLS_STATUS_ERROR == 100 && MTATLS_STATUS_REFUSED == 109);
static_assert(MTATLS_STEP_DONE == 0 && MTATLS_STEP_WANT_READ == 1 && MTATLS_STEP_WANT_WRITE == 2 &&
              MTATLS_STEP_FAILED == 3);
static_assert(sizeof(mtatls_reply) == 4 + 4 + 16 + 512);

TEST_CASE("build signatures pack and unpack") {
    const uint32_t signature = MTATLS_BUILD_SIGNATURE(8, 3);
    CHECK(MTATLS_SIGNATURE_POINTER_SIZE(signature) == 8);
    CHECK(MTATLS_SIGNATURE_OPENSSL_MAJOR(signature) == 3);
}
