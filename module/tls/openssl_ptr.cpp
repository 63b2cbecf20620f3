// openssl_ptr.cpp - the OpenSSL error queue as text.
#include "tls/openssl_ptr.h"

#include <array>

namespace mtatls::tls {

std::string drain_openssl_errors() {
    std::string text;
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(code, buffer.data(), buffer.size());
        if (!text.empty()) text += "; ";
        text += buffer.data();
    }
    return text;
}

} // namespace mtatls::tls
