// mx_resolver_test.cpp - from DNS answers to the hosts to try: libunbound
// results classified, MX records parsed and ordered (RFC 5321 §5.1, the
// shuffle checked over every draw of an injected RNG), the answer ->
// decision tables (null MX, NXDOMAIN, implicit MX, soft failures stay
// soft, the address limit), and the libunbound resolver's deadline against
// a DNS server that never answers.  Real answers from a real unbound
// server: tests/integration/mx_resolution_test.py.
#include "mx_resolver.h"

#include "loopback_socket.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unbound.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace mtatls::host;
using namespace std::chrono_literals;

namespace {

// The wire form of `name` ("" is the root).
std::string wire_name(const std::string& name) {
    std::string out;
    std::size_t start = 0;
    while (start < name.size()) {
        const std::size_t dot = std::min(name.find('.', start), name.size());
        out += static_cast<char>(dot - start);
        out += name.substr(start, dot - start);
        start = dot + 1;
    }
    out += '\0';
    return out;
}

std::string mx_rdata(uint16_t preference, const std::string& host) {
    std::string out;
    out += static_cast<char>(preference >> 8);
    out += static_cast<char>(preference & 0xff);
    return out + wire_name(host);
}

std::string a_rdata(const char* text) {
    in_addr address{};
    REQUIRE(inet_pton(AF_INET, text, &address) == 1);
    return {reinterpret_cast<const char*>(&address), sizeof address};
}

std::string aaaa_rdata(const char* text) {
    in6_addr address{};
    REQUIRE(inet_pton(AF_INET6, text, &address) == 1);
    return {reinterpret_cast<const char*>(&address), sizeof address};
}

DnsAnswer ok(std::vector<std::string> rdata) { return {DnsStatus::ok, std::move(rdata), {}}; }
const DnsAnswer nxdomain{DnsStatus::nxdomain, {}, {}};
const DnsAnswer nodata{DnsStatus::nodata, {}, {}};
DnsAnswer failed(const char* why) { return {DnsStatus::failed, {}, why}; }

// Never shuffles: Fisher-Yates swaps each place with itself.
std::size_t keep(std::size_t bound) { return bound - 1; }

// Plays back `draws` (each taken modulo the bound it is asked for).
PickIndex scripted(std::vector<std::size_t> draws) {
    auto state =
        std::make_shared<std::pair<std::vector<std::size_t>, std::size_t>>(std::move(draws), 0);
    return [state](std::size_t bound) {
        const std::size_t draw =
            state->second < state->first.size() ? state->first[state->second] : 0;
        ++state->second;
        return draw % bound;
    };
}

std::vector<std::string> hosts_of(const std::vector<MxRecord>& records) {
    std::vector<std::string> names;
    names.reserve(records.size());
    for (const MxRecord& r : records)
        names.push_back(r.host);
    return names;
}

} // namespace

TEST_CASE("libunbound results become answers") {
    char record[] = {1, 2, 3, 4};
    char* data[] = {record, nullptr};
    int len[] = {4, 0};
    struct Case {
        const char* name;
        int error;
        int rcode;
        int havedata;
        int bogus;
        DnsStatus status;
        const char* error_text; // substring, for failed
    };
    const Case cases[] = {
        {"NOERROR with data", 0, 0, 1, 0, DnsStatus::ok, ""},
        {"NOERROR without data", 0, 0, 0, 0, DnsStatus::nodata, ""},
        {"NXDOMAIN", 0, 3, 0, 0, DnsStatus::nxdomain, ""},
        {"SERVFAIL (also what a REFUSED upstream becomes)", 0, 2, 0, 0, DnsStatus::failed,
         "the resolver answered SERVFAIL"},
        {"REFUSED", 0, 5, 0, 0, DnsStatus::failed, "answered REFUSED"},
        {"FORMERR", 0, 1, 0, 0, DnsStatus::failed, "answered FORMERR"},
        {"an odd rcode", 0, 9, 0, 0, DnsStatus::failed, "answered rcode 9"},
        {"DNSSEC bogus", 0, 0, 1, 1, DnsStatus::failed, "DNSSEC validation failed (why)"},
        {"libunbound error", UB_SERVFAIL, 0, 0, 0, DnsStatus::failed,
         "resolver error: server failure"},
    };
    for (const Case& c : cases) {
        ub_result r{};
        r.rcode = c.rcode;
        r.havedata = c.havedata;
        r.nxdomain = c.rcode == 3;
        r.bogus = c.bogus;
        char why[] = "why";
        r.why_bogus = c.bogus ? why : nullptr;
        r.data = c.havedata ? data : nullptr;
        r.len = c.havedata ? len : nullptr;
        const DnsAnswer a = classify_answer(c.error, &r);
        CHECK_MESSAGE(a.status == c.status, c.name, ": got status ", static_cast<int>(a.status));
        CHECK_MESSAGE(a.error.find(c.error_text) != std::string::npos, c.name, ": got \"", a.error,
                      "\"");
        if (c.status == DnsStatus::ok)
            CHECK(a.rdata == std::vector<std::string>{std::string("\1\2\3\4", 4)});
        else
            CHECK(a.rdata.empty());
    }
    CHECK(classify_answer(0, nullptr).status == DnsStatus::failed);
}

