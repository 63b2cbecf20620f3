// postfix_ciphers.h - mtatls `tls_ciphers` as Postfix's `ciphers=` (a
// grade) and `exclude=` (ciphers to drop) policy attributes.
//
// A Postfix policy cannot carry an OpenSSL cipher list, only one of its
// grades (tls_high_cipherlist, tls_medium_cipherlist, ... in main.cf) and
// a list of exclusions.  So an mtatls list is expressible when it is a
// base Postfix has a grade for, followed by removals only:
//
//   DEFAULT          -> medium, excluding aNULL, CAMELLIA, ARIA, AESCCM
//                       and DSS: OpenSSL 3's DEFAULT leaves out exactly
//                       these from HIGH:MEDIUM (postfix_ciphers_test
//                       checks the sets against the OpenSSL it runs with)
//   HIGH             -> high
//   HIGH:MEDIUM      -> medium
//   BASE:!X:-Y:...   -> the same grade, exclude=X:Y:...
//
// `@STRENGTH` only orders the list and is dropped; order is not carried
// (Postfix's grades end in @STRENGTH).  Anything else (additions, "+X"
// reordering, @SECLEVEL, another base) is not expressible: the mapping
// then says why and falls back to Postfix's default grade, medium.
// With tls_enable_dhe_ciphers = false, kDHE is excluded as mtatls does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mtatls::postfix {

struct CipherMapping {
    std::string grade = "medium";     // the value of ciphers=
    std::vector<std::string> exclude; // the items of exclude= (no '!')
    bool exact = true;                // false: not expressible, see why
    std::string why;
};

CipherMapping map_ciphers(std::string_view tls_ciphers, bool dhe_enabled);

// Postfix's default cipher list for a grade (postconf -d), for tests and
// messages: "aNULL:-aNULL:HIGH:@STRENGTH" for high.
std::string_view postfix_grade_cipherlist(std::string_view grade);

} // namespace mtatls::postfix
