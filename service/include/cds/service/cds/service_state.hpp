#pragma once
// Everything the request path reads, built once at start-up and then shared read-only by
// every server thread (std::shared_ptr<service_state const>; STYLE.md practice 9). Mutable
// shared things live behind the seams (fetcher, authenticator, feedback sink), each of which
// documents its own thread-safety, and in `rules` (current_rules: replaced atomically on a
// reload).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/auth/authentication.hpp"
#include "cds/service/cds/json_schema.hpp"
#include "cds/service/cds/rule_pages.hpp"
#include "cds/service/feedback/card_ledger.hpp"
#include "cds/service/feedback/feedback.hpp"
#include "cds/service/feedback/snooze.hpp"
#include "cds/service/fhir_client/prefetch_fetcher.hpp"
#include "cds/service/ops/metrics.hpp"

namespace cds::service {

// Bounds on what one client can make the service do. The numbers are
// configuration (command-line flags), never literals in the server code.
struct service_limits {
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    // All request bodies held at once, across connections: a body is read (after its
    // request's authentication) only while the bodies being read or handled leave room for
    // its Content-Length, or for max_body_bytes when it is chunked; a request waits for room
    // (body_wait, within its read_timeout), and is answered 503 with Retry-After if none
    // comes. At least max_body_bytes. One body of the largest size with room beside it, or a
    // hundred typical hook calls (tens of KiB each): more than the server threads can handle
    // at once, so the wait costs no throughput and memory does not grow with the number of
    // connections. Bodies read further ahead only hold memory: at 64 connections of 436 KB
    // bodies, 6 MiB instead of 8 took the peak RSS from 33–35 to 29 MiB at the same
    // requests/s and p99 (tests/bench/README.md).
    std::size_t body_budget_bytes = 6 * 1024 * 1024;
    // The longest a request waits for room in the budget: long enough to ride out a burst
    // (64 connections of 436 KB bodies wait ~0.1 s), short enough that clients holding the
    // budget (slow senders, chunked bodies that reserve max_body_bytes) make the others fail
    // fast with Retry-After rather than wait out the read timeout.
    std::chrono::milliseconds body_wait{std::chrono::seconds{1}};
    std::size_t max_header_bytes = 16 * 1024;
    unsigned max_json_depth = 64;
    std::size_t max_connections = 1024;
    // FHIR resources in one hook call, counted across prefetch and context.draftOrders
    // (count_request_resources); bounds the work a body within max_body_bytes can cause.
    std::size_t max_resources = 10000;
    std::chrono::milliseconds read_timeout{
        std::chrono::seconds{10}};  // header + body of one request
    std::chrono::milliseconds idle_timeout{
        std::chrono::seconds{30}};  // keep-alive wait for the next request
    std::chrono::milliseconds write_timeout{std::chrono::seconds{30}};  // one response
    std::chrono::milliseconds fetch_deadline{
        default_fetch_deadline};  // all FHIR-server fetching of one call (--fhir-deadline)
};

struct cors_policy {
    // "*" or explicit origins. With explicit origins the request's Origin is echoed when it is
    // listed (else the first listed origin is sent) and `Vary: Origin` is added.
    std::vector<std::string> allowed_origins{"*"};
    std::chrono::seconds max_age{86400};  // Access-Control-Max-Age: browsers cache the preflight
};

// The compiled JSON Schemas of the CDS Hooks protocol (service/schemas/*.json, embedded).
struct protocol_schemas {
    json_schema request;   // cds-hooks-request.json: the HookRequest envelope
    json_schema feedback;  // cds-hooks-feedback.json
    // hook -> schema of that hook's `context` (patient-view-context.json, ...)
    std::map<std::string, json_schema, std::less<>> context_by_hook;
};

// Compiles the embedded schemas; throws std::runtime_error if one is broken (a build defect).
[[nodiscard]] std::shared_ptr<protocol_schemas const> load_protocol_schemas();

// A rule set with its discovery document (GET /cds-services, rendered from its services):
// the two are replaced together, so discovery never lists another rule set's services.
struct loaded_rules {
    std::shared_ptr<rules::rule_set const> rules;  // non-null
    std::string discovery_body;
};

// The rule set the service answers with. A reload (SIGHUP, serve --rules-watch) replaces it
// while calls are running: a call takes one snapshot() at its start and uses only that, so it
// finishes on the rules it began with (the snapshot keeps them alive) and sees no mix of two
// rule sets. Thread-safe: one atomic shared_ptr, read without a lock.
class current_rules {
public:
    current_rules() = default;
    current_rules(
        std::shared_ptr<rules::rule_set const> rules);  // NOLINT: implicit, as the pointer it holds
    current_rules(current_rules const& other) : loaded_{other.snapshot()} {}
    current_rules& operator=(current_rules const& other);
    current_rules& operator=(std::shared_ptr<rules::rule_set const> rules);

