// finding_text.h - how a mapping finding is printed, the same way by
// `mtatls-policyd` (its log) and by `mtatls-config check --postfix`, in
// the compiler-style form of every mtatls diagnostic:
//
//   FILE:LINE:COL: warning: [SCOPE] postfix: MESSAGE
//
// A finding about a built-in default has no line of its own: it is
// printed with `config_file` alone ("FILE: warning: [default] postfix:
// ..."), or with nothing when that is empty.
#pragma once

#include "policy_map.h"

#include <string>

namespace mtatls::postfix {

std::string finding_text(const Finding& finding, const std::string& config_file = {});

// A key that is the same for every lookup that hits the same directive in
// the same stanza, so each problem is reported once.
std::string finding_identity(const Finding& finding);

} // namespace mtatls::postfix
