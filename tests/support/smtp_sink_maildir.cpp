// smtp_sink_maildir.cpp - tmp/ then rename into new/, one file per message.
#include "smtp_sink_maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mtatls::sink {

namespace {

bool make_dir(const std::string& path, std::string& error) {
    if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return true;
    error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
}

// Writes both parts completely; a short write only means "go on".
bool write_all(int fd, std::string_view header, std::string_view body) {
    while (!header.empty() || !body.empty()) {
        iovec parts[2] = {{const_cast<char*>(header.data()), header.size()},
                          {const_cast<char*>(body.data()), body.size()}};
        const ssize_t n = ::writev(fd, parts, 2);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        auto done = static_cast<std::size_t>(n);
        const std::size_t from_header = std::min(done, header.size());
        header.remove_prefix(from_header);
        body.remove_prefix(done - from_header);
    }
    return true;
}

} // namespace

std::optional<Maildir> Maildir::open(const std::string& dir, const std::string& hostname,
                                     std::string& error) {
    for (const char* sub : {"", "/tmp", "/new", "/cur"})
        if (!make_dir(dir + sub, error)) return std::nullopt;
    return Maildir(dir, hostname);
}

bool Maildir::store(std::uint64_t id, std::string_view header, std::string_view body,
                    std::string& error) const {
    timeval now{};
    ::gettimeofday(&now, nullptr);
    char name[96];
    std::snprintf(name, sizeof name, "%lld.M%ldP%dQ%llu.", static_cast<long long>(now.tv_sec),
                  static_cast<long>(now.tv_usec), static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(id));
    const std::string file = name + hostname_;
    const std::string temporary = dir_ + "/tmp/" + file;

    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "cannot create " + temporary + ": " + std::strerror(errno);
        return false;
    }
    const bool written = write_all(fd, header, body);
    const int saved = errno;
    if (::close(fd) != 0 || !written) {
        error = "cannot write " + temporary + ": " + std::strerror(written ? errno : saved);
        ::unlink(temporary.c_str());
        return false;
    }
    if (::rename(temporary.c_str(), (dir_ + "/new/" + file).c_str()) != 0) {
        error = "cannot move " + temporary + " into new/: " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    return true;
}

} // namespace mtatls::sink
