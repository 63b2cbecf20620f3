// peer_check.cpp - recording chain errors and matching names (see peer_check.h).
#include "tls/peer_check.h"

#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

namespace mtatls::tls {

std::string normalize_host(const std::string& name) {
    std::string host = name;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.size() > 1 && host.back() == '.') host.pop_back();
    for (char& c : host)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return host;
}

namespace {

// OpenSSL reads a reference name starting with '.' as "any subdomain of",
// so such names, and names with empty labels, are never matched at all.
bool usable_dns_name(const std::string& host) {
    return !host.empty() && host.front() != '.' && host.back() != '.' &&
           host.find("..") == std::string::npos;
}

} // namespace

bool is_ip_literal(const std::string& name) {
    const std::string host = normalize_host(name);
    unsigned char address[16];
    return inet_pton(AF_INET, host.c_str(), address) == 1 ||
           inet_pton(AF_INET6, host.c_str(), address) == 1;
}

int PeerCheck::record(int preverify_ok, X509_STORE_CTX* store) noexcept {
    if (preverify_ok == 1) return 1;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* check =
        ssl == nullptr
            ? nullptr
            : static_cast<PeerCheck*>(SSL_get_ex_data(ssl, ClientContext::peer_check_index()));
    if (check != nullptr && check->first_error_ == X509_V_OK) {
        check->first_error_ = X509_STORE_CTX_get_error(store);
        check->first_error_depth_ = X509_STORE_CTX_get_error_depth(store);
    }
    return 1;
}

PeerCheck::Verdict PeerCheck::judge(SSL* ssl) const {
    Verdict verdict;
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer == nullptr) {
        verdict.chain_error = "the server sent no certificate";
        verdict.name_error = verdict.chain_error;
        return verdict;
    }
    // The callback saw every error; the final result catches a chain
    // OpenSSL could not even build.
    int error = first_error_;
    int depth = first_error_depth_;
    if (error == X509_V_OK) {
        error = static_cast<int>(SSL_get_verify_result(ssl));
        depth = 0;
    }
    verdict.chain_trusted = error == X509_V_OK;
    if (!verdict.chain_trusted)
        verdict.chain_error = std::string(X509_verify_cert_error_string(error)) + " (depth " +
                              std::to_string(depth) + ")";

    // SAN first, the CN only when there is no DNS SAN (OpenSSL's default),
    // wildcards only as the whole left-most label.
    constexpr unsigned flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
    for (const std::string& name : names_) {
        const std::string host = normalize_host(name);
        const bool ip = is_ip_literal(host);
        if (!ip && !usable_dns_name(host)) continue;
        // OpenSSL compares a trailing dot literally, so a certificate name
        // written as "mx.example.com." is tried in that form as well.
        const std::string dotted = host + ".";
        const bool matched =
            ip ? X509_check_ip_asc(peer, host.c_str(), flags) == 1
               : X509_check_host(peer, host.data(), host.size(), flags, nullptr) == 1 ||
                     X509_check_host(peer, dotted.data(), dotted.size(), flags, nullptr) == 1;
        if (matched) {
            verdict.name_matched = true;
            verdict.matched_name = host;
            break;
        }
    }
    if (!verdict.name_matched) {
        std::string list;
        for (const std::string& name : names_)
            list += (list.empty() ? "" : " or ") + normalize_host(name);
        verdict.name_error = "no certificate name matches " + (list.empty() ? "(none)" : list);
    }
    return verdict;
}

} // namespace mtatls::tls