TEST_CASE("MX and address RDATA") {
    CHECK(parse_mx_rdata(mx_rdata(10, "MX1.Example.COM")) == MxRecord{10, "mx1.example.com"});
    CHECK(parse_mx_rdata(mx_rdata(65535, "a")) == MxRecord{65535, "a"});
    CHECK(parse_mx_rdata(mx_rdata(0, "")) == MxRecord{0, ""}); // null MX
    // Bytes that cannot be in a host name are kept visible as '?', and a
    // dot inside a label cannot pass for a label boundary.
    CHECK(parse_mx_rdata(mx_rdata(5, "a b.example")) == MxRecord{5, "a?b.example"});
    std::string dotted = mx_rdata(5, "");
    dotted.insert(2, std::string("\3a.b", 4));
    CHECK(parse_mx_rdata(dotted) == MxRecord{5, "a?b"});
    CHECK_FALSE(parse_mx_rdata(""));
    CHECK_FALSE(parse_mx_rdata(std::string("\0\1", 2)));         // no name
    CHECK_FALSE(parse_mx_rdata(std::string("\0\1\5ab", 5)));     // label runs out
    CHECK_FALSE(parse_mx_rdata(mx_rdata(1, "a") + "x"));         // bytes after the name
    CHECK_FALSE(parse_mx_rdata(std::string("\0\1\xc0\x0c", 4))); // compression pointer
    CHECK(address_from_rdata(dns_type_a, a_rdata("192.0.2.7")) == "192.0.2.7");
    CHECK(address_from_rdata(dns_type_aaaa, aaaa_rdata("2001:db8::7")) == "2001:db8::7");
    CHECK_FALSE(address_from_rdata(dns_type_a, aaaa_rdata("2001:db8::7")));
    CHECK_FALSE(address_from_rdata(dns_type_aaaa, a_rdata("192.0.2.7")));
    CHECK_FALSE(address_from_rdata(dns_type_mx, a_rdata("192.0.2.7")));
    CHECK(dns_type_name(dns_type_mx) == "MX");
    CHECK(dns_type_name(99) == "TYPE99");
}

TEST_CASE("MX order: preference first, equal preferences shuffled, duplicates once") {
    SUBCASE("lowest preference first, whatever the answer's order") {
        const std::vector<MxRecord> got =
            order_mx({{30, "c"}, {10, "a"}, {20, "b"}, {65535, "z"}, {0, "first"}}, keep);
        CHECK(hosts_of(got) == std::vector<std::string>{"first", "a", "b", "c", "z"});
    }
    SUBCASE("a host listed twice keeps its best place") {
        const std::vector<MxRecord> got = order_mx({{20, "a"}, {10, "b"}, {10, "a"}}, keep);
        REQUIRE(got.size() == 2);
        CHECK(got[0].preference == 10);
        CHECK(got[1].preference == 10);
        CHECK(hosts_of(got) == std::vector<std::string>{"b", "a"});
    }
    SUBCASE("every draw of the RNG gives another order: all 3! are reachable, each once") {
        std::set<std::vector<std::string>> orders;
        std::size_t runs = 0;
        for (std::size_t first = 0; first < 3; ++first)
            for (std::size_t second = 0; second < 2; ++second) {
                const auto got = order_mx({{10, "a"}, {10, "b"}, {10, "c"}, {5, "top"}, {20, "z"}},
                                          scripted({first, second}));
                REQUIRE(got.size() == 5);
                CHECK(got.front().host == "top");
                CHECK(got.back().host == "z");
                orders.insert({got[1].host, got[2].host, got[3].host});
                ++runs;
            }
        CHECK(runs == 6);
        CHECK(orders.size() == 6); // a bijection: a uniform RNG gives uniform orders
    }
    SUBCASE("the RNG is asked only about groups of equal preference") {
        std::vector<std::size_t> bounds;
        const PickIndex recording = [&bounds](std::size_t bound) {
            bounds.push_back(bound);
            return std::size_t{0};
        };
        order_mx({{10, "a"}, {20, "b"}, {20, "c"}, {30, "d"}, {30, "e"}, {30, "f"}}, recording);
        CHECK(bounds == std::vector<std::size_t>{2, 3, 2});
    }
    SUBCASE("the real RNG: both of two equal hosts come first, about half the time each") {
        const PickIndex pick = random_pick();
        std::map<std::string, int> first;
        for (int i = 0; i < 2000; ++i)
            ++first[order_mx({{10, "a"}, {10, "b"}}, pick).front().host];
        CHECK(first["a"] > 800);
        CHECK(first["b"] > 800);
    }
}

