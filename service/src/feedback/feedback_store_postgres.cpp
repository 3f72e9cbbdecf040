// The PostgreSQL feedback store, for replicas sharing one database: the same tables, columns
// and behaviour as the SQLite store (feedback_store.hpp). One libpq connection per process,
// guarded by one mutex; one transaction per feedback call, committed with
// synchronous_commit=on before the call is answered; the lock wait bounded per call by
// lock_timeout. A lost connection fails the calls made while it is down (feedback 503) and is
// opened again by the next call.

#include "cds/service/feedback/feedback_store.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "postgres_connection.hpp"
#include "rule_feedback_rows.hpp"

namespace cds::service {

namespace {

using postgres::connection;
using postgres::result;

// One row of a result, as rule_feedback_rows reads rows.
struct row_of {
    result const& rows;
    int row;
    std::string text(int column) const { return rows.text(row, column); }
    std::int64_t int64(int column) const { return rows.int64(row, column); }
};

// Migrations, applied in order inside one transaction each; a version is never edited once
// released, a change is a new version. The tables and columns are the SQLite store's; text
// columns compare byte-wise (COLLATE "C") as SQLite's do, so that fixed-width instants order
// as times and reports sort alike on both stores.
struct migration {
    int version;
    char const* sql;
};

constexpr migration migrations[] = {
    {1, R"sql(
CREATE TABLE feedback (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at             TEXT COLLATE "C" NOT NULL,
    service_id              TEXT COLLATE "C" NOT NULL,
    card_uuid               TEXT COLLATE "C" NOT NULL,
    outcome                 TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    outcome_timestamp       TEXT COLLATE "C" NOT NULL,
    override_reason_system  TEXT COLLATE "C",
    override_reason_code    TEXT COLLATE "C",
    override_reason_display TEXT COLLATE "C",
    has_user_comment        INTEGER NOT NULL CHECK (has_user_comment IN (0, 1)),
    rule_set_id             TEXT COLLATE "C" NOT NULL,
    rule_set_version        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX feedback_by_received_at ON feedback (received_at);
CREATE INDEX feedback_by_card ON feedback (card_uuid);
CREATE TABLE feedback_accepted_suggestion (
    feedback_id     BIGINT NOT NULL REFERENCES feedback (id),
    suggestion_uuid TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (feedback_id, suggestion_uuid)
);
)sql"},
    // The card ledger (card_ledger.hpp), as in the SQLite store's version 2.
    {2, R"sql(
CREATE TABLE card_ledger (
    card_uuid        TEXT COLLATE "C" PRIMARY KEY,
    issued_at        TEXT COLLATE "C" NOT NULL,
    service_id       TEXT COLLATE "C" NOT NULL,
    hook             TEXT COLLATE "C" NOT NULL,
    rule_id          TEXT COLLATE "C",
    rule_set_id      TEXT COLLATE "C" NOT NULL,
    rule_set_version TEXT COLLATE "C" NOT NULL,
    indicator        TEXT COLLATE "C",
    client_iss       TEXT COLLATE "C",
    patient_key      TEXT COLLATE "C",
    evidence_key     TEXT COLLATE "C"
);
CREATE INDEX card_ledger_by_issued_at ON card_ledger (issued_at);
CREATE TABLE card_ledger_suggestion (
    card_uuid       TEXT COLLATE "C" NOT NULL REFERENCES card_ledger (card_uuid),
    suggestion_uuid TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (card_uuid, suggestion_uuid)
);
ALTER TABLE feedback ADD COLUMN card_in_ledger INTEGER CHECK (card_in_ledger IN (0, 1));
)sql"},
    // Snoozing (snooze.hpp), as in the SQLite store's version 3.
    {3, R"sql(
ALTER TABLE card_ledger ADD COLUMN suppressed_by TEXT COLLATE "C";
CREATE INDEX card_ledger_by_patient_key ON card_ledger (patient_key)
    WHERE patient_key IS NOT NULL;
CREATE TABLE shared_secret (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
)sql"},
};
static_assert(std::size(migrations) > 0 &&
              migrations[std::size(migrations) - 1].version == feedback_schema_version);

// pg_advisory_xact_lock's key for the schema migrations: replicas starting at once queue on
// it, and each finds the schema the first one wrote. ("mgcdsfb" in ASCII.)
constexpr char const* migration_lock_key = "31073201452278370";

std::string stored_time(std::chrono::system_clock::time_point at) {
    return fhir::format_instant(std::chrono::time_point_cast<std::chrono::milliseconds>(at));
}

// PostgreSQL's lock_timeout for a call that gives up at `give_up_at`, in milliseconds: at
// least 1 (0 would mean no bound), so that at least one attempt is made however late.
std::int64_t lock_timeout_ms(std::chrono::steady_clock::time_point give_up_at) {
    auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up_at - std::chrono::steady_clock::now());
    return std::max<std::int64_t>(1, left.count());
}

// SQLSTATE 55P03 lock_not_available (lock_timeout) and 57014 query_canceled
// (statement_timeout): the data was locked by another session, nothing was stored.
bool is_lock_wait(std::string_view sqlstate) { return sqlstate == "55P03" || sqlstate == "57014"; }

class postgres_feedback_store final : public feedback_store {
public:
    postgres_feedback_store(std::string const& url,
                            rule_set_identity rules,
                            postgres_feedback_store_options options)
        : db_{url, options.password},
          // Opened by the first snooze lookup: without snoozing (no lookup: every snooze
          // period 0, or a feedback report) the store holds one session, not two.
          reader_{url, std::move(options.password), connection::connect_at::first_use},
          rules_{std::move(rules)},
          clock_{std::move(options.clock)},
          busy_timeout_{options.busy_timeout} {
        if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
        std::lock_guard const lock{mutex_};
        if (!db_.connected()) db_.fail("cannot connect: " + db_.last_error());
        migrate();
    }

    store_outcome record(std::string_view service_id,
                         std::vector<feedback_entry> const& entries,
                         std::chrono::steady_clock::time_point give_up_at) override {
        if (entries.empty()) return store_outcome::stored;
        std::string const received_at = stored_time(clock_());
        std::lock_guard const lock{mutex_};
        auto const outcome = in_transaction(
            give_up_at, [&] { return insert_all(received_at, service_id, entries); });
        if (outcome != store_outcome::stored) {
            // Only SQLSTATEs and the server's message (which names constraints, never values).
            spdlog::error(
                "feedback store: {} feedback entries for service {} were not stored (answered "
                "503): {}",
                entries.size(), service_id, db_.last_error());
        }
        return outcome;
    }

    bool record(std::string_view service_id, std::vector<feedback_entry> const& entries) override {
        return record(service_id, entries, std::chrono::steady_clock::now() + busy_timeout_) ==
               store_outcome::stored;
    }

    store_outcome record_cards(std::vector<ledger_card> const& cards,
                               std::chrono::steady_clock::time_point give_up_at) override {
        if (cards.empty()) return store_outcome::stored;
        std::lock_guard const lock{mutex_};
        auto const outcome = in_transaction(give_up_at, [&] { return insert_cards(cards); });
        if (outcome != store_outcome::stored) {
            spdlog::warn("card ledger: {} cards were not recorded: {}", cards.size(),
                         db_.last_error());
        }
        return outcome;
    }

    feedback_summary summarize(feedback_summary_query const& query) override;
    rule_feedback_report summarize_by_rule(feedback_summary_query const& query) override;

    // On the hook path: a connection of its own, so that a lookup never waits for the
    // writer's connection (PostgreSQL's readers are not blocked by writers either). A lookup
    // made while the database is away fails at once or within `give_up_at`.
    std::optional<std::vector<card_override>> overrides_since(
        std::string_view patient_key,
        std::chrono::system_clock::time_point since,
        std::chrono::steady_clock::time_point give_up_at) override {
        std::lock_guard const lock{reader_mutex_};
        auto const found = read_overrides(patient_key, stored_time(since), give_up_at);
        if (!found) {
            spdlog::warn("snooze: overrides could not be read: {}", reader_.last_error());
        }
        return found;
    }

    std::string shared_secret(std::string_view name, std::string_view candidate) override {
        std::lock_guard const lock{mutex_};
        std::string value;
        auto const outcome = in_transaction(std::chrono::steady_clock::now() + busy_timeout_, [&] {
            if (!db_.command("INSERT INTO shared_secret (name, value, created_at) VALUES "
                             "($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                             {std::string{name}, std::string{candidate}, stored_time(clock_())})) {
                return false;
            }
            auto const stored =
                db_.query("SELECT value FROM shared_secret WHERE name = $1", {std::string{name}});
            if (!stored || stored->rows() != 1) return false;
            value = stored->text(0, 0);
            return true;
        });
        if (outcome != store_outcome::stored || value.empty())
            db_.fail("the shared secret cannot be stored: " + db_.last_error());
        return value;
    }

private:
    // Runs `insert` (true on success) in one transaction whose lock waits end at `give_up_at`;
    // on failure nothing of it stays. A connection found lost at BEGIN (the server restarted
    // since the last call) is opened again and the call tried once more: nothing was sent.
    // Called with mutex_ held.
    template <class Insert>
    store_outcome in_transaction(std::chrono::steady_clock::time_point give_up_at,
                                 Insert const& insert) {
        bool begun = db_.connected() && db_.command("BEGIN");
        if (!begun && db_.reconnect_if_lost(give_up_at)) begun = db_.command("BEGIN");
        if (!begun) return store_outcome::failed;
        // The statement bound also ends a call stuck on a server that stopped answering.
        std::int64_t const lock_ms = lock_timeout_ms(give_up_at);
        bool const done = db_.command(
                              "SELECT set_config('lock_timeout', $1, true), "
                              "set_config('statement_timeout', $2, true)",
                              {std::to_string(lock_ms) + "ms",
                               std::to_string(std::max<std::int64_t>(lock_ms, 1000)) + "ms"}) &&
                          insert() && db_.command("COMMIT");
        if (done) return store_outcome::stored;
        std::string const sqlstate = db_.last_sqlstate();
        db_.rollback();
        return is_lock_wait(sqlstate) ? store_outcome::busy : store_outcome::failed;
    }

    bool insert_all(std::string const& received_at,
                    std::string_view service_id,
                    std::vector<feedback_entry> const& entries) {
        for (auto const& entry : entries) {
            static fhir::coding const no_reason;
            fhir::coding const& reason = entry.override_reason ? *entry.override_reason : no_reason;
            rule_set_identity const& rules = entry.rule_set.id.empty() ? rules_ : entry.rule_set;
            auto const inserted = db_.query(
                "INSERT INTO feedback (received_at, service_id, card_uuid, outcome, "
                "outcome_timestamp, override_reason_system, override_reason_code, "
                "override_reason_display, has_user_comment, rule_set_id, rule_set_version, "
                "card_in_ledger) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::integer, $10, $11, "
                "CASE WHEN EXISTS (SELECT 1 FROM card_ledger WHERE card_uuid = $3) THEN 1 ELSE 0 "
                "END) RETURNING id",
                {received_at, std::string{service_id}, entry.card, entry.outcome,
                 entry.outcome_timestamp, reason.system, reason.code, reason.display,
                 entry.override_comment.empty() ? "0" : "1", rules.id, rules.version});
            if (!inserted || inserted->rows() != 1) return false;
            std::string const feedback_id = inserted->text(0, 0);
            for (auto const& uuid : entry.accepted_suggestions) {
                // A suggestion uuid repeated within one entry is one accepted suggestion.
                if (!db_.command("INSERT INTO feedback_accepted_suggestion (feedback_id, "
                                 "suggestion_uuid) VALUES ($1::bigint, $2) ON CONFLICT DO NOTHING",
                                 {feedback_id, uuid})) {
                    return false;
                }
            }
        }
        return true;
    }

    bool insert_cards(std::vector<ledger_card> const& cards) {
        for (auto const& card : cards) {
            if (!db_.command(
                    "INSERT INTO card_ledger (card_uuid, issued_at, service_id, hook, rule_id, "
                    "rule_set_id, rule_set_version, indicator, client_iss, patient_key, "
                    "evidence_key, suppressed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                    "$10, $11, $12) ON CONFLICT (card_uuid) DO NOTHING",
                    {card.card_uuid, stored_time(card.issued_at), card.service_id, card.hook,
                     card.rule_id, card.rule_set_id, card.rule_set_version, card.indicator,
                     card.client_iss, card.patient_key, card.evidence_key, card.suppressed_by})) {
                return false;
            }
            for (auto const& uuid : card.suggestion_uuids) {
                if (!db_.command("INSERT INTO card_ledger_suggestion (card_uuid, suggestion_uuid) "
                                 "VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                 {card.card_uuid, uuid})) {
                    return false;
                }
            }
        }
        return true;
    }

    // Applies the migrations the database lacks, in one transaction holding the advisory
    // lock: a replica that starts while another migrates waits for it, then reads the
    // version the other wrote and applies nothing. The version is read first without the
    // lock, so opening an up-to-date database (replicas restarting, a report) writes nothing.
    void migrate() {
        if (schema_version() == feedback_schema_version) return;
        db_.require(db_.command("BEGIN"), "cannot begin the schema migration");
        try {
            db_.require(
                db_.command("SELECT pg_advisory_xact_lock($1::bigint)", {migration_lock_key}),
                "cannot take the migration lock");
            db_.require(db_.command("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER "
                                    "PRIMARY KEY, applied_at TEXT COLLATE \"C\" NOT NULL)"),
                        "cannot create the schema_version table");
            int const current = schema_version();
            if (current > feedback_schema_version) {
                db_.fail("its schema version " + std::to_string(current) +
                         " is newer than this build's (" + std::to_string(feedback_schema_version) +
                         ")");
            }
            for (auto const& m : migrations) {
                if (m.version <= current) continue;
                db_.require(db_.command(m.sql),
                            "schema migration " + std::to_string(m.version) + " failed");
                db_.require(db_.command("INSERT INTO schema_version (version, applied_at) VALUES "
                                        "($1::integer, $2)",
                                        {std::to_string(m.version), stored_time(clock_())}),
                            "cannot record schema version " + std::to_string(m.version));
            }
            db_.require(db_.command("COMMIT"), "cannot commit the schema migration");
        } catch (...) {
            db_.rollback();
            throw;
        }
    }

    // 0 for a database without the schema_version table (new, or not ours yet).
    int schema_version() {
        auto const exists = db_.query("SELECT to_regclass('schema_version') IS NOT NULL");
        db_.require(exists.has_value(), "cannot read the schema version");
        if (exists->text(0, 0) != "t") return 0;
        auto const version = db_.query("SELECT coalesce(max(version), 0) FROM schema_version");
        db_.require(version.has_value(), "cannot read the schema version");
        int const current = std::stoi(version->text(0, 0));
        if (current > feedback_schema_version) {
            db_.fail("its schema version " + std::to_string(current) +
                     " is newer than this build's (" + std::to_string(feedback_schema_version) +
                     ")");
        }
        return current;
    }

    // Runs `read` in one REPEATABLE READ transaction, so that a report's numbers agree with
    // each other while replicas keep writing. Throws std::runtime_error when it fails.
    template <class Read>
    void in_snapshot(Read const& read) {
        bool begun =
            db_.connected() && db_.command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        if (!begun && db_.reconnect_if_lost(std::chrono::steady_clock::now() + busy_timeout_))
            begun = db_.command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        db_.require(begun, "cannot read");
        try {
            read();
            db_.require(db_.command("COMMIT"), "cannot read");
        } catch (...) {
            db_.rollback();
            throw;
        }
    }

    // Runs a read query with $1 = since and $2 = until (empty: no bound).
    result rows(char const* sql, std::string const& since, std::string const& until) {
        auto out = db_.query(sql, {since, until});
        db_.require(out.has_value(), "cannot read");
        return std::move(*out);
    }

    // The overrides of a patient key received since `since` (a stored time), newest first;
    // nothing when the reader connection cannot answer by `give_up_at`. Called with
    // reader_mutex_ held.
    std::optional<std::vector<card_override>> read_overrides(
        std::string_view patient_key,
        std::string const& since,
        std::chrono::steady_clock::time_point give_up_at) {
        // Session-wide on this connection, which runs nothing else: the bound of this lookup.
        // A connection not opened yet, or found lost by it (the server restarted since), is
        // opened then, and a lost one again once.
        auto const bound_lookup = [&] {
            return reader_.reconnect_if_lost(give_up_at) &&
                   reader_.command("SELECT set_config('statement_timeout', $1, false)",
                                   {std::to_string(lock_timeout_ms(give_up_at)) + "ms"});
        };
        if (!bound_lookup() && (reader_.connected() || !bound_lookup())) return std::nullopt;
        auto const rows = reader_.query(
            "SELECT l.card_uuid, l.rule_id, l.evidence_key, f.received_at, "
            "f.override_reason_system, f.override_reason_code, f.override_reason_display "
            "FROM card_ledger l JOIN feedback f ON f.card_uuid = l.card_uuid "
            "WHERE l.patient_key = $1 AND f.outcome = 'overridden' AND f.received_at >= $2 "
            "ORDER BY f.received_at DESC, f.id DESC",
            {std::string{patient_key}, since});
        if (!rows) return std::nullopt;
        std::vector<card_override> out;
        for (int row = 0; row < rows->rows(); ++row) {
            card_override found;
            found.card_uuid = rows->text(row, 0);
            found.rule_id = rows->text(row, 1);
            found.evidence_key = rows->text(row, 2);
            auto const at = fhir::parse_date_time(rows->text(row, 3));
            if (at.value) {
                found.overridden_at =
                    std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                        at.value->start);
            }
            if (!rows->is_null(row, 4) || !rows->is_null(row, 5))
                found.reason =
                    fhir::coding{rows->text(row, 4), rows->text(row, 5), rows->text(row, 6)};
            out.push_back(std::move(found));
        }
        return out;
    }

    connection db_;      // guarded by mutex_
    connection reader_;  // guarded by reader_mutex_: snooze lookups only
    std::mutex reader_mutex_;
    rule_set_identity rules_;
    std::function<std::chrono::system_clock::time_point()> clock_;
    std::chrono::milliseconds busy_timeout_;
    // Serializes every use of the connection: libpq connections are not shared between
    // threads, and one transaction at a time is all one connection can hold.
    std::mutex mutex_;
};

feedback_summary postgres_feedback_store::summarize(feedback_summary_query const& query) {
    feedback_summary out;
    out.range = query;
    std::string const since = query.since ? fhir::format_instant(*query.since) : std::string{};
    std::string const until = query.until ? fhir::format_instant(*query.until) : std::string{};
    std::lock_guard const lock{mutex_};
    in_snapshot([&] {
        auto const r = rows(
            "SELECT f.service_id, f.rule_set_id, f.rule_set_version, f.outcome, "
            "f.override_reason_system, f.override_reason_code, max(f.override_reason_display), "
            "count(*), sum(f.has_user_comment), "
            "sum((SELECT count(*) FROM feedback_accepted_suggestion s WHERE s.feedback_id = "
            "f.id)) FROM feedback f WHERE ($1::text IS NULL OR f.received_at >= $1) AND "
            "($2::text IS NULL OR f.received_at < $2) "
            "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5 NULLS FIRST, 6 NULLS FIRST",
            since, until);
        for (int row = 0; row < r.rows(); ++row) {
            feedback_count count;
            count.service_id = r.text(row, 0);
            count.rule_set = {r.text(row, 1), r.text(row, 2)};
            count.outcome = r.text(row, 3);
            if (!r.is_null(row, 4) || !r.is_null(row, 5))
                count.override_reason =
                    fhir::coding{r.text(row, 4), r.text(row, 5), r.text(row, 6)};
            count.entries = r.int64(row, 7);
            count.with_user_comment = r.int64(row, 8);
            count.accepted_suggestions = r.int64(row, 9);
            out.total_entries += count.entries;
            out.counts.push_back(std::move(count));
        }
    });
    return out;
}

// The `WHERE` of every by-rule query: $1 and $2 bound the time column named in the query.
#define CDS_IN_RANGE(column) \
    "($1::text IS NULL OR " column " >= $1) AND ($2::text IS NULL OR " column " < $2)"

rule_feedback_report postgres_feedback_store::summarize_by_rule(
    feedback_summary_query const& query) {
    std::string const since = query.since ? fhir::format_instant(*query.since) : std::string{};
    std::string const until = query.until ? fhir::format_instant(*query.until) : std::string{};
    rule_feedback_rows report;
    // Each query's rows, one at a time, to `add` (a rule_feedback_rows member).
    auto const fold = [&report](result const& r, void (rule_feedback_rows::*add)(row_of const&)) {
        for (int row = 0; row < r.rows(); ++row) (report.*add)(row_of{r, row});
    };
    std::lock_guard const lock{mutex_};
    in_snapshot([&] {
        auto const issued = rows(
            "SELECT rule_id, rule_set_id, rule_set_version, count(*) FILTER (WHERE "
            "suppressed_by IS NULL), count(*) FILTER (WHERE suppressed_by IS NOT NULL) FROM "
            "card_ledger WHERE " CDS_IN_RANGE("issued_at") " GROUP BY 1, 2, 3",
            since, until);
        fold(issued, &rule_feedback_rows::add_issued<row_of>);
        // Suggestions taken: accepted uuids that are suggestions of the card named.
        auto const outcomes = rows(
            "SELECT l.rule_id, l.rule_set_id, l.rule_set_version, f.outcome, count(*), "
            "sum((SELECT count(*) FROM feedback_accepted_suggestion s JOIN card_ledger_suggestion "
            "c ON c.card_uuid = l.card_uuid AND c.suggestion_uuid = s.suggestion_uuid WHERE "
            "s.feedback_id = f.id)) "
            "FROM feedback f JOIN card_ledger l ON l.card_uuid = f.card_uuid "
            "WHERE " CDS_IN_RANGE("f.received_at") " GROUP BY 1, 2, 3, 4",
            since, until);
        fold(outcomes, &rule_feedback_rows::add_outcome<row_of>);
        auto const reasons = rows(
            "SELECT l.rule_id, l.rule_set_id, l.rule_set_version, f.override_reason_system, "
            "f.override_reason_code, max(f.override_reason_display), count(*) "
            "FROM feedback f JOIN card_ledger l ON l.card_uuid = f.card_uuid "
            "WHERE f.outcome = 'overridden' AND (f.override_reason_system IS NOT NULL OR "
            "f.override_reason_code IS NOT NULL) AND " CDS_IN_RANGE("f.received_at") " "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 7 DESC, 4 NULLS FIRST, 5 NULLS FIRST",
            since, until);
        fold(reasons, &rule_feedback_rows::add_override_reason<row_of>);
        auto const totals = rows(
            "SELECT f.outcome, count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM "
            "card_ledger l WHERE l.card_uuid = f.card_uuid)) "
            "FROM feedback f WHERE " CDS_IN_RANGE("f.received_at") " GROUP BY 1",
            since, until);
        fold(totals, &rule_feedback_rows::add_total<row_of>);
    });
    return std::move(report).finish(query);
}

#undef CDS_IN_RANGE

}  // namespace

bool is_postgres_url(std::string_view target) {
    return target.starts_with("postgresql://") || target.starts_with("postgres://");
}

std::shared_ptr<feedback_store> open_postgres_feedback_store(
    std::string const& url, rule_set_identity rules, postgres_feedback_store_options options) {
    return std::make_shared<postgres_feedback_store>(url, std::move(rules), std::move(options));
}

}  // namespace cds::service
