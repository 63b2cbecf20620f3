// mx_resolver.cpp - MX and address resolution through libunbound (see
// mx_resolver.h).
#include "mx_resolver.h"

#include "ascii_case.h"
#include "socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unbound.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>

namespace mtatls::host {
namespace {

constexpr int rcode_noerror = 0;
constexpr int rcode_nxdomain = 3;

struct UbResultFree {
    void operator()(ub_result* result) const { ub_resolve_free(result); }
};
using UbResult = std::unique_ptr<ub_result, UbResultFree>;

std::string rcode_text(int rcode) {
    switch (rcode) {
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    default: return "rcode " + std::to_string(rcode);
    }
}

DnsFailure temporary(std::string_view name, int type, const std::string& why) {
    DnsFailure f;
    f.reason = "[internal] Name service error for name=" + std::string(name) +
               " type=" + dns_type_name(type) + ": " + why + " (will try again)";
    return f;
}

DnsFailure not_found(std::string_view name, std::string_view type, std::string_view why) {
    DnsFailure f;
    f.outcome = Outcome::bounced;
    f.code = 550;
    f.dsn = "5.4.4";
    f.reason = "[internal] Host or domain name not found. Name service error for name=" +
               std::string(name) + " type=" + std::string(type) + ": " + std::string(why);
    return f;
}

// Reads one uncompressed wire-format name at `pos`; the text in lower
// case without the final dot, "" for the root.  False when malformed.
bool read_name(std::string_view wire, std::size_t& pos, std::string& text) {
    text.clear();
    for (int labels = 0; labels < 128; ++labels) {
        if (pos >= wire.size()) return false;
        const auto length = static_cast<unsigned char>(wire[pos++]);
        if (length == 0) return true;
        // 0xC0: a compression pointer; libunbound hands out RDATA with
        // names expanded, so one here is a malformed answer.
        if (length > 63 || pos + length > wire.size()) return false;
        if (!text.empty()) text += '.';
        for (std::size_t i = 0; i < length; ++i) {
            const char c = wire[pos + i];
            const bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_';
            text += ldh ? ascii_lower(c) : '?';
        }
        pos += length;
    }
    return false;
}

} // namespace

std::string dns_type_name(int type) {
    switch (type) {
    case dns_type_a: return "A";
    case dns_type_mx: return "MX";
    case dns_type_aaaa: return "AAAA";
    default: return "TYPE" + std::to_string(type);
    }
}

DnsAnswer classify_answer(int ub_error, const ub_result* result) {
    DnsAnswer answer;
    if (ub_error != 0) {
        answer.error = std::string("resolver error: ") + ub_strerror(ub_error);
        return answer;
    }
    if (result == nullptr) {
        answer.error = "resolver gave no result";
        return answer;
    }
    if (result->bogus != 0) {
        answer.error = "DNSSEC validation failed";
        if (result->why_bogus != nullptr)
            answer.error += std::string(" (") + result->why_bogus + ")";
        return answer;
    }
    if (result->rcode == rcode_nxdomain) {
        answer.status = DnsStatus::nxdomain;
        return answer;
    }
    if (result->rcode != rcode_noerror) {
        answer.error = "the resolver answered " + rcode_text(result->rcode);
        return answer;
    }
    if (result->havedata == 0 || result->data == nullptr || result->data[0] == nullptr) {
        answer.status = DnsStatus::nodata;
        return answer;
    }
    answer.status = DnsStatus::ok;
    for (std::size_t i = 0; result->data[i] != nullptr; ++i)
        answer.rdata.emplace_back(result->data[i],
                                  static_cast<std::size_t>(std::max(result->len[i], 0)));
    return answer;
}

std::optional<MxRecord> parse_mx_rdata(std::string_view rdata) {
    if (rdata.size() < 3) return std::nullopt;
    MxRecord record;
    record.preference = static_cast<uint16_t>((static_cast<unsigned char>(rdata[0]) << 8) |
                                              static_cast<unsigned char>(rdata[1]));
    std::size_t pos = 2;
    if (!read_name(rdata, pos, record.host) || pos != rdata.size()) return std::nullopt;
    return record;
}

std::optional<std::string> address_from_rdata(int type, std::string_view rdata) {
    const int family = type == dns_type_a ? AF_INET : AF_INET6;
    const std::size_t want = type == dns_type_a ? 4 : 16;
    if ((type != dns_type_a && type != dns_type_aaaa) || rdata.size() != want) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(family, rdata.data(), text, sizeof text) == nullptr) return std::nullopt;
    return std::string(text);
}