TEST_CASE("the MX answer decides: hosts, implicit MX, or a failure with its code") {
    struct Case {
        const char* name;
        DnsAnswer answer;
        std::vector<std::string> hosts;
        MxDecision::Kind kind;
        int code;
        const char* dsn;
        const char* reason; // substring
    };
    using K = MxDecision::Kind;
    const Case cases[] = {
        {"MX records, in preference order",
         ok({mx_rdata(20, "mx2.d.example"), mx_rdata(10, "mx1.d.example")}),
         {"mx1.d.example", "mx2.d.example"},
         K::mx_hosts,
         0,
         "",
         ""},
        {"no MX records: the domain itself", nodata, {}, K::implicit_mx, 0, "", ""},
        {"NXDOMAIN: bounced, like Postfix's Host not found",
         nxdomain,
         {},
         K::failure,
         550,
         "5.4.4",
         "[internal] Host or domain name not found. Name service error for name=d.example "
         "type=MX: Host not found"},
        {"null MX: RFC 7505, 556 5.1.10",
         ok({mx_rdata(0, "")}),
         {},
         K::failure,
         556,
         "5.1.10",
         "[internal] Domain d.example does not accept mail (null MX)"},
        {"a null MX among other MX records is ignored",
         ok({mx_rdata(0, ""), mx_rdata(10, "mx.d.example")}),
         {"mx.d.example"},
         K::mx_hosts,
         0,
         "",
         ""},
        {"SERVFAIL: temporary",
         failed("the resolver answered SERVFAIL"),
         {},
         K::failure,
         451,
         "4.4.3",
         "Name service error for name=d.example type=MX: the resolver answered SERVFAIL (will "
         "try again)"},
        {"no answer in time: temporary",
         failed("no answer from the DNS server in time"),
         {},
         K::failure,
         451,
         "4.4.3",
         "no answer from the DNS server in time"},
        {"an invalid host name is left out",
         ok({mx_rdata(5, "bad name.d.example"), mx_rdata(10, "mx.d.example")}),
         {"mx.d.example"},
         K::mx_hosts,
         0,
         "",
         ""},
        {"only invalid host names: temporary, the zone may be fixed",
         ok({mx_rdata(5, "bad name.d.example")}),
         {},
         K::failure,
         451,
         "4.4.3",
         "no usable MX host (invalid host name \"bad?name.d.example\")"},
        {"only malformed records: temporary",
         ok({std::string("\0\1", 2)}),
         {},
         K::failure,
         451,
         "4.4.3",
         "malformed MX record"},
        {"a null MX with a malformed record is not trusted as a null MX",
         ok({mx_rdata(0, ""), std::string("\0\1", 2)}),
         {},
         K::failure,
         451,
         "4.4.3",
         "malformed MX record"},
    };
    for (const Case& c : cases) {
        const MxDecision d = decide_mx("d.example", c.answer, keep);
        CHECK_MESSAGE(d.kind == c.kind, c.name, ": got kind ", static_cast<int>(d.kind));
        CHECK_MESSAGE(hosts_of(d.hosts) == c.hosts, c.name);
        if (c.kind != K::failure) continue;
        CHECK_MESSAGE(d.failure.code == c.code, c.name, ": got code ", d.failure.code);
        CHECK_MESSAGE(d.failure.dsn == c.dsn, c.name, ": got dsn ", d.failure.dsn);
        CHECK_MESSAGE(d.failure.outcome ==
                          (c.code >= 500 ? mtatls::host::Outcome::bounced : Outcome::deferred),
                      c.name);
        CHECK_MESSAGE(d.failure.reason.find(c.reason) != std::string::npos, c.name, ": got \"",
                      d.failure.reason, "\"");
    }
}

