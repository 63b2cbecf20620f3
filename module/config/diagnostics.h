// diagnostics.h - source positions and the error/warning/note list every
// configuration stage appends to.  Messages name file:line:column and the
// scope path so an admin can go straight to the offending line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mtatls::config {

// A place in a configuration file; file indexes Document::files.
struct SourcePos {
    uint32_t file = 0;
    uint32_t line = 0;   // 1-based, 0 = unknown
    uint32_t column = 0; // 1-based, 0 = unknown
};

enum class Severity { error, warning, note };

struct Diagnostic {
    Severity severity = Severity::error;
    std::string file; // empty when not about a file
    uint32_t line = 0;
    uint32_t column = 0;
    std::string scope; // e.g. binding "b1" / domain "example.com"
    std::string message;
};

// Formats one diagnostic the way compilers do, so editors can jump to it:
//   FILE:LINE:COL: error: [SCOPE] MESSAGE
std::string format(const Diagnostic& diagnostic);

class Diagnostics {
  public:
    void add(Severity severity, std::string file, SourcePos pos, std::string scope,
             std::string message);
    void error(std::string file, SourcePos pos, std::string scope, std::string message) {
        add(Severity::error, std::move(file), pos, std::move(scope), std::move(message));
    }
    void warning(std::string file, SourcePos pos, std::string scope, std::string message) {
        add(Severity::warning, std::move(file), pos, std::move(scope), std::move(message));
    }
    void note(std::string file, SourcePos pos, std::string scope, std::string message) {
        add(Severity::note, std::move(file), pos, std::move(scope), std::move(message));
    }

    [[nodiscard]] bool has_errors() const { return error_count_ > 0; }
    [[nodiscard]] std::size_t error_count() const { return error_count_; }
    [[nodiscard]] const std::vector<Diagnostic>& items() const { return items_; }

  private:
    std::vector<Diagnostic> items_;
    std::size_t error_count_ = 0;
};

} // namespace mtatls::config
