// client_session.cpp - the OpenSSL client session (see client_session.h).
#include "tls/client_session.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <openssl/x509.h>

namespace mtatls::tls {
namespace {

std::string one_line_name(const X509_NAME* name) {
    if (name == nullptr) return {};
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio) return {};
    // RFC 2253 order and escaping, but UTF-8 kept as is for readable logs.
    constexpr unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    if (X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) return {};
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

std::string oneline_name(const X509_NAME* name) {
    if (name == nullptr) return {};
    char* text = X509_NAME_oneline(name, nullptr, 0);
    if (text == nullptr) return {};
    std::string result(text);
    OPENSSL_free(text);
    return result;
}

std::string common_name(const X509_NAME* name) {
    const int index = name == nullptr ? -1 : X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) return {};
    std::string result(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return result;
}

std::string sha256_fingerprint(const X509* certificate) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1) return {};
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) {
        if (i > 0) text += ':';
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 0xf];
    }
    return text;
}

std::string iso_time(const ASN1_TIME* time) {
    struct tm parts {};
    if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return {};
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

std::string nid_name(int nid) {
    const char* name = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
    return name == nullptr ? std::string() : name;
}

// "ECDSA+SHA256", "RSA-PSS+SHA256", "Ed25519": the server's handshake
// signature, in the words Postfix uses for it.
std::string signature_algorithm(SSL* ssl) {
    int type = NID_undef;
    if (SSL_get_peer_signature_type_nid(ssl, &type) != 1) return {};
    std::string name;
    switch (type) {
    case EVP_PKEY_EC: name = "ECDSA"; break;
    case EVP_PKEY_RSA: name = "RSA"; break;
    case EVP_PKEY_RSA_PSS: name = "RSA-PSS"; break;
    case EVP_PKEY_ED25519: return "Ed25519";
    case EVP_PKEY_ED448: return "Ed448";
    default: name = nid_name(type); break;
    }
    int digest = NID_undef;
    if (SSL_get_peer_signature_nid(ssl, &digest) == 1 && digest != NID_undef)
        name += "+" + nid_name(digest);
    return name;
}

} // namespace

bool ClientSession::begin(std::shared_ptr<const ClientContext> context, int fd,
                          const std::string& sni, std::vector<std::string> acceptable_names,
                          std::string& error) {
    context_ = std::move(context);
    check_ = std::make_unique<PeerCheck>();
    check_->set_acceptable_names(std::move(acceptable_names));
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        error = std::string("cannot make the socket non-blocking: ") + std::strerror(errno);
        return false;
    }
    ssl_.reset(SSL_new(context_->get()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1 ||
        SSL_set_ex_data(ssl_.get(), ClientContext::peer_check_index(), check_.get()) != 1) {
        error = "cannot create the TLS session: " + drain_openssl_errors();
        return false;
    }
    if (!sni.empty() && SSL_set_tlsext_host_name(ssl_.get(), sni.c_str()) != 1) {
        error = "cannot set SNI " + sni + ": " + drain_openssl_errors();
        return false;
    }
    SSL_set_connect_state(ssl_.get());
    return true;
}

Progress ClientSession::step() {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) return Progress::done;
    const int reason = SSL_get_error(ssl_.get(), ret);
    if (reason == SSL_ERROR_WANT_READ) return Progress::want_read;
    if (reason == SSL_ERROR_WANT_WRITE) return Progress::want_write;
    const int saved_errno = errno;
    std::string errors = drain_openssl_errors();
    if (!errors.empty())
        failure_ = std::move(errors);
    else if (reason == SSL_ERROR_SYSCALL && saved_errno != 0)
        failure_ = std::string("connection error: ") + std::strerror(saved_errno);
    else
        failure_ = "connection closed during the handshake";
    return Progress::failed;
}

SessionFacts ClientSession::facts() const {
    SessionFacts facts;
    SSL* ssl = ssl_.get();
    facts.protocol = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl); cipher != nullptr) {
        facts.cipher = SSL_CIPHER_get_name(cipher);
        facts.cipher_use_bits = SSL_CIPHER_get_bits(cipher, &facts.cipher_alg_bits);
    }
    facts.resumed = SSL_session_reused(ssl) == 1;
    // A group OpenSSL has no NID for comes back with TLSEXT_nid_unknown set.
    const long group = SSL_get_negotiated_group(ssl);
    if (group > 0 && (group & TLSEXT_nid_unknown) == 0)
        facts.kx_group = nid_name(static_cast<int>(group));
    facts.peer_sig_alg = signature_algorithm(ssl);
    if (X509* peer = SSL_get0_peer_certificate(ssl); peer != nullptr) {
        const X509_NAME* subject = X509_get_subject_name(peer);
        const X509_NAME* issuer = X509_get_issuer_name(peer);
        facts.peer_certificate = true;
        facts.peer_subject = one_line_name(subject);
        facts.peer_issuer = one_line_name(issuer);
        facts.subject_oneline = oneline_name(subject);
        facts.issuer_oneline = oneline_name(issuer);
        facts.subject_cn = common_name(subject);
        facts.issuer_cn = common_name(issuer);
        facts.sha256_fingerprint = sha256_fingerprint(peer);
        facts.not_after = iso_time(X509_get0_notAfter(peer));
    }
    return facts;
}

Io ClientSession::io_result(int ret, const char* what) {
    const int reason = SSL_get_error(ssl_.get(), ret);
    switch (reason) {
    case SSL_ERROR_WANT_READ: return Io::want_read;
    case SSL_ERROR_WANT_WRITE: return Io::want_write;
    case SSL_ERROR_ZERO_RETURN: return Io::eof; // close_notify: a clean end
    default: {
        // Includes an EOF without close_notify (a possible truncation).
        const int saved_errno = errno;
        std::string errors = drain_openssl_errors();
        failure_ = std::string(what) + ": " +
                   (!errors.empty()    ? errors
                    : saved_errno != 0 ? std::string(std::strerror(saved_errno))
                                       : std::string("connection closed"));
        return Io::error;
    }
    }
}

Io ClientSession::read(void* buffer, std::size_t size, std::size_t& done) {
    done = 0;
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_read_ex(ssl_.get(), buffer, size, &done);
    return ret == 1 ? Io::ok : io_result(ret, "TLS read failed");
}

Io ClientSession::write(const void* buffer, std::size_t size, std::size_t& done) {
    done = 0;
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_write_ex(ssl_.get(), buffer, size, &done);
    return ret == 1 ? Io::ok : io_result(ret, "TLS write failed");
}

Io ClientSession::shutdown() {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_shutdown(ssl_.get());
    // 0: our close_notify is sent; we do not wait for the peer's.
    if (ret >= 0) return Io::ok;
    return io_result(ret, "TLS shutdown failed");
}

} // namespace mtatls::tls
