#pragma once
// A durable store for CDS Hooks 2.0 feedback behind the `feedback_sink` seam (through
// make_queued_feedback_sink, off the server's I/O threads), with a small read side for
// analytics. SQLite is the embedded default (`serve --feedback-db FILE`); a
// PostgreSQL store for replicas implements the same `feedback_store` interface.
//
// What is stored, per feedback entry: when the service received it (server clock), the
// service id, the card uuid, the outcome, the client's outcomeTimestamp, the override reason
// coding, whether the clinician typed an override comment, the accepted suggestion uuids, and
// the rule set id and version the service was running. Never the request body and never the
// comment's text: free text typed by a clinician may name the patient, and the feedback
// protocol otherwise carries no patient data, so the store holds none. Each entry is also
// flagged with whether its card was in the card ledger (card_ledger.hpp), which the same
// database holds.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/types.hpp"
#include "cds/service/feedback/card_ledger.hpp"
#include "cds/service/feedback/feedback.hpp"
#include "cds/service/feedback/store_executor.hpp"

namespace cds::service {

// Counts of feedback entries received in [since, until) (either bound may be open).
struct feedback_summary_query {
    std::optional<fhir::instant> since;
    std::optional<fhir::instant> until;
};

struct feedback_count {
    std::string service_id;
    rule_set_identity rule_set;
    std::string outcome;                          // "accepted" | "overridden"
    std::optional<fhir::coding> override_reason;  // grouped by system + code; one display received
    std::int64_t entries = 0;
    std::int64_t with_user_comment = 0;     // overrides whose clinician typed a comment
    std::int64_t accepted_suggestions = 0;  // suggestion uuids accepted in these entries
};

struct feedback_summary {
    feedback_summary_query range;
    std::int64_t total_entries = 0;
    std::vector<feedback_count> counts;  // ordered by service, rule set, outcome, reason
};

// {"since":..,"until":..,"totalEntries":N,"counts":[{"serviceId","ruleSet":{"id","version"},
//  "outcome","overrideReason":{"system","code","display"}?,"entries","withUserComment",
//  "acceptedSuggestions"}]}
[[nodiscard]] std::string render_feedback_summary(feedback_summary const& summary);

// Feedback joined to the card ledger (`feedback-report --by rule`), over [since, until):
// cards by issue time, feedback by receipt time.
struct override_reason_count {
    fhir::coding reason;
    std::int64_t entries = 0;
};

struct rule_feedback {
    std::string rule_id;
    rule_set_identity rule_set;
    std::int64_t cards_issued = 0;      // returned to a client
    std::int64_t cards_suppressed = 0;  // evaluated but snoozed (ledger_card::suppressed_by)
    std::int64_t accepted = 0;          // feedback entries
    std::int64_t overridden = 0;        // feedback entries
    // Most frequent first (ties by system, code); at most max_top_override_reasons.
    std::vector<override_reason_count> top_override_reasons;
    // Accepted suggestion uuids that are suggestions of the card the feedback names.
    std::int64_t suggestions_taken = 0;
};

inline constexpr std::size_t max_top_override_reasons = 3;

struct rule_feedback_report {
    feedback_summary_query range;
    std::int64_t total_entries = 0;    // every feedback entry in range, as in feedback_summary
    std::vector<rule_feedback> rules;  // ordered by rule id, rule set id, version
    // Feedback naming a card the ledger does not hold (issued before the ledger, by another
    // instance, or dropped from a full queue; or never issued at all).
    std::int64_t unknown_card_entries = 0;
    std::int64_t unknown_card_accepted = 0;
    std::int64_t unknown_card_overridden = 0;
};

// The layouts are documented in README.md ("Feedback by rule").
[[nodiscard]] std::string render_rule_feedback_json(rule_feedback_report const& report);
[[nodiscard]] std::string render_rule_feedback_csv(rule_feedback_report const& report);
[[nodiscard]] std::string render_rule_feedback_text(rule_feedback_report const& report);

// An override of a card in the card ledger, as snoozing reads it (CLINICAL-BASIS.md §6).
struct card_override {
    std::string card_uuid;  // the overridden card
    std::string rule_id;
    std::string evidence_key;
    std::chrono::system_clock::time_point overridden_at;  // when the feedback was received
    std::optional<fhir::coding> reason;                   // overrideReason.reason
};

enum class store_outcome {
    stored,  // committed to stable storage
    busy,    // another connection held the write lock until the call gave up; nothing stored
    failed,  // any other error (logged without feedback data); nothing stored
};

// Blocking: a server I/O thread never calls it directly; make_queued_feedback_sink runs it on
// a store_executor thread.
class feedback_store {
public:
    virtual ~feedback_store() = default;

