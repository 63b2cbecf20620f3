// mx_resolver.h - from a next hop to the hosts to try, in order, with
// their addresses: MX lookup and ordering (RFC 5321 §5.1), implicit MX,
// null MX (RFC 7505), address lookups, all through libunbound (the library
// DANE will need for its TLSA lookups and DNSSEC status).
//
// Two halves:
// - pure decisions over answers (classify_answer, decide_mx,
//   decide_addresses, combine_hosts, order_mx), tested as tables;
// - Resolver, the libunbound context: every query is asked asynchronously
//   and waited for with poll(2) on ub_fd under a deadline, so a dead or
//   slow DNS server costs at most the time the caller allows, never the
//   resolver's own minutes of retries; what is unanswered by then is
//   cancelled.
//
// Codes (the attempt line's code and dsn):
//   null MX                             556 5.1.10  permanent (RFC 7505)
//   NXDOMAIN                            550 5.4.4   permanent (Postfix: "Host or
//                                                   domain name not found")
//   a host without A/AAAA records       550 5.4.4   permanent
//   SERVFAIL, REFUSED, no answer in time,
//   a resolver that cannot be used, a
//   DNSSEC failure, a malformed answer  451 4.4.3   temporary
// A temporary failure at any host keeps the whole result temporary (a
// soft error stays soft, as in Postfix), so mail is bounced only when DNS
// said for certain that the destination does not exist.
#pragma once

#include "attempt_result.h"
#include "deadline.h"
#include "next_hop.h"
#include "resolver_settings.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct ub_ctx;
struct ub_result;

namespace mtatls::host {

inline constexpr int dns_type_a = 1;
inline constexpr int dns_type_mx = 15;
inline constexpr int dns_type_aaaa = 28;

// Postfix's smtp_mx_address_limit: at most this many addresses (over all
// MX hosts, in order) are tried; 0 means no limit.
inline constexpr std::size_t default_address_limit = 5;
// MX hosts looked up at most, whatever the limit: a huge MX set must not
// turn into thousands of queries.
inline constexpr std::size_t max_mx_hosts = 50;

// "MX", "A", "AAAA" or "TYPEn".
std::string dns_type_name(int type);

// ---- answers ------------------------------------------------------------------

enum class DnsStatus {
    ok,       // records in `rdata`
    nxdomain, // the name does not exist
    nodata,   // the name exists, without records of this type
    failed    // no usable answer: `error` says why (temporary)
};

struct DnsAnswer {
    DnsStatus status = DnsStatus::failed;
    std::vector<std::string> rdata; // ok: each record's RDATA, wire form
    std::string error;              // failed: why, for the log
};

// What libunbound's callback got (its error code and result) as a
// DnsAnswer.  A bogus (DNSSEC) result and every rcode other than NOERROR
// and NXDOMAIN are failures: libunbound turns a server's REFUSED into
// SERVFAIL, and neither says anything about the name.
DnsAnswer classify_answer(int ub_error, const ub_result* result);

// A failure found before any connection: the attempt line's code, dsn and
// reason.
struct DnsFailure {
    Outcome outcome = Outcome::deferred;
    int code = 451;
    std::string dsn = "4.4.3";
    std::string reason;

    friend bool operator==(const DnsFailure&, const DnsFailure&) = default;
};

// ---- MX ---------------------------------------------------------------------------

struct MxRecord {
    uint16_t preference = 0;
    // The exchange in lower case without the trailing dot; "" for the null
    // MX ".".  Bytes that cannot be in a host name are kept as '?', so the
    // name check refuses them and the log can show them.
    std::string host;

    friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// An MX RDATA (preference, uncompressed name); nullopt when malformed.
std::optional<MxRecord> parse_mx_rdata(std::string_view rdata);
// An A (4 bytes) or AAAA (16 bytes) RDATA as numeric text; nullopt when
// the length does not fit the type.
std::optional<std::string> address_from_rdata(int type, std::string_view rdata);

// Picks an index uniformly in [0, bound): the randomness of MX ordering,
// injected so tests can fix it.
using PickIndex = std::function<std::size_t(std::size_t bound)>;
// A PickIndex seeded from std::random_device.
PickIndex random_pick();

// RFC 5321 §5.1: by preference, lowest first; records of equal preference
// in random order (a Fisher-Yates shuffle per group); a host listed twice
// keeps its first (best) place.
std::vector<MxRecord> order_mx(std::vector<MxRecord> records, const PickIndex& pick);

struct MxDecision {
    enum class Kind {
        mx_hosts,    // `hosts`, in the order to try
        implicit_mx, // no MX records: the domain itself is the host
        failure      // `failure`
    };
    Kind kind = Kind::failure;
    std::vector<MxRecord> hosts;
    DnsFailure failure;
};

// The MX answer for `domain`, decided: NXDOMAIN and a null MX are
// permanent, NODATA means the implicit MX, a failed lookup is temporary.
// A null MX among other MX records is ignored (the others are used);
// records whose host is not a valid name are left out, and when none is
// left that is a temporary failure (a broken zone may be fixed).  At most
// max_mx_hosts hosts are kept.
MxDecision decide_mx(std::string_view domain, const DnsAnswer& answer, const PickIndex& pick);

// ---- addresses ----------------------------------------------------------------

struct HostAddresses {
    std::vector<std::string> addresses; // IPv4 first, then IPv6, each in DNS order
    std::optional<DnsFailure> failure;  // set when there is no address
};

// One host's A and AAAA answers: any address is enough; without one, a
// failed lookup is temporary, NXDOMAIN or NODATA permanent.
HostAddresses decide_addresses(std::string_view host, const DnsAnswer& a, const DnsAnswer& aaaa);

struct MxHost {
    std::string name; // the MX host name: SNI, certificate check, log
    std::vector<std::string> addresses;

    friend bool operator==(const MxHost&, const MxHost&) = default;
};

struct Destination {
    std::vector<MxHost> hosts;
    std::optional<DnsFailure> failure; // set when `hosts` is empty
};

// The hosts in order with their addresses: hosts without an address are
// left out, and at most `address_limit` addresses are kept (0: all).  With
// no host left, the failure: the first temporary one if any lookup failed
// temporarily, else the first permanent one.
Destination combine_hosts(const std::vector<std::string>& names,
                          const std::vector<HostAddresses>& lookups, std::size_t address_limit);

// ---- the resolver -------------------------------------------------------------

struct DnsQuery {
    std::string name;
    int type = dns_type_a;
};

struct UbContextDelete {
    void operator()(ub_ctx* context) const;
};

class Resolver {
  public:
    // A libunbound context that forwards to `servers`, or to the servers
    // of /etc/resolv.conf when `servers` is empty.  nullptr and `error`
    // when libunbound refuses the setup.
    static std::unique_ptr<Resolver> create(const std::vector<DnsServer>& servers,
                                            std::string& error);

    // Asks every query at once and waits until each is answered or
    // `deadline` passes; the unanswered ones are cancelled and come back
    // failed.  Answers are in the order of `queries`.
    std::vector<DnsAnswer> resolve(const std::vector<DnsQuery>& queries, const Deadline& deadline);

  private:
    explicit Resolver(ub_ctx* context) : context_(context) {}
    std::unique_ptr<ub_ctx, UbContextDelete> context_;
};

// ---- from a next hop to a destination -----------------------------------------

struct DestinationRequest {
    NextHop next_hop;
    // --mx-name: the name to verify for [name] and IP literals; "" for the
    // name itself (an IP literal then has no name: no SNI, IP SANs only).
    std::string mx_name;
    std::vector<DnsServer> servers; // empty: /etc/resolv.conf
    std::size_t address_limit = default_address_limit;
};

// The hosts to try for `request`: an IP literal without any DNS; [name]
// by its addresses; a domain by its MX records (or itself, the implicit
// MX) and their addresses.  Every lookup ends by `deadline`.
Destination find_destination(const DestinationRequest& request, const Deadline& deadline,
                             const PickIndex& pick);

} // namespace mtatls::host
