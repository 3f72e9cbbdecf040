// The SQLite feedback store: one connection, guarded by one mutex, WAL with synchronous=FULL,
// one IMMEDIATE transaction per feedback call, a lock wait bounded per call. See
// feedback_store.hpp for what is stored.

#include "cds/service/feedback/feedback_store.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <boost/json.hpp>
#include <boost/program_options/value_semantic.hpp>

#include "cds/service/ops/duration.hpp"
#include "rule_feedback_rows.hpp"

namespace cds::service {

namespace {

// Migrations, applied in order inside one transaction each; a version is never edited once
// released, a change is a new version. Plain SQL types (TEXT, INTEGER) so that the PostgreSQL
// store can keep the same tables and columns.
struct migration {
    int version;
    char const* sql;
};

constexpr migration migrations[] = {
    {1, R"sql(
CREATE TABLE feedback (
    id                      INTEGER PRIMARY KEY,
    received_at             TEXT NOT NULL,
    service_id              TEXT NOT NULL,
    card_uuid               TEXT NOT NULL,
    outcome                 TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    outcome_timestamp       TEXT NOT NULL,
    override_reason_system  TEXT,
    override_reason_code    TEXT,
    override_reason_display TEXT,
    has_user_comment        INTEGER NOT NULL CHECK (has_user_comment IN (0, 1)),
    rule_set_id             TEXT NOT NULL,
    rule_set_version        TEXT NOT NULL
);
CREATE INDEX feedback_by_received_at ON feedback (received_at);
CREATE INDEX feedback_by_card ON feedback (card_uuid);
CREATE TABLE feedback_accepted_suggestion (
    feedback_id     INTEGER NOT NULL REFERENCES feedback (id),
    suggestion_uuid TEXT NOT NULL,
    PRIMARY KEY (feedback_id, suggestion_uuid)
) WITHOUT ROWID;
)sql"},
    // The card ledger (card_ledger.hpp). patient_key and evidence_key stay NULL until snoozing
    // fills them. card_in_ledger: whether the feedback's card was in the ledger when the
    // feedback was stored; NULL for feedback stored before the ledger existed.
    {2, R"sql(
CREATE TABLE card_ledger (
    card_uuid        TEXT PRIMARY KEY,
    issued_at        TEXT NOT NULL,
    service_id       TEXT NOT NULL,
    hook             TEXT NOT NULL,
    rule_id          TEXT,
    rule_set_id      TEXT NOT NULL,
    rule_set_version TEXT NOT NULL,
    indicator        TEXT,
    client_iss       TEXT,
    patient_key      TEXT,
    evidence_key     TEXT
) WITHOUT ROWID;
CREATE INDEX card_ledger_by_issued_at ON card_ledger (issued_at);
CREATE TABLE card_ledger_suggestion (
    card_uuid       TEXT NOT NULL REFERENCES card_ledger (card_uuid),
    suggestion_uuid TEXT NOT NULL,
    PRIMARY KEY (card_uuid, suggestion_uuid)
) WITHOUT ROWID;
ALTER TABLE feedback ADD COLUMN card_in_ledger INTEGER CHECK (card_in_ledger IN (0, 1));
)sql"},
    // Snoozing (snooze.hpp): cards evaluated but not shown are kept with the uuid of the
    // overridden card they follow; overrides are looked up by patient key; the snooze key is
    // kept here when none is configured, so that every replica sharing the store uses one.
    {3, R"sql(
ALTER TABLE card_ledger ADD COLUMN suppressed_by TEXT;
CREATE INDEX card_ledger_by_patient_key ON card_ledger (patient_key)
    WHERE patient_key IS NOT NULL;
CREATE TABLE shared_secret (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
)sql"},
};
static_assert(std::size(migrations) > 0 &&
              migrations[std::size(migrations) - 1].version == feedback_schema_version);

// received_at is a FHIR instant in UTC with milliseconds ("2026-03-10T09:00:00.000Z"): fixed
// width, so text order is time order and range queries compare strings.
std::string stored_time(std::chrono::system_clock::time_point at) {
    return fhir::format_instant(std::chrono::time_point_cast<std::chrono::milliseconds>(at));
}

struct close_connection {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct finalize_statement {
    void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using connection_handle = std::unique_ptr<sqlite3, close_connection>;
using statement_handle = std::unique_ptr<sqlite3_stmt, finalize_statement>;

// Steps a statement that returns no rows and resets it (bindings stay until rebound).
int run(sqlite3_stmt* stmt) {
    int const rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
}

// Text is bound without copying (SQLITE_STATIC): every statement is reset before the string
// it was bound to goes away. Empty means absent: bound as NULL.
void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
    if (text.empty()) {
        sqlite3_bind_null(stmt, index);
    } else {
        sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    }
}

std::string column_text(sqlite3_stmt* stmt, int column) {
    auto const* text = sqlite3_column_text(stmt, column);
    if (text == nullptr) return {};
    return std::string{reinterpret_cast<char const*>(text),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

// The current row of a stepped statement, as rule_feedback_rows reads rows.
struct statement_row {
    sqlite3_stmt* stmt;
    std::string text(int column) const { return column_text(stmt, column); }
    std::int64_t int64(int column) const { return sqlite3_column_int64(stmt, column); }
};

// A time stored by stored_time; the epoch for text that is not one (never written by us).
std::chrono::system_clock::time_point column_time(sqlite3_stmt* stmt, int column) {
    auto const parsed = fhir::parse_date_time(column_text(stmt, column));
    if (!parsed.value) return {};
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(parsed.value->start);
}

// SQLite's busy handler: called while another connection holds the lock SQLite needs;
// returns nonzero to try again. Waits in short steps so that a lock released early is taken
// early, and gives up at the time `give_up_at` points to (the current call's bound).
int wait_for_lock(void* give_up_at, int attempts) {
    auto const until = *static_cast<std::chrono::steady_clock::time_point const*>(give_up_at);
    auto const now = std::chrono::steady_clock::now();
    if (now >= until) return 0;
    constexpr std::chrono::milliseconds steps[] = {
        std::chrono::milliseconds{1}, std::chrono::milliseconds{2}, std::chrono::milliseconds{5},
        std::chrono::milliseconds{10}};
    auto const step =
        steps[std::min<std::size_t>(static_cast<std::size_t>(attempts), std::size(steps) - 1)];
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(step, until - now));
    return 1;
}

class sqlite_feedback_store final : public feedback_store {
public:
    sqlite_feedback_store(std::string path,
                          rule_set_identity rules,
                          sqlite_feedback_store_options options)
        : path_{std::move(path)},
          rules_{std::move(rules)},
          clock_{std::move(options.clock)},
          busy_timeout_{options.busy_timeout} {
        if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
        if (!options.create_if_missing && !std::filesystem::exists(path_))
            fail("the file does not exist");

        sqlite3* raw = nullptr;
        // NOMUTEX: this object serializes every use of the connection itself (mutex_).
        int const flags = SQLITE_OPEN_READWRITE |
                          (options.create_if_missing ? SQLITE_OPEN_CREATE : 0) |
                          SQLITE_OPEN_NOMUTEX;
        int const rc = sqlite3_open_v2(path_.c_str(), &raw, flags, nullptr);
        db_.reset(raw);
        if (rc != SQLITE_OK) fail(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
        sqlite3_extended_result_codes(db_.get(), 1);
        give_up_at_ = std::chrono::steady_clock::now() + busy_timeout_;
        sqlite3_busy_handler(db_.get(), &wait_for_lock, &give_up_at_);

        // The first statement reads the file: a file that is not a database fails here.
        // WAL: a commit appends to the log and needs one fsync of it, readers (reports) never
        // block the writer. synchronous=FULL: the log is fsynced at every commit, so a
        // committed call survives power loss as well as a crash (NORMAL would only survive a
        // crash of the process); the 200 is sent after that commit.
        if (query_text("PRAGMA journal_mode=WAL") != "wal")
            fail("the database cannot use write-ahead logging");
        execute("PRAGMA synchronous=FULL");
        execute("PRAGMA foreign_keys=ON");
        migrate();
        if (options.must_be_writable) check_writable();

        begin_ = prepare("BEGIN IMMEDIATE");
        commit_ = prepare("COMMIT");
        rollback_ = prepare("ROLLBACK");
        insert_feedback_ = prepare(
            "INSERT INTO feedback (received_at, service_id, card_uuid, outcome, outcome_timestamp, "
            "override_reason_system, override_reason_code, override_reason_display, "
            "has_user_comment, "
            "rule_set_id, rule_set_version, card_in_ledger) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
            "?8, ?9, ?10, ?11, "
            "EXISTS (SELECT 1 FROM card_ledger WHERE card_uuid = ?3))");
        // A suggestion uuid repeated within one entry is one accepted suggestion.
        insert_suggestion_ = prepare(
            "INSERT OR IGNORE INTO feedback_accepted_suggestion (feedback_id, suggestion_uuid) "
            "VALUES (?1, ?2)");
        summarize_ = prepare(
            "SELECT f.service_id, f.rule_set_id, f.rule_set_version, f.outcome, "
            "f.override_reason_system, "
            "f.override_reason_code, max(f.override_reason_display), count(*), "
            "sum(f.has_user_comment), "
            "sum((SELECT count(*) FROM feedback_accepted_suggestion s WHERE s.feedback_id = f.id)) "
            "FROM feedback f WHERE (?1 IS NULL OR f.received_at >= ?1) AND (?2 IS NULL OR "
            "f.received_at < ?2) "
            "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6");
        insert_card_ = prepare(
            "INSERT OR IGNORE INTO card_ledger (card_uuid, issued_at, service_id, hook, rule_id, "
            "rule_set_id, rule_set_version, indicator, client_iss, patient_key, evidence_key, "
            "suppressed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
        open_reader();
        insert_card_suggestion_ = prepare(
            "INSERT OR IGNORE INTO card_ledger_suggestion (card_uuid, suggestion_uuid) VALUES (?1, "
            "?2)");
    }

    sqlite_feedback_store(sqlite_feedback_store const&) = delete;
    sqlite_feedback_store& operator=(sqlite_feedback_store const&) = delete;

    store_outcome record(std::string_view service_id,
                         std::vector<feedback_entry> const& entries,
                         std::chrono::steady_clock::time_point give_up_at) override {
        if (entries.empty()) return store_outcome::stored;
        std::string const received_at = stored_time(clock_());
        std::lock_guard const lock{mutex_};
        int const rc = in_transaction(give_up_at,
                                      [&] { return insert_all(received_at, service_id, entries); });
        if (rc == SQLITE_DONE) return store_outcome::stored;
        // Only codes and SQLite's message (which names constraints, never values) are logged.
        spdlog::error(
            "feedback store: {} feedback entries for service {} were not stored (answered 503): {} "
            "(SQLite code {})",
            entries.size(), service_id, last_error_, rc);
        return (rc & 0xFF) == SQLITE_BUSY ? store_outcome::busy : store_outcome::failed;
    }

    store_outcome record_cards(std::vector<ledger_card> const& cards,
                               std::chrono::steady_clock::time_point give_up_at) override {
        if (cards.empty()) return store_outcome::stored;
        std::lock_guard const lock{mutex_};
        int const rc = in_transaction(give_up_at, [&] { return insert_cards(cards); });
        if (rc == SQLITE_DONE) return store_outcome::stored;
        spdlog::warn("card ledger: {} cards were not recorded: {} (SQLite code {})", cards.size(),
                     last_error_, rc);
        return (rc & 0xFF) == SQLITE_BUSY ? store_outcome::busy : store_outcome::failed;
    }

    bool record(std::string_view service_id, std::vector<feedback_entry> const& entries) override {
        return record(service_id, entries, std::chrono::steady_clock::now() + busy_timeout_) ==
               store_outcome::stored;
    }

    feedback_summary summarize(feedback_summary_query const& query) override {
        feedback_summary out;
        out.range = query;
        // Formatted from the millisecond instant itself: system_clock's nanoseconds end in 2262.
        std::string const since = query.since ? fhir::format_instant(*query.since) : std::string{};
        std::string const until = query.until ? fhir::format_instant(*query.until) : std::string{};
        std::lock_guard const lock{mutex_};
        give_up_at_ = std::chrono::steady_clock::now() + busy_timeout_;
        sqlite3_stmt* stmt = summarize_.get();
        bind_text(stmt, 1, since);
        bind_text(stmt, 2, until);
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            feedback_count count;
            count.service_id = column_text(stmt, 0);
            count.rule_set = {column_text(stmt, 1), column_text(stmt, 2)};
            count.outcome = column_text(stmt, 3);
            if (sqlite3_column_type(stmt, 4) != SQLITE_NULL ||
                sqlite3_column_type(stmt, 5) != SQLITE_NULL) {
                count.override_reason =
                    fhir::coding{column_text(stmt, 4), column_text(stmt, 5), column_text(stmt, 6)};
            }
            count.entries = sqlite3_column_int64(stmt, 7);
            count.with_user_comment = sqlite3_column_int64(stmt, 8);
            count.accepted_suggestions = sqlite3_column_int64(stmt, 9);
            out.total_entries += count.entries;
            out.counts.push_back(std::move(count));
        }
        sqlite3_reset(stmt);
        if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_.get()));
        return out;
    }

    rule_feedback_report summarize_by_rule(feedback_summary_query const& query) override;

    std::optional<std::vector<card_override>> overrides_since(
        std::string_view patient_key,
        std::chrono::system_clock::time_point since,
        std::chrono::steady_clock::time_point give_up_at) override {
        std::string const since_text = stored_time(since);
        std::lock_guard const lock{reader_mutex_};
        reader_give_up_at_ = give_up_at;
        sqlite3_stmt* stmt = select_overrides_.get();
        bind_text(stmt, 1, patient_key);
        bind_text(stmt, 2, since_text);
        std::vector<card_override> out;
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            card_override found;
            found.card_uuid = column_text(stmt, 0);
            found.rule_id = column_text(stmt, 1);
            found.evidence_key = column_text(stmt, 2);
            found.overridden_at = column_time(stmt, 3);
            if (sqlite3_column_type(stmt, 4) != SQLITE_NULL ||
                sqlite3_column_type(stmt, 5) != SQLITE_NULL) {
                found.reason =
                    fhir::coding{column_text(stmt, 4), column_text(stmt, 5), column_text(stmt, 6)};
            }
            out.push_back(std::move(found));
        }
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE) return out;
        spdlog::warn("snooze: overrides could not be read: {} (SQLite code {})",
                     sqlite3_errmsg(reader_.get()), rc);
        return std::nullopt;
    }

    std::string shared_secret(std::string_view name, std::string_view candidate) override {
        std::string const created_at = stored_time(clock_());
        std::lock_guard const lock{mutex_};
        auto insert = prepare(
            "INSERT OR IGNORE INTO shared_secret (name, value, created_at) VALUES (?1, ?2, ?3)");
        auto select = prepare("SELECT value FROM shared_secret WHERE name = ?1");
        std::string value;
        int const rc = in_transaction(std::chrono::steady_clock::now() + busy_timeout_, [&] {
            bind_text(insert.get(), 1, name);
            bind_text(insert.get(), 2, candidate);
            bind_text(insert.get(), 3, created_at);
            int step = run(insert.get());
            if (step != SQLITE_DONE) return step;
            bind_text(select.get(), 1, name);
            step = sqlite3_step(select.get());
            if (step == SQLITE_ROW) value = column_text(select.get(), 0);
            sqlite3_reset(select.get());
            return step == SQLITE_ROW ? SQLITE_DONE : step;
        });
        if (rc != SQLITE_DONE || value.empty())
            fail("the shared secret cannot be stored: " + last_error_);
        return value;
    }

private:
    // The second connection, for snooze lookups on the hook path: in WAL mode it reads
    // while the first one writes, so a lookup never waits behind a feedback transaction.
    void open_reader() {
        sqlite3* raw = nullptr;
        int const rc = sqlite3_open_v2(path_.c_str(), &raw,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
        reader_.reset(raw);
        if (rc != SQLITE_OK) fail(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
        sqlite3_extended_result_codes(reader_.get(), 1);
        sqlite3_busy_handler(reader_.get(), &wait_for_lock, &reader_give_up_at_);
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v3(
                reader_.get(),
                "SELECT l.card_uuid, l.rule_id, l.evidence_key, f.received_at, "
                "f.override_reason_system, f.override_reason_code, f.override_reason_display "
                "FROM card_ledger l JOIN feedback f ON f.card_uuid = l.card_uuid "
                "WHERE l.patient_key = ?1 AND f.outcome = 'overridden' AND f.received_at >= ?2 "
                "ORDER BY f.received_at DESC, f.id DESC",
                -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
            fail(sqlite3_errmsg(reader_.get()));
        }
        select_overrides_.reset(stmt);
    }

    // Runs `insert` (returning SQLITE_DONE or the first failing code) in one IMMEDIATE
    // transaction that waits for the lock until `give_up_at`; on failure nothing of it stays
    // and last_error_ holds SQLite's message. Called with mutex_ held.
    template <class Insert>
    int in_transaction(std::chrono::steady_clock::time_point give_up_at, Insert const& insert) {
        give_up_at_ = give_up_at;
        int rc = run(begin_.get());
        if (rc == SQLITE_DONE) rc = insert();
        if (rc == SQLITE_DONE) rc = run(commit_.get());
        if (rc == SQLITE_DONE) return rc;
        last_error_ = sqlite3_errmsg(db_.get());
        // COMMIT can fail and leave the transaction open (e.g. busy); some errors roll back by
        // themselves. Either way nothing of this call stays.
        if (sqlite3_get_autocommit(db_.get()) == 0) run(rollback_.get());
        return rc;
    }

    // Start-up (serve): a file SQLite could only open read-only (permissions, an immutable
    // file, a read-only mount) would otherwise be found out by the first feedback call. The
    // probe commits a real write (the header's user_version, rewritten unchanged) so that a
    // write-ahead log that cannot be written fails here too.
    void check_writable() {
        if (sqlite3_db_readonly(db_.get(), "main") == 1) {
            fail(
                "the file is read-only to this process; serve needs to write it (check its "
                "permissions, "
                "attributes and mount)");
        }
        std::string const user_version = query_text("PRAGMA user_version");
        if (sqlite3_exec(db_.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
            // Another connection holds the write lock: the file is writable, just busy now.
            if ((sqlite3_extended_errcode(db_.get()) & 0xFF) == SQLITE_BUSY) return;
            fail(std::string{"cannot be written: "} + sqlite3_errmsg(db_.get()));
        }
        std::string const rewrite =
            "PRAGMA user_version = " + std::to_string(std::stoll(user_version));
        if (sqlite3_exec(db_.get(), rewrite.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK ||
            sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
            std::string const reason = sqlite3_errmsg(db_.get());
            if (sqlite3_get_autocommit(db_.get()) == 0)
                sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
            fail("cannot be written: " + reason);
        }
    }

    // Inside the open transaction; returns SQLITE_DONE or the first failing code.
    int insert_all(std::string const& received_at,
                   std::string_view service_id,
                   std::vector<feedback_entry> const& entries) {
        sqlite3_stmt* insert = insert_feedback_.get();
        sqlite3_stmt* suggestion = insert_suggestion_.get();
        for (auto const& entry : entries) {
            static fhir::coding const no_reason;
            fhir::coding const& reason = entry.override_reason ? *entry.override_reason : no_reason;
            bind_text(insert, 1, received_at);
            bind_text(insert, 2, service_id);
            bind_text(insert, 3, entry.card);
            bind_text(insert, 4, entry.outcome);
            bind_text(insert, 5, entry.outcome_timestamp);
            bind_text(insert, 6, reason.system);
            bind_text(insert, 7, reason.code);
            bind_text(insert, 8, reason.display);
            sqlite3_bind_int(insert, 9, entry.override_comment.empty() ? 0 : 1);
            rule_set_identity const& rules = entry.rule_set.id.empty() ? rules_ : entry.rule_set;
            bind_text(insert, 10, rules.id);
            bind_text(insert, 11, rules.version);
            int rc = run(insert);
            if (rc != SQLITE_DONE) return rc;
            sqlite3_int64 const feedback_id = sqlite3_last_insert_rowid(db_.get());
            for (auto const& uuid : entry.accepted_suggestions) {
                sqlite3_bind_int64(suggestion, 1, feedback_id);
                bind_text(suggestion, 2, uuid);
                rc = run(suggestion);
                if (rc != SQLITE_DONE) return rc;
            }
        }
        return SQLITE_DONE;
    }

    // Inside the open transaction; returns SQLITE_DONE or the first failing code.
    int insert_cards(std::vector<ledger_card> const& cards) {
        sqlite3_stmt* insert = insert_card_.get();
        sqlite3_stmt* suggestion = insert_card_suggestion_.get();
        for (auto const& card : cards) {
            std::string const issued_at = stored_time(card.issued_at);
            bind_text(insert, 1, card.card_uuid);
            bind_text(insert, 2, issued_at);
            bind_text(insert, 3, card.service_id);
            bind_text(insert, 4, card.hook);
            bind_text(insert, 5, card.rule_id);
            bind_text(insert, 6, card.rule_set_id);
            bind_text(insert, 7, card.rule_set_version);
            bind_text(insert, 8, card.indicator);
            bind_text(insert, 9, card.client_iss);
            bind_text(insert, 10, card.patient_key);
            bind_text(insert, 11, card.evidence_key);
            bind_text(insert, 12, card.suppressed_by);
            int rc = run(insert);
            if (rc != SQLITE_DONE) return rc;
            for (auto const& uuid : card.suggestion_uuids) {
                bind_text(suggestion, 1, card.card_uuid);
                bind_text(suggestion, 2, uuid);
                rc = run(suggestion);
                if (rc != SQLITE_DONE) return rc;
            }
        }
        return SQLITE_DONE;
    }

    // Applies the migrations the file lacks. The version is read first without a write lock,
    // so opening an up-to-date database (e.g. for a report beside a running server) writes
    // nothing; migrating takes the write lock and reads the version again under it.
    void migrate() {
        int current = schema_version();
        if (current == feedback_schema_version) return;
        execute("BEGIN IMMEDIATE");
        try {
            execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                "applied_at TEXT NOT NULL)");
            current = schema_version();
            if (current > feedback_schema_version) {
                fail("its schema version " + std::to_string(current) +
                     " is newer than this build's (" + std::to_string(feedback_schema_version) +
                     ")");
            }
            for (auto const& m : migrations) {
                if (m.version <= current) continue;
                execute(m.sql);
                auto insert =
                    prepare("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)");
                std::string const applied_at = stored_time(clock_());
                sqlite3_bind_int(insert.get(), 1, m.version);
                bind_text(insert.get(), 2, applied_at);
                if (run(insert.get()) != SQLITE_DONE) fail(sqlite3_errmsg(db_.get()));
            }
            execute("COMMIT");
        } catch (...) {
            if (sqlite3_get_autocommit(db_.get()) == 0)
                sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    // 0 for a database without the schema_version table (new, or not ours yet).
    int schema_version() {
        if (query_text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                       "'schema_version'") == "0") {
            return 0;
        }
        std::string const version =
            query_text("SELECT coalesce(max(version), 0) FROM schema_version");
        return std::stoi(version);
    }

    // Steps a query with ?1 = since and ?2 = until (empty: no bound), calling `row` per row.
    template <class Row>
    void for_each_row(char const* sql,
                      std::string const& since,
                      std::string const& until,
                      Row const& row) {
        auto stmt = prepare(sql);
        bind_text(stmt.get(), 1, since);
        bind_text(stmt.get(), 2, until);
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) row(stmt.get());
        if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_.get()));
    }

    statement_handle prepare(char const* sql) {
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
            SQLITE_OK) {
            fail(sqlite3_errmsg(db_.get()));
        }
        return statement_handle{raw};
    }

    void execute(char const* sql) {
        if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(sqlite3_errmsg(db_.get()));
    }

    // The first column of the first row as text ("" when there is no row or it is NULL).
    std::string query_text(char const* sql) {
        auto stmt = prepare(sql);
        int const rc = sqlite3_step(stmt.get());
        if (rc == SQLITE_ROW) return column_text(stmt.get(), 0);
        if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_.get()));
        return {};
    }

