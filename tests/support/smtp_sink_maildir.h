// smtp_sink_maildir.h - keeps accepted messages Maildir-style: each is written
// under DIR/tmp and then renamed into DIR/new, so a test polling DIR/new never
// sees half a message. No fsync: this is test data and speed matters more.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mtatls::sink {

class Maildir {
  public:
    // Creates DIR, DIR/tmp, DIR/new and DIR/cur as needed.
    static std::optional<Maildir> open(const std::string& dir, const std::string& hostname,
                                       std::string& error);

    // Stores header + body as one new message; `id` makes the name unique.
    bool store(std::uint64_t id, std::string_view header, std::string_view body,
               std::string& error) const;

  private:
    Maildir(std::string dir, std::string hostname)
        : dir_(std::move(dir)), hostname_(std::move(hostname)) {}

    std::string dir_;
    std::string hostname_;
};

} // namespace mtatls::sink