    // The rules and discovery document of this moment; null when no rule set is loaded.
    [[nodiscard]] std::shared_ptr<loaded_rules const> snapshot() const {
        std::lock_guard const lock(mutex_);
        return loaded_;
    }
    // The rule set of this moment (null when none). For one look only: a call uses snapshot().
    [[nodiscard]] std::shared_ptr<rules::rule_set const> get() const;
    [[nodiscard]] std::shared_ptr<rules::rule_set const> operator->() const { return get(); }
    explicit operator bool() const { return snapshot() != nullptr; }

    // Makes `rules` (non-null) the rule set of every call that starts from now on. Const: the
    // one change a shared service_state allows after start-up.
    void replace(std::shared_ptr<rules::rule_set const> rules) const;

private:
    // A mutex rather than std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a
    // lock bit in the pointer, which ThreadSanitizer cannot see. Held only to copy the pointer.
    mutable std::mutex mutex_;
    mutable std::shared_ptr<loaded_rules const> loaded_;  // guarded by mutex_
};

struct service_state {
    current_rules rules;  // non-null once ready
    service_limits limits;
    cors_policy cors;
    std::shared_ptr<protocol_schemas const> schemas;

    // Seams. Null means: no FHIR-server fetching (absent prefetch is unavailable); no
    // authentication (every caller is trusted); feedback counted in the log only.
    std::shared_ptr<prefetch_fetcher> fetcher;
    std::shared_ptr<request_authenticator> authenticator;
    std::shared_ptr<feedback_sink> feedback;
    // The card ledger (with --feedback-db): every returned card is queued to it, never waited for.
    std::shared_ptr<card_ledger> ledger;
    // Snoozing (with --feedback-db; snooze.hpp): null when off.
    std::shared_ptr<snooze_service> snooze;
    // The base of the cards' source.url (rule_pages.hpp); never null.
    std::shared_ptr<public_url> public_base =
        std::make_shared<public_url>(std::string{default_public_url});

    // Card and suggestion uuids; must be safe to call from several threads at once.
    rules::uuid_source next_uuid;

    // When set, every call is evaluated at this time instead of its arrival time
    // (`serve --now`: hermetic end-to-end tests and demonstrations with dated fixtures).
    std::optional<fhir::instant> fixed_now;

    // `serve --enable-explain` (or --enable-ui): a hook call with `?explain=true` gets the
    // evaluation trace in its response. Off: the query is refused (400), so that a client
    // never believes it is looking at a trace it did not get.
    bool explain_enabled = false;
    // `serve --enable-ui`: the card viewer at /ui (its files are public, like discovery).
    bool ui_enabled = false;
    // `serve --ui-rules FILE` (repeatable), by file name without directory: the rule sets the
    // card viewer may compare against with `?rules=NAME`. Only these, and only with the UI on.
    std::map<std::string, std::shared_ptr<rules::rule_set const>, std::less<>> ui_rules;
    // GET /metrics and the counters behind it (lock-free, ops/metrics.hpp); null with
    // `serve --disable-metrics`, and then /metrics is an unknown path.
    std::shared_ptr<ops::service_metrics> metrics;
};

// A state with the given rules, limits and CORS policy, the embedded schemas, the rendered
// discovery document and a random (RFC 4122 version 4) uuid source. Seams stay null.
[[nodiscard]] service_state make_service_state(std::shared_ptr<rules::rule_set const> rules,
                                               service_limits limits = {},
                                               cors_policy cors = {});

// The discovery document (CDS Hooks 2.0 "Discovery") for a rule set's services.
[[nodiscard]] std::string render_discovery(rules::rule_set const& rules);

// A thread-safe uuid source backed by one random generator per thread.
[[nodiscard]] rules::uuid_source random_uuid_source();

}  // namespace cds::service