    [[noreturn]] void fail(std::string const& reason) const {
        throw std::runtime_error("feedback database " + path_ + ": " + reason);
    }

    std::string path_;
    rule_set_identity rules_;
    std::function<std::chrono::system_clock::time_point()> clock_;
    std::chrono::milliseconds busy_timeout_;
    // When the statement under way stops waiting for another connection's lock; guarded by
    // mutex_ (set by each call before its first statement, read by wait_for_lock).
    std::chrono::steady_clock::time_point give_up_at_;
    std::string last_error_;  // guarded by mutex_: SQLite's message for the last failed transaction
    // Guards db_ and every prepared statement below: a connection and its statements are used
    // by one thread at a time (the connection is opened NOMUTEX). It also serializes the
    // feedback transactions, so they never contend for SQLite's write lock among themselves;
    // only another process (a report) can make a call wait (up to its give_up_at).
    std::mutex mutex_;
    // Declared before the statements so that it is closed after they are finalized.
    connection_handle db_;
    statement_handle begin_;
    statement_handle commit_;
    statement_handle rollback_;
    statement_handle insert_feedback_;
    statement_handle insert_suggestion_;
    statement_handle summarize_;
    statement_handle insert_card_;
    statement_handle insert_card_suggestion_;
    // The reader connection (open_reader) and its one statement, guarded by reader_mutex_.
    std::mutex reader_mutex_;
    std::chrono::steady_clock::time_point reader_give_up_at_;
    connection_handle reader_;
    statement_handle select_overrides_;
};