TEST_CASE("a huge MX set is cut to max_mx_hosts") {
    std::vector<std::string> rdata;
    rdata.reserve(200);
    for (int i = 0; i < 200; ++i)
        rdata.push_back(mx_rdata(static_cast<uint16_t>(i), "mx" + std::to_string(i) + ".example"));
    const MxDecision d = decide_mx("d.example", ok(rdata), keep);
    REQUIRE(d.kind == MxDecision::Kind::mx_hosts);
    CHECK(d.hosts.size() == max_mx_hosts);
    CHECK(d.hosts.front().host == "mx0.example");
}

TEST_CASE("a host's A and AAAA answers decide its addresses") {
    struct Case {
        const char* name;
        DnsAnswer a;
        DnsAnswer aaaa;
        std::vector<std::string> addresses;
        int code; // of the failure, 0: none
        const char* reason;
    };
    const Case cases[] = {
        {"IPv4 first, then IPv6",
         ok({a_rdata("192.0.2.1"), a_rdata("192.0.2.2")}),
         ok({aaaa_rdata("2001:db8::1")}),
         {"192.0.2.1", "192.0.2.2", "2001:db8::1"},
         0,
         ""},
        {"IPv4 only", ok({a_rdata("192.0.2.1")}), nodata, {"192.0.2.1"}, 0, ""},
        {"IPv6 only", nodata, ok({aaaa_rdata("::1")}), {"::1"}, 0, ""},
        {"one answer failed, the other has an address: use it",
         failed("SERVFAIL"),
         ok({aaaa_rdata("::1")}),
         {"::1"},
         0,
         ""},
        {"a duplicate address once",
         ok({a_rdata("192.0.2.1"), a_rdata("192.0.2.1")}),
         nodata,
         {"192.0.2.1"},
         0,
         ""},
        {"NXDOMAIN: permanent",
         nxdomain,
         nxdomain,
         {},
         550,
         "Name service error for name=h.example type=A: Host not found"},
        {"no address records: permanent",
         nodata,
         nodata,
         {},
         550,
         "type=A/AAAA: Host found but no data record of requested type"},
        {"a failed lookup and no address: temporary",
         failed("no answer from the DNS server in time"),
         nodata,
         {},
         451,
         "name=h.example type=A: no answer from the DNS server in time"},
        {"AAAA failed: temporary too",
         nxdomain,
         failed("the resolver answered SERVFAIL"),
         {},
         451,
         "type=AAAA: the resolver answered SERVFAIL"},
        {"records of the wrong length: temporary",
         ok({std::string("\1\2\3")}),
         nodata,
         {},
         451,
         "malformed address record"},
    };
    for (const Case& c : cases) {
        const HostAddresses got = decide_addresses("h.example", c.a, c.aaaa);
        CHECK_MESSAGE(got.addresses == c.addresses, c.name);
        if (c.code == 0) {
            CHECK_MESSAGE(!got.failure, c.name);
            continue;
        }
        REQUIRE_MESSAGE(got.failure, c.name);
        CHECK_MESSAGE(got.failure->code == c.code, c.name, ": got ", got.failure->code);
        CHECK_MESSAGE(got.failure->dsn == (c.code == 550 ? "5.4.4" : "4.4.3"), c.name);
        CHECK_MESSAGE(got.failure->reason.find(c.reason) != std::string::npos, c.name, ": got \"",
                      got.failure->reason, "\"");
    }
}