    // Stores all entries of one feedback call in one durable transaction, or none of them.
    // Waits for another connection's write lock until `give_up_at` at the latest (at least
    // one attempt is made, however late). Thread-safe.
    virtual store_outcome record(std::string_view service_id,
                                 std::vector<feedback_entry> const& entries,
                                 std::chrono::steady_clock::time_point give_up_at) = 0;

    // The same, waiting for the lock at most the store's busy timeout; true when stored.
    virtual bool record(std::string_view service_id,
                        std::vector<feedback_entry> const& entries) = 0;

    // Stores the card ledger entries of one hook call in one transaction (a card uuid
    // already recorded is kept as it is). Waits for the lock until `give_up_at`. Thread-safe.
    virtual store_outcome record_cards(std::vector<ledger_card> const& cards,
                                       std::chrono::steady_clock::time_point give_up_at) = 0;

    // Snoozing: the overrides received at or after `since` of the cards issued with this
    // patient key (ledger_card::patient_key), newest first; nothing when the store cannot be
    // read by `give_up_at` (logged without the key). Must not wait behind the writer: the
    // SQLite store reads on a connection of its own. Thread-safe.
    [[nodiscard]] virtual std::optional<std::vector<card_override>> overrides_since(
        std::string_view patient_key,
        std::chrono::system_clock::time_point since,
        std::chrono::steady_clock::time_point give_up_at) = 0;

    // The secret stored under `name`, storing `candidate` first when there is none yet, in one
    // transaction: every process sharing the store gets the first one stored (the snooze key
    // when no secret is configured). Thread-safe. Throws std::runtime_error when the store
    // cannot be read or written (start-up error).
    [[nodiscard]] virtual std::string shared_secret(std::string_view name,
                                                    std::string_view candidate) = 0;