// The `WHERE` of every by-rule query: ?1 and ?2 bound the time column named in the query.
#define CDS_IN_RANGE(column) "(?1 IS NULL OR " column " >= ?1) AND (?2 IS NULL OR " column " < ?2)"

rule_feedback_report sqlite_feedback_store::summarize_by_rule(feedback_summary_query const& query) {
    std::string const since = query.since ? fhir::format_instant(*query.since) : std::string{};
    std::string const until = query.until ? fhir::format_instant(*query.until) : std::string{};
    rule_feedback_rows report;

    std::lock_guard const lock{mutex_};
    give_up_at_ = std::chrono::steady_clock::now() + busy_timeout_;
    // Every query runs in one read transaction, so that the numbers agree with each other
    // while the server keeps writing.
    execute("BEGIN");
    try {
        for_each_row(
            "SELECT rule_id, rule_set_id, rule_set_version, sum(suppressed_by IS NULL), "
            "sum(suppressed_by IS NOT NULL) FROM card_ledger "
            "WHERE " CDS_IN_RANGE("issued_at") " GROUP BY 1, 2, 3",
            since, until, [&](sqlite3_stmt* stmt) { report.add_issued(statement_row{stmt}); });
        // Suggestions taken: accepted uuids that are suggestions of the card named.
        for_each_row(
            "SELECT l.rule_id, l.rule_set_id, l.rule_set_version, f.outcome, count(*), "
            "sum((SELECT count(*) FROM feedback_accepted_suggestion s JOIN card_ledger_suggestion "
            "c "
            "ON c.card_uuid = l.card_uuid AND c.suggestion_uuid = s.suggestion_uuid WHERE "
            "s.feedback_id = f.id)) "
            "FROM feedback f JOIN card_ledger l ON l.card_uuid = f.card_uuid "
            "WHERE " CDS_IN_RANGE("f.received_at") " GROUP BY 1, 2, 3, 4",
            since, until, [&](sqlite3_stmt* stmt) { report.add_outcome(statement_row{stmt}); });
        for_each_row(
            "SELECT l.rule_id, l.rule_set_id, l.rule_set_version, f.override_reason_system, "
            "f.override_reason_code, max(f.override_reason_display), count(*) "
            "FROM feedback f JOIN card_ledger l ON l.card_uuid = f.card_uuid "
            "WHERE f.outcome = 'overridden' AND (f.override_reason_system IS NOT NULL OR "
            "f.override_reason_code IS NOT NULL) AND " CDS_IN_RANGE("f.received_at") " "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 7 DESC, 4, 5",
            since, until,
            [&](sqlite3_stmt* stmt) { report.add_override_reason(statement_row{stmt}); });
        for_each_row(
            "SELECT f.outcome, count(*), sum(NOT EXISTS (SELECT 1 FROM card_ledger l WHERE "
            "l.card_uuid = f.card_uuid)) "
            "FROM feedback f WHERE " CDS_IN_RANGE("f.received_at") " GROUP BY 1",
            since, until, [&](sqlite3_stmt* stmt) { report.add_total(statement_row{stmt}); });
        execute("COMMIT");
    } catch (...) {
        if (sqlite3_get_autocommit(db_.get()) == 0)
            sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return std::move(report).finish(query);
}

#undef CDS_IN_RANGE

boost::json::value optional_instant(std::optional<fhir::instant> const& at) {
    if (!at) return nullptr;
    return boost::json::string{fhir::format_instant(*at)};
}

}  // namespace

