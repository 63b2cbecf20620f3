// custom_format.h - rendering the custom log form's templates (Momentum
// custom_logger style: literal text, `%{NAME}` references, `%%`).
//
// The grammar lives in one place shared with the module, which validates
// every template at load time: text/log_template.h.  sendmail's names keep
// their braces there: `%{{verify}}` names `{verify}`.  This file only
// fills in the values.
#pragma once

#include "text/log_template.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

// The value of a name ("" for an unknown one).
using FieldLookup = std::function<std::string(std::string_view name)>;

// The rendered line.  Every value and the template's literal text pass
// through text::log_safe(): whatever a value holds (a newline, an ANSI
// escape, a NUL), the result is one log-safe line.  A template that does
// not parse (the module refuses those at load time) is written as
// log-safe literal text rather than lose the line.
std::string render_template(std::string_view text, const FieldLookup& lookup);

// The names a template refers to, in order, without repeats (none when it
// does not parse).
std::vector<std::string> template_names(std::string_view text);

} // namespace mtatls::host