PickIndex random_pick() {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [engine](std::size_t bound) {
        return std::uniform_int_distribution<std::size_t>(0, bound - 1)(*engine);
    };
}

std::vector<MxRecord> order_mx(std::vector<MxRecord> records, const PickIndex& pick) {
    std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
        return a.preference < b.preference;
    });
    for (std::size_t begin = 0; begin < records.size();) {
        std::size_t end = begin + 1;
        while (end < records.size() && records[end].preference == records[begin].preference)
            ++end;
        for (std::size_t i = end - begin; i > 1; --i)
            std::swap(records[begin + i - 1], records[begin + pick(i)]);
        begin = end;
    }
    std::vector<MxRecord> unique;
    for (MxRecord& record : records)
        if (std::none_of(unique.begin(), unique.end(),
                         [&](const MxRecord& kept) { return kept.host == record.host; }))
            unique.push_back(std::move(record));
    return unique;
}

MxDecision decide_mx(std::string_view domain, const DnsAnswer& answer, const PickIndex& pick) {
    MxDecision decision;
    switch (answer.status) {
    case DnsStatus::failed:
        decision.failure = temporary(domain, dns_type_mx, answer.error);
        return decision;
    case DnsStatus::nxdomain:
        decision.failure = not_found(domain, "MX", "Host not found");
        return decision;
    case DnsStatus::nodata: decision.kind = MxDecision::Kind::implicit_mx; return decision;
    case DnsStatus::ok: break;
    }
    std::vector<MxRecord> usable;
    bool null_mx = false;
    std::string bad_name;
    std::size_t malformed = 0;
    for (const std::string& rdata : answer.rdata) {
        std::optional<MxRecord> record = parse_mx_rdata(rdata);
        if (!record) {
            ++malformed;
            continue;
        }
        if (record->host.empty()) {
            null_mx = true;
            continue;
        }
        if (!host_name_problem(record->host).empty()) {
            if (bad_name.empty()) bad_name = record->host;
            continue;
        }
        usable.push_back(std::move(*record));
    }
    if (usable.empty()) {
        if (null_mx && bad_name.empty() && malformed == 0) {
            // RFC 7505 §4.2 (and §3: a null MX stands alone).
            decision.failure.outcome = Outcome::bounced;
            decision.failure.code = 556;
            decision.failure.dsn = "5.1.10";
            decision.failure.reason =
                "[internal] Domain " + std::string(domain) + " does not accept mail (null MX)";
        } else if (!bad_name.empty()) {
            decision.failure = temporary(
                domain, dns_type_mx, "no usable MX host (invalid host name \"" + bad_name + "\")");
        } else {
            decision.failure = temporary(domain, dns_type_mx, "malformed MX record");
        }
        return decision;
    }
    decision.kind = MxDecision::Kind::mx_hosts;
    decision.hosts = order_mx(std::move(usable), pick);
    if (decision.hosts.size() > max_mx_hosts) decision.hosts.resize(max_mx_hosts);
    return decision;
}

HostAddresses decide_addresses(std::string_view host, const DnsAnswer& a, const DnsAnswer& aaaa) {
    HostAddresses out;
    for (const auto& [type, answer] :
         {std::pair<int, const DnsAnswer*>{dns_type_a, &a}, {dns_type_aaaa, &aaaa}}) {
        if (answer->status != DnsStatus::ok) continue;
        for (const std::string& rdata : answer->rdata)
            if (std::optional<std::string> address = address_from_rdata(type, rdata))
                if (std::find(out.addresses.begin(), out.addresses.end(), *address) ==
                    out.addresses.end())
                    out.addresses.push_back(std::move(*address));
    }
    if (!out.addresses.empty()) return out;
    if (a.status == DnsStatus::failed)
        out.failure = temporary(host, dns_type_a, a.error);
    else if (aaaa.status == DnsStatus::failed)
        out.failure = temporary(host, dns_type_aaaa, aaaa.error);
    else if (a.status == DnsStatus::ok || aaaa.status == DnsStatus::ok)
        out.failure = temporary(host, dns_type_a, "malformed address record");
    else if (a.status == DnsStatus::nxdomain && aaaa.status == DnsStatus::nxdomain)
        out.failure = not_found(host, "A", "Host not found");
    else
        out.failure = not_found(host, "A/AAAA", "Host found but no data record of requested type");
    return out;
}