std::shared_ptr<feedback_store> open_sqlite_feedback_store(std::string const& path,
                                                           rule_set_identity rules,
                                                           sqlite_feedback_store_options options) {
    return std::make_shared<sqlite_feedback_store>(path, std::move(rules), std::move(options));
}

std::string render_feedback_summary(feedback_summary const& summary) {
    boost::json::array counts;
    for (auto const& c : summary.counts) {
        boost::json::object row{
            {"serviceId", c.service_id},
            {"ruleSet", {{"id", c.rule_set.id}, {"version", c.rule_set.version}}},
            {"outcome", c.outcome}};
        if (c.override_reason) {
            boost::json::object reason;
            if (!c.override_reason->system.empty()) reason["system"] = c.override_reason->system;
            if (!c.override_reason->code.empty()) reason["code"] = c.override_reason->code;
            if (!c.override_reason->display.empty()) reason["display"] = c.override_reason->display;
            row["overrideReason"] = std::move(reason);
        }
        row["entries"] = c.entries;
        row["withUserComment"] = c.with_user_comment;
        row["acceptedSuggestions"] = c.accepted_suggestions;
        counts.emplace_back(std::move(row));
    }
    boost::json::object out{{"since", optional_instant(summary.range.since)},
                            {"until", optional_instant(summary.range.until)},
                            {"totalEntries", summary.total_entries},
                            {"counts", std::move(counts)}};
    return boost::json::serialize(out);
}