TEST_CASE("combining the hosts: order, the address limit, soft failures stay soft") {
    const HostAddresses one{{"192.0.2.1"}, std::nullopt};
    const HostAddresses two{{"192.0.2.2", "2001:db8::2"}, std::nullopt};
    const HostAddresses three{{"192.0.2.3", "192.0.2.33", "192.0.2.34"}, std::nullopt};
    const HostAddresses gone{{}, DnsFailure{Outcome::bounced, 550, "5.4.4", "gone"}};
    const HostAddresses later{{}, DnsFailure{Outcome::deferred, 451, "4.4.3", "later"}};
    struct Case {
        const char* name;
        std::vector<HostAddresses> lookups;
        std::size_t limit;
        std::vector<MxHost> hosts;
        const char* failure; // reason, "" for none
    };
    const Case cases[] = {
        {"all hosts in order",
         {one, two},
         5,
         {{"a", {"192.0.2.1"}}, {"b", {"192.0.2.2", "2001:db8::2"}}},
         ""},
        {"the limit counts addresses, over hosts",
         {two, three, one},
         4,
         {{"a", {"192.0.2.2", "2001:db8::2"}}, {"b", {"192.0.2.3", "192.0.2.33"}}},
         ""},
        {"limit 0: no limit",
         {three, three},
         0,
         {{"a", {"192.0.2.3", "192.0.2.33", "192.0.2.34"}},
          {"b", {"192.0.2.3", "192.0.2.33", "192.0.2.34"}}},
         ""},
        {"a host without addresses is left out", {gone, one}, 5, {{"b", {"192.0.2.1"}}}, ""},
        {"a host that failed to resolve is left out", {later, one}, 5, {{"b", {"192.0.2.1"}}}, ""},
        {"none left, all permanent: the first permanent failure", {gone, gone}, 5, {}, "gone"},
        {"none left, one temporary: temporary (a soft error stays soft)",
         {gone, later, gone},
         5,
         {},
         "later"},
    };
    for (const Case& c : cases) {
        const Destination d = combine_hosts({"a", "b", "c"}, c.lookups, c.limit);
        CHECK_MESSAGE(d.hosts == c.hosts, c.name);
        if (*c.failure == '\0') {
            CHECK_MESSAGE(!d.failure, c.name);
        } else {
            REQUIRE_MESSAGE(d.failure, c.name);
            CHECK_MESSAGE(d.failure->reason == c.failure, c.name);
        }
    }
}

TEST_CASE("an IP literal needs no DNS at all") {
    DestinationRequest request;
    request.next_hop = {NextHopKind::ip_literal, "192.0.2.25", 2525};
    // A resolver that could not even be created: never asked.
    request.servers = {{"not-an-address", 53}};
    const Destination d = find_destination(request, Deadline::after(1s), keep);
    CHECK_FALSE(d.failure);
    CHECK(d.hosts == std::vector<MxHost>{{"192.0.2.25", {"192.0.2.25"}}});
    request.mx_name = "mx.example.com"; // --mx-name: the name to verify
    CHECK(find_destination(request, Deadline::after(1s), keep).hosts ==
          std::vector<MxHost>{{"mx.example.com", {"192.0.2.25"}}});
}

TEST_CASE("the resolver honours its deadline against a DNS server that never answers") {
    // A UDP socket nobody reads: queries arrive and are never answered.
    const mtatls::test::BoundSocket silent = mtatls::test::bind_loopback(SOCK_DGRAM);
    const uint16_t port = silent.port;

    std::string error;
    const auto resolver = Resolver::create({{"127.0.0.1", port}}, error);
    REQUIRE_MESSAGE(resolver, error);
    const auto start = std::chrono::steady_clock::now();
    const std::vector<DnsAnswer> answers = resolver->resolve(
        {{"d.example", dns_type_mx}, {"h.example", dns_type_a}}, Deadline::after(400ms));
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(answers.size() == 2);
    for (const DnsAnswer& a : answers) {
        CHECK(a.status == DnsStatus::failed);
        CHECK(a.error == "no answer from the DNS server in time");
    }
    CHECK(took >= 350ms);
    CHECK(took < 2s);

    // The whole path: a temporary failure, never a bounce.
    DestinationRequest request;
    request.next_hop = {NextHopKind::mx_lookup, "d.example", 25};
    request.servers = {{"127.0.0.1", port}};
    const Destination d = find_destination(request, Deadline::after(300ms), keep);
    CHECK(d.hosts.empty());
    REQUIRE(d.failure);
    CHECK(d.failure->outcome == Outcome::deferred);
    CHECK(d.failure->code == 451);
    CHECK(d.failure->dsn == "4.4.3");
    CHECK(d.failure->reason ==
          "[internal] Name service error for name=d.example type=MX: no answer from the DNS "
          "server in time (will try again)");
}

TEST_CASE("a resolver that cannot be set up is a temporary failure") {
    std::string error;
    CHECK_FALSE(Resolver::create({{"not-an-address", 53}}, error));
    CHECK(error.find("cannot use DNS server not-an-address@53") != std::string::npos);
    DestinationRequest request;
    request.next_hop = {NextHopKind::host_lookup, "mx.example", 25};
    request.servers = {{"not-an-address", 53}};
    const Destination d = find_destination(request, Deadline::after(1s), keep);
    REQUIRE(d.failure);
    CHECK(d.failure->dsn == "4.4.3");
    CHECK(d.failure->reason.starts_with("[internal] cannot look up mx.example: cannot use DNS "
                                        "server not-an-address@53"));
}