    // Thread-safe. Throws std::runtime_error when the store cannot be read.
    [[nodiscard]] virtual feedback_summary summarize(feedback_summary_query const& query) = 0;
    [[nodiscard]] virtual rule_feedback_report summarize_by_rule(
        feedback_summary_query const& query) = 0;
};

struct sqlite_feedback_store_options {
    // false: the file must exist already (reports), so that a mistyped path is an error
    // instead of a new empty database.
    bool create_if_missing = true;
    // true (serve): opening fails unless this process can write the file, so that a
    // read-only database stops start-up instead of failing every feedback call with 503.
    bool must_be_writable = true;
    // How long a statement waits for another connection's lock (e.g. a report or an
    // analytics reader holding the database) when the caller gives no bound of its own.
    std::chrono::milliseconds busy_timeout{std::chrono::seconds{5}};
    // The received_at clock; the system clock unless a test fixes it.
    std::function<std::chrono::system_clock::time_point()> clock;
};

// How feedback calls reach a blocking store from the server (serve's --feedback-queue and
// --feedback-max-wait).
struct feedback_queue_options {
    store_executor_options executor;
    // Longest a feedback call waits, from its arrival at the sink, for the store (queue and
    // write lock together); beyond it the call is answered 503 with Retry-After. Short, so a
    // client is told to retry rather than held; it also bounds how long a store job runs
    // (see store_executor.hpp).
    std::chrono::milliseconds max_wait{std::chrono::seconds{1}};
    // Hook calls whose ledger entries may wait for the store's writer; beyond it they are
    // dropped and counted (serve's --ledger-queue). They share the writer thread with
    // feedback calls, which keep their own bound (executor.max_queued).
    std::size_t ledger_max_queued = 4096;
};

// A feedback_sink that runs `store`'s record on an executor of its own: a server thread only
// queues the call; a full queue or a store still locked after max_wait is refused with 503.
[[nodiscard]] std::shared_ptr<feedback_sink> make_queued_feedback_sink(
    std::shared_ptr<feedback_store> store, feedback_queue_options options = {});

// Both faces of one queue to a store: the feedback sink and the card ledger share its single
// writer thread, so feedback is stored after every ledger entry queued before it.
struct queued_store {
    std::shared_ptr<feedback_sink> feedback;
    std::shared_ptr<card_ledger> ledger;
};
[[nodiscard]] queued_store make_queued_store(std::shared_ptr<feedback_store> store,
                                             feedback_queue_options options = {});

// The schema version this build creates and reads (the `schema_version` table's newest row).
// 2: the card ledger, and feedback flagged when its card was not in the ledger.
// 3: snoozing: suppressed cards in the ledger, ledger looked up by patient key, shared secrets.
inline constexpr int feedback_schema_version = 3;

// Opens (creating when allowed) the SQLite database at `path`, switches it to WAL with
// synchronous=FULL and applies the schema migrations it lacks. Throws std::runtime_error with
// a message naming the file and the reason (start-up error): unopenable path, not a SQLite
// database, a schema newer than this build, WAL unavailable, and (must_be_writable) a file
// this process cannot write.
[[nodiscard]] std::shared_ptr<feedback_store> open_sqlite_feedback_store(
    std::string const& path, rule_set_identity rules, sqlite_feedback_store_options options = {});

struct postgres_feedback_store_options {
    // The password when the URL and libpq's own sources (PGPASSWORD, PGPASSFILE, ~/.pgpass)
    // give none (serve's --feedback-db-password-file); never logged.
    std::string password;
    // How long a statement waits for another session's lock when the caller gives no bound.
    std::chrono::milliseconds busy_timeout{std::chrono::seconds{5}};
    // The received_at clock; the system clock unless a test fixes it.
    std::function<std::chrono::system_clock::time_point()> clock;
};

// Whether `target` (serve's --feedback-db) names a PostgreSQL database (a libpq URL,
// postgresql:// or postgres://) rather than a SQLite file.
[[nodiscard]] bool is_postgres_url(std::string_view target);

// Connects to the PostgreSQL database at `url` (a libpq connection URL) and applies the schema
// migrations it lacks, under an advisory lock so that replicas starting together migrate once.
// Throws std::runtime_error (start-up error) naming the server without its password when the
// database cannot be reached or its schema is newer than this build. Once open, a lost
// connection is not an error of the store's life: calls fail (feedback answered 503) until
// a later call reconnects.
[[nodiscard]] std::shared_ptr<feedback_store> open_postgres_feedback_store(
    std::string const& url, rule_set_identity rules, postgres_feedback_store_options options = {});

// What opens the store: serve (creates and must write) or a report (reads an existing one).
enum class feedback_store_role { serve, report };

// The store named by --feedback-db (a SQLite file or a PostgreSQL URL), with the password read
// from --feedback-db-password-file when given. Throws std::runtime_error (start-up error).
[[nodiscard]] std::shared_ptr<feedback_store> open_feedback_store_from(
    boost::program_options::variables_map const& vm,
    rule_set_identity rules,
    feedback_store_role role);

// --feedback-db-password-file, shared by serve and feedback-report.
void add_feedback_db_password_option(boost::program_options::options_description& description);

// `serve`'s --feedback-db FILE, --feedback-queue N, --feedback-max-wait DURATION and --ledger-queue
// N, with their help texts; the defaults are feedback_queue_options'.
void add_feedback_store_options(boost::program_options::options_description& description);

// The queue options from those flags. Throws std::invalid_argument for a value out of range.
[[nodiscard]] feedback_queue_options feedback_queue_options_from(
    boost::program_options::variables_map const& vm);

}  // namespace cds::service