void add_feedback_store_options(boost::program_options::options_description& description) {
    namespace po = boost::program_options;
    feedback_queue_options const defaults;
    description.add_options()(
        "feedback-db", po::value<std::string>()->value_name("FILE|URL"),
        "store CDS Hooks feedback in this SQLite file (created if absent, must be writable) or, "
        "for replicas sharing one store, the PostgreSQL database at this postgresql:// URL; each "
        "call is committed durably before its 200; without it feedback is validated and only "
        "counted in the log")(
        "feedback-queue",
        po::value<std::size_t>()->default_value(defaults.executor.max_queued)->value_name("N"),
        "feedback calls that may wait for the database; more are answered 503 at once")(
        "feedback-max-wait",
        po::value<ops::duration>()->default_value({defaults.max_wait})->value_name("DURATION"),
        "time a feedback call may wait for the database (queue and lock, e.g. held by a report) "
        "before it is answered 503 with Retry-After (0s to 1m)")(
        "ledger-queue",
        po::value<std::size_t>()->default_value(defaults.ledger_max_queued)->value_name("N"),
        "hook calls whose returned cards may wait to be written to the card ledger (with "
        "--feedback-db); "
        "beyond it they are dropped and counted (log, /readyz), never delaying a hook call");
    add_feedback_db_password_option(description);
}

feedback_queue_options feedback_queue_options_from(
    boost::program_options::variables_map const& vm) {
    feedback_queue_options options;
    if (vm.count("feedback-queue"))
        options.executor.max_queued = vm["feedback-queue"].as<std::size_t>();
    if (options.executor.max_queued == 0)
        throw std::invalid_argument("--feedback-queue must be positive");
    if (vm.count("ledger-queue")) options.ledger_max_queued = vm["ledger-queue"].as<std::size_t>();
    if (options.ledger_max_queued == 0)
        throw std::invalid_argument("--ledger-queue must be positive");
    if (vm.count("feedback-max-wait")) {
        // At most a minute: a store job must end well within the server's shutdown timeout.
        options.max_wait =
            ops::bounded_duration("feedback-max-wait", vm["feedback-max-wait"].as<ops::duration>(),
                                  std::chrono::milliseconds{0}, std::chrono::minutes{1});
    }
    return options;
}

}  // namespace cds::service