Destination combine_hosts(const std::vector<std::string>& names,
                          const std::vector<HostAddresses>& lookups, std::size_t address_limit) {
    Destination destination;
    std::size_t budget = address_limit == 0 ? SIZE_MAX : address_limit;
    const DnsFailure* first_temporary = nullptr;
    const DnsFailure* first_permanent = nullptr;
    for (std::size_t i = 0; i < names.size() && i < lookups.size(); ++i) {
        const HostAddresses& lookup = lookups[i];
        if (lookup.addresses.empty()) {
            if (lookup.failure) {
                const bool soft = lookup.failure->outcome == Outcome::deferred;
                const DnsFailure*& slot = soft ? first_temporary : first_permanent;
                if (slot == nullptr) slot = &*lookup.failure;
            }
            continue;
        }
        if (budget == 0) break;
        MxHost host;
        host.name = names[i];
        for (const std::string& address : lookup.addresses) {
            if (budget == 0) break;
            host.addresses.push_back(address);
            --budget;
        }
        destination.hosts.push_back(std::move(host));
    }
    if (destination.hosts.empty()) {
        if (first_temporary != nullptr)
            destination.failure = *first_temporary;
        else if (first_permanent != nullptr)
            destination.failure = *first_permanent;
        else
            destination.failure =
                temporary(names.empty() ? "-" : names.front(), dns_type_a, "no host to look up");
    }
    return destination;
}

// ---- the resolver ------------------------------------------------------------

void UbContextDelete::operator()(ub_ctx* context) const { ub_ctx_delete(context); }

std::unique_ptr<Resolver> Resolver::create(const std::vector<DnsServer>& servers,
                                           std::string& error) {
    ub_ctx* raw = ub_ctx_create();
    if (raw == nullptr) {
        error = "cannot create a libunbound context";
        return nullptr;
    }
    std::unique_ptr<Resolver> resolver(new Resolver(raw));
    ub_ctx* context = resolver->context_.get();
    // Answers come back through a thread and ub_fd, not a forked process:
    // nothing outlives this program or copies its memory.
    if (const int r = ub_ctx_async(context, 1); r != 0) {
        error = std::string("cannot set up asynchronous lookups: ") + ub_strerror(r);
        return nullptr;
    }
    // Resolvers on 127.0.0.x (a local unbound, systemd-resolved's
    // 127.0.0.53, the tests' server) must be usable.  libunbound's
    // library default already allows them (unlike the unbound daemon's
    // do-not-query-localhost: yes); said here so no version can differ.
    if (const int r = ub_ctx_set_option(context, "do-not-query-localhost:", "no"); r != 0) {
        error = std::string("cannot allow resolvers on localhost: ") + ub_strerror(r);
        return nullptr;
    }
    if (servers.empty()) {
        errno = 0;
        if (const int r = ub_ctx_resolvconf(context, nullptr); r != 0) {
            error = std::string("cannot use /etc/resolv.conf: ") + ub_strerror(r);
            if (r == UB_READFILE && errno != 0)
                error += std::string(" (") + std::strerror(errno) + ")";
            error += "; name a DNS server with the resolver directive or --resolver";
            return nullptr;
        }
    } else {
        for (const DnsServer& server : servers) {
            if (const int r = ub_ctx_set_fwd(context, server.text().c_str()); r != 0) {
                error = "cannot use DNS server " + server.text() + ": " + ub_strerror(r);
                return nullptr;
            }
        }
    }
    return resolver;
}

namespace {

struct Pending {
    DnsAnswer answer;
    bool done = false;
    bool out_of_memory = false;
    int id = 0;
};

// libunbound's callback: C code calls it, so nothing may escape.
void on_answer(void* arg, int error, ub_result* result) noexcept {
    auto* pending = static_cast<Pending*>(arg);
    const UbResult owned(result);
    try {
        pending->answer = classify_answer(error, owned.get());
    } catch (...) {
        pending->out_of_memory = true;
    }
    pending->done = true;
}

} // namespace

