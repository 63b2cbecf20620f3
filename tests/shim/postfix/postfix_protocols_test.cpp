// postfix_protocols_test.cpp - tls_protocols to Postfix's protocols=.
#include "postfix_protocols.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::postfix;

TEST_CASE("tls_protocols, table-driven") {
    struct Row {
        const char* mtatls;
        bool no_tls13_suites;
        const char* postfix; // "" when not ok
        bool legacy;
    };
    const std::vector<Row> rows = {
        {"+ALL", false, ">=TLSv1.2", false},
        {"ALL", false, ">=TLSv1.2", false},
        {"+all", false, ">=TLSv1.2", false},
        {"+ALL:-TLSv1.2", false, ">=TLSv1.3", false},
        {"-ALL:+TLSv1.3", false, ">=TLSv1.3", false},
        {"+ALL:-TLSv1.3", false, ">=TLSv1.2:<=TLSv1.2", false},
        {"+TLSv1.2", false, ">=TLSv1.2:<=TLSv1.2", false},
        {"+ALL:+TLSv1.1", false, ">=TLSv1.1", true},
        // A hole at TLS 1.1: OpenSSL uses the lowest run, TLS 1.0 alone.
        {"+ALL:+TLSv1.0", false, ">=TLSv1:<=TLSv1", true},
        {"+ALL:+TLSv1:+TLSv1.1", false, ">=TLSv1", true},
        {"+TLSv1.0:+TLSv1.1", false, ">=TLSv1:<=TLSv1.1", true},
        {" +ALL : -TLSv1.3 ", false, ">=TLSv1.2:<=TLSv1.2", false},
        {"+ALL:+SSLv3", false, ">=TLSv1.2", false},
        {"+ALL:-SSLv2", false, ">=TLSv1.2", false},
        // Without TLS 1.3 suites OpenSSL cannot use TLS 1.3.
        {"+ALL", true, ">=TLSv1.2:<=TLSv1.2", false},
        {"-ALL:+TLSv1.3", true, "", false},
        {"-ALL", false, "", false},
        {"+TLSv1.4", false, "", false},
        {"", false, "", false},
    };
    for (const Row& row : rows) {
        const std::string input = row.mtatls;
        CAPTURE(input);
        CAPTURE(row.no_tls13_suites);
        const ProtocolMapping mapping = map_protocols(row.mtatls, row.no_tls13_suites);
        CHECK(mapping.ok == (*row.postfix != '\0'));
        CHECK(mapping.attribute == row.postfix);
        if (mapping.ok) CHECK(mapping.legacy == row.legacy);
    }
    // The hole case: what is enabled and what OpenSSL uses differ.
    const ProtocolMapping hole = map_protocols("+ALL:+TLSv1.0", false);
    CHECK(hole.effective == tls1_0);
    CHECK(hole.enabled == (tls1_0 | tls1_2 | tls1_3));
    CHECK(map_protocols("-ALL", false).error ==
          "tls_protocols \"-ALL\" leaves no protocol version");
    CHECK(map_protocols("-ALL:+TLSv1.3", true).error ==
          "tls_protocols \"-ALL:+TLSv1.3\" with no TLS 1.3 suites (tlsv13_ciphersuites is "
          "empty) leaves no protocol version");
}
