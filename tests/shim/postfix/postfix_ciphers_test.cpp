// postfix_ciphers_test.cpp - tls_ciphers to ciphers=/exclude=, and, with
// the OpenSSL this runs with, that every list called expressible selects
// the same ciphers as Postfix's grade list with the exclusions.
#include "postfix_ciphers.h"

#include <openssl/ssl.h>

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace mtatls::postfix;

namespace {

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items)
        out += (out.empty() ? "" : ":") + item;
    return out;
}

// The names OpenSSL selects for `list` in a client context.
std::set<std::string> selected(const std::string& list) {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                          SSL_CTX_free);
    REQUIRE(ctx);
    REQUIRE(SSL_CTX_set_cipher_list(ctx.get(), list.c_str()) == 1);
    std::set<std::string> names;
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i)
        names.insert(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i)));
    return names;
}

} // namespace

TEST_CASE("tls_ciphers, table-driven") {
    struct Row {
        const char* mtatls;
        bool dhe;
        const char* grade;
        const char* exclude;
        bool exact;
    };
    const std::vector<Row> rows = {
        {"DEFAULT", true, "medium", "aNULL:CAMELLIA:ARIA:AESCCM:DSS", true},
        {"DEFAULT:!aNULL", true, "medium", "aNULL:CAMELLIA:ARIA:AESCCM:DSS", true},
        {"DEFAULT:!3DES:-SHA1", true, "medium", "aNULL:CAMELLIA:ARIA:AESCCM:DSS:3DES:SHA1", true},
        {"HIGH", true, "high", "", true},
        {"HIGH:!aNULL:!eNULL:!RC4:!3DES:!MD5", true, "high", "aNULL:eNULL:RC4:3DES:MD5", true},
        {"HIGH:!aNULL:@STRENGTH", true, "high", "aNULL", true},
        {"HIGH MEDIUM !aNULL", true, "medium", "aNULL", true},
        {"MEDIUM,HIGH", true, "medium", "", true},
        {"HIGH:!ECDHE-RSA-AES128-SHA", true, "high", "ECDHE-RSA-AES128-SHA", true},
        {"HIGH", false, "high", "kDHE", true},
        {"DEFAULT", false, "medium", "aNULL:CAMELLIA:ARIA:AESCCM:DSS:kDHE", true},
        // Not expressible: Postfix's default grade (and kDHE when asked).
        {"ECDHE+AESGCM", true, "medium", "", false},
        {"ECDHE+AESGCM", false, "medium", "kDHE", false},
        {"HIGH:+AES256", true, "medium", "", false},
        {"HIGH:AES128-SHA", true, "medium", "", false},
        {"HIGH:@SECLEVEL=0", true, "medium", "", false},
        {"ALL", true, "medium", "", false},
        {"MEDIUM", true, "medium", "", false},
        {"!aNULL:HIGH", true, "medium", "", false},
        {"", true, "medium", "", false},
    };
    for (const Row& row : rows) {
        const std::string input = row.mtatls;
        CAPTURE(input);
        CAPTURE(row.dhe);
        const CipherMapping mapping = map_ciphers(row.mtatls, row.dhe);
        CHECK(mapping.grade == row.grade);
        CHECK(join(mapping.exclude) == row.exclude);
        CHECK(mapping.exact == row.exact);
        CHECK(mapping.why.empty() == row.exact);
    }
}

TEST_CASE("expressible lists select the same ciphers in OpenSSL as Postfix would") {
    for (const char* list : {"DEFAULT", "DEFAULT:!3DES:-SHA1", "HIGH", "HIGH:!aNULL:!MD5:!RC4",
                             "HIGH:MEDIUM", "HIGH:!kRSA", "DEFAULT:!kDHE"}) {
        for (const bool dhe : {true, false}) {
            const std::string input = list;
            CAPTURE(input);
            CAPTURE(dhe);
            const CipherMapping mapping = map_ciphers(list, dhe);
            REQUIRE(mapping.exact);
            // Postfix: the grade's list, then "!" before each exclusion.
            std::string postfix(postfix_grade_cipherlist(mapping.grade));
            for (const std::string& item : mapping.exclude)
                postfix += ":!" + item;
            // mtatls: the list, and !kDHE when DHE is off.
            const std::string mtatls = std::string(list) + (dhe ? "" : ":!kDHE");
            CHECK(selected(mtatls) == selected(postfix));
        }
    }
}

TEST_CASE("grade lists are Postfix's defaults") {
    CHECK(postfix_grade_cipherlist("high") == "aNULL:-aNULL:HIGH:@STRENGTH");
    CHECK(postfix_grade_cipherlist("medium") == "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH");
    CHECK(postfix_grade_cipherlist("low").empty());
}
