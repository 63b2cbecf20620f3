// policy_responder.h - the answer to one socketmap request: the socketmap
// name is the mtatls binding, the key Postfix's next-hop; the module
// resolves the effective policy (CONFIG_EXPLAIN, in memory) and
// policy_map turns it into the Postfix policy.
//
//   key ".example.com" (Postfix's parent-domain retry)   NOTFOUND
//   key that is no next-hop                             PERM
//   the module cannot explain (no configuration)        TEMP
//   a policy that cannot be carried (policy_map defer)  TEMP
//   otherwise                                           OK LEVEL attributes...
//
// TEMP makes Postfix defer the message ("client TLS configuration
// problem"): a policy lookup that fails never turns into weaker TLS.
//
// Each warning of the mapping is logged once per directive and stanza
// (not once per lookup), until the next reload; with `verbose` every
// lookup is logged too.
#pragma once

#include "daemon_log.h"
#include "socketmap_session.h"

#include "module_loader.h"

#include <cstddef>
#include <string>
#include <unordered_set>

namespace mtatls::postfix {

class PolicyResponder : public RequestHandler {
  public:
    PolicyResponder(const host::Module& module, std::string config_file, DaemonLog& log,
                    bool verbose)
        : module_(module), config_file_(std::move(config_file)), log_(log), verbose_(verbose) {}

    std::string answer(const Request& request) override;
    void rejected(std::string_view payload, std::string_view reason) override;

    // After a reload the stanzas may differ: report warnings afresh.
    void forget_reported() { reported_.clear(); }

    [[nodiscard]] std::size_t lookups() const { return lookups_; }

  private:
    std::string respond(const Request& request);
    void report_once(const std::string& identity, const std::string& line);

    const host::Module& module_;
    std::string config_file_; // names the file in findings about defaults
    DaemonLog& log_;
    bool verbose_;
    std::unordered_set<std::string> reported_;
    std::size_t lookups_ = 0;
};

} // namespace mtatls::postfix
