// openssl_checks.h - load-time checks that need OpenSSL: certificate, key,
// CA bundle and DH parameter files, cipher lists and TLS 1.3 suites.
//
// Each returns an empty string when the input is good, else one sentence
// saying what is wrong; callers add file:line and scope.
#pragma once

#include <string>
#include <string_view>

namespace mtatls::config {

struct CertificateFacts {
    std::string error;
    bool contains_key = false; // the PEM also holds a private key
};

CertificateFacts check_certificate_file(const std::string& path);
std::string check_key_file(const std::string& path);
std::string check_ca_file(const std::string& path);
std::string check_dhparams_file(const std::string& path);
// `key_path` empty: the key is expected in the certificate file.
std::string check_key_matches(const std::string& certificate_path, const std::string& key_path);
std::string check_cipher_list(std::string_view ciphers);
std::string check_tls13_suites(std::string_view suites);

} // namespace mtatls::config