std::vector<DnsAnswer> Resolver::resolve(const std::vector<DnsQuery>& queries,
                                         const Deadline& deadline) {
    ub_ctx* context = context_.get();
    // Sized once: libunbound holds pointers to the elements until they are
    // answered or cancelled.
    std::vector<Pending> pending(queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const int r = ub_resolve_async(context, queries[i].name.c_str(), queries[i].type,
                                       1 /* IN */, &pending[i], &on_answer, &pending[i].id);
        if (r != 0) {
            pending[i].done = true;
            pending[i].answer.error = std::string("resolver error: ") + ub_strerror(r);
        }
    }
    const auto unanswered = [&pending] {
        return std::any_of(pending.begin(), pending.end(),
                           [](const Pending& p) { return !p.done; });
    };
    std::string stop_reason;
    while (unanswered()) {
        std::string error;
        const WaitResult waited = wait_fd(ub_fd(context), POLLIN, deadline, error);
        if (waited == WaitResult::timeout) {
            stop_reason = "no answer from the DNS server in time";
            break;
        }
        if (waited == WaitResult::error) {
            stop_reason = "resolver error: " + error;
            break;
        }
        if (const int r = ub_process(context); r != 0) {
            stop_reason = std::string("resolver error: ") + ub_strerror(r);
            break;
        }
    }
    std::vector<DnsAnswer> answers;
    answers.reserve(pending.size());
    for (Pending& p : pending) {
        if (!p.done) {
            // Cancelled, the callback is never called and libunbound drops
            // the answer if it comes later.
            ub_cancel(context, p.id);
            p.answer = DnsAnswer{};
            p.answer.error = stop_reason;
        } else if (p.out_of_memory) {
            p.answer = DnsAnswer{};
            p.answer.error = "out of memory";
        }
        answers.push_back(std::move(p.answer));
    }
    return answers;
}

// ---- from a next hop to a destination -------------------------------------------

namespace {

// A, AAAA for each name; the lookups in `names` order.
std::vector<HostAddresses> look_up_addresses(Resolver& resolver,
                                             const std::vector<std::string>& names,
                                             const Deadline& deadline) {
    std::vector<DnsQuery> queries;
    for (const std::string& name : names) {
        queries.push_back({name, dns_type_a});
        queries.push_back({name, dns_type_aaaa});
    }
    const std::vector<DnsAnswer> answers = resolver.resolve(queries, deadline);
    std::vector<HostAddresses> lookups;
    for (std::size_t i = 0; i < names.size(); ++i)
        lookups.push_back(decide_addresses(names[i], answers[2 * i], answers[2 * i + 1]));
    return lookups;
}

Destination failed(DnsFailure failure) {
    Destination destination;
    destination.failure = std::move(failure);
    return destination;
}

} // namespace

Destination find_destination(const DestinationRequest& request, const Deadline& deadline,
                             const PickIndex& pick) {
    const NextHop& hop = request.next_hop;
    if (hop.kind == NextHopKind::ip_literal) {
        Destination destination;
        destination.hosts.push_back(
            {request.mx_name.empty() ? hop.name : request.mx_name, {hop.name}});
        return destination;
    }
    std::string error;
    const std::unique_ptr<Resolver> resolver = Resolver::create(request.servers, error);
    if (!resolver) {
        DnsFailure failure;
        failure.reason = "[internal] cannot look up " + hop.name + ": " + error;
        return failed(std::move(failure));
    }
    if (hop.kind == NextHopKind::host_lookup) {
        const std::vector<HostAddresses> lookups =
            look_up_addresses(*resolver, {hop.name}, deadline);
        return combine_hosts({request.mx_name.empty() ? hop.name : request.mx_name}, lookups,
                             request.address_limit);
    }
    const std::vector<DnsAnswer> mx = resolver->resolve({{hop.name, dns_type_mx}}, deadline);
    const MxDecision decision = decide_mx(hop.name, mx.front(), pick);
    std::vector<std::string> names;
    switch (decision.kind) {
    case MxDecision::Kind::failure: return failed(decision.failure);
    case MxDecision::Kind::implicit_mx: names.push_back(hop.name); break;
    case MxDecision::Kind::mx_hosts:
        for (const MxRecord& record : decision.hosts)
            names.push_back(record.host);
        break;
    }
    return combine_hosts(names, look_up_addresses(*resolver, names, deadline),
                         request.address_limit);
}

} // namespace mtatls::host
