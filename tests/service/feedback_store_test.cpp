// The feedback store suite, run against each back end: SQLite on a temporary file, and
// PostgreSQL when CDS_TEST_POSTGRES_URL names a server (tests/postgres/pg_cluster.py starts one
// and gives each test case a database of its own). What a row holds, one transaction per call,
// reopening, concurrent writers, migrations, start-up errors, the summaries, the card ledger,
// and the feedback endpoint answering 200/503 through the store. Rows are read back with a
// separate connection, as an analytics reader would.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <boost/json.hpp>

#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/feedback/card_ledger.hpp"
#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/feedback/snooze.hpp"
#include "cds/service/http/router.hpp"

namespace fs = std::filesystem;
using namespace cds::service;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device random;
        path = fs::temp_directory_path() /
               ("magnesium-cds-feedback-" + std::to_string(random()) + std::to_string(random()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    temp_dir(temp_dir const&) = delete;
    temp_dir& operator=(temp_dir const&) = delete;
    [[nodiscard]] std::string file(char const* name) const { return (path / name).string(); }
};

rule_set_identity const test_rules{"magnesium-test-rules", "7.1.0"};

// A clock the test moves by hand.
struct manual_clock {
    std::shared_ptr<std::atomic<std::int64_t>> ms =
        std::make_shared<std::atomic<std::int64_t>>(1'773'133'200'000);  // 2026-03-10T09:00:00Z
    sqlite_feedback_store_options options() const {
        sqlite_feedback_store_options o;
        o.clock = [counter = ms] {
            return std::chrono::system_clock::time_point{
                std::chrono::milliseconds{counter->load()}};
        };
        return o;
    }
    void advance(std::chrono::milliseconds by) const { *ms += by.count(); }
};

feedback_entry accepted(std::string card, std::vector<std::string> suggestions) {
    feedback_entry e;
    e.card = std::move(card);
    e.outcome = "accepted";
    e.accepted_suggestions = std::move(suggestions);
    e.outcome_timestamp = "2026-03-10T09:01:00Z";
    return e;
}

feedback_entry overridden(std::string card,
                          std::optional<cds::fhir::coding> reason,
                          std::string comment = {}) {
    feedback_entry e;
    e.card = std::move(card);
    e.outcome = "overridden";
    e.override_reason = std::move(reason);
    e.override_comment = std::move(comment);
    e.outcome_timestamp = "2026-03-10T09:02:00+01:00";
    return e;
}

// Which back end this run tests (pg_cluster.py sets the variable for the PostgreSQL run).
std::string postgres_admin_url() {
    char const* url = std::getenv("CDS_TEST_POSTGRES_URL");
    return url == nullptr ? std::string{} : std::string{url};
}
bool const testing_postgres = !postgres_admin_url().empty();

// One SQL connection to the store under test, for reading what the store wrote and for
// holding its write lock as another process would.
class reader {
public:
    explicit reader(std::string const& target) {
        if (cds::service::is_postgres_url(target)) {
            pg_ = PQconnectdb(target.c_str());
            REQUIRE(PQstatus(pg_) == CONNECTION_OK);
            return;
        }
        REQUIRE(sqlite3_open_v2(target.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
        sqlite3_busy_timeout(db_, 5000);
    }
    ~reader() {
        if (pg_ != nullptr) PQfinish(pg_);
        if (db_ != nullptr) sqlite3_close_v2(db_);
    }
    reader(reader const&) = delete;
    reader& operator=(reader const&) = delete;

    // Every row of a query, each column as text ("NULL" for NULL).
    std::vector<std::vector<std::string>> rows(char const* sql) const {
        if (pg_ != nullptr) return pg_rows(sql);
        sqlite3_stmt* stmt = nullptr;
        REQUIRE(sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) == SQLITE_OK);
        std::vector<std::vector<std::string>> out;
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            std::vector<std::string> row;
            for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
                auto const* text = sqlite3_column_text(stmt, i);
                row.emplace_back(text == nullptr ? "NULL" : reinterpret_cast<char const*>(text));
            }
            out.push_back(std::move(row));
        }
        sqlite3_finalize(stmt);
        return out;
    }
    std::string scalar(char const* sql) const {
        auto const r = rows(sql);
        REQUIRE(r.size() == 1);
        return r[0].at(0);
    }
    void exec(char const* sql) const {
        if (pg_ != nullptr) {
            PGresult* result = PQexec(pg_, sql);
            auto const status = PQresultStatus(result);
            PQclear(result);
            REQUIRE((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK));
            return;
        }
        REQUIRE(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
    }
    // Takes the lock a feedback or ledger write needs, as a report or another replica could.
    void hold_write_lock() const {
        if (pg_ != nullptr) {
            exec("BEGIN; LOCK TABLE feedback, card_ledger IN EXCLUSIVE MODE");
        } else {
            exec("BEGIN IMMEDIATE");
        }
    }

private:
    std::vector<std::vector<std::string>> pg_rows(char const* sql) const {
        PGresult* result = PQexec(pg_, sql);
        REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
        std::vector<std::vector<std::string>> out;
        for (int r = 0; r < PQntuples(result); ++r) {
            std::vector<std::string> row;
            for (int c = 0; c < PQnfields(result); ++c)
                row.emplace_back(PQgetisnull(result, r, c) ? "NULL" : PQgetvalue(result, r, c));
            out.push_back(std::move(row));
        }
        PQclear(result);
        return out;
    }

    sqlite3* db_ = nullptr;
    PGconn* pg_ = nullptr;
};

// The store of one test case: a SQLite file in a temporary directory, or a new PostgreSQL
// database (dropped afterwards) on the server pg_cluster.py started.
class test_store {
public:
    test_store() {
        if (!testing_postgres) {
            target_ = dir_.file("feedback.sqlite3");
            return;
        }
        std::random_device random;
        database_ = "cds_test_" + std::to_string(random()) + std::to_string(random());
        reader{postgres_admin_url()}.exec(("CREATE DATABASE " + database_).c_str());
        auto const admin = postgres_admin_url();
        target_ = admin.substr(0, admin.rfind('/') + 1) + database_;
    }
    ~test_store() {
        if (database_.empty()) return;
        PGconn* admin = PQconnectdb(postgres_admin_url().c_str());
        PQclear(PQexec(admin, ("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)").c_str()));
        PQfinish(admin);
    }
    test_store(test_store const&) = delete;
    test_store& operator=(test_store const&) = delete;

    // The file or URL serve's --feedback-db would name.
    [[nodiscard]] std::string const& target() const { return target_; }
    [[nodiscard]] temp_dir const& dir() const { return dir_; }

    // Opens the store; the options' busy timeout and clock apply to either back end.
    [[nodiscard]] std::shared_ptr<feedback_store> open(
        sqlite_feedback_store_options options = {}) const {
        if (!testing_postgres) return open_sqlite_feedback_store(target_, test_rules, options);
        postgres_feedback_store_options pg;
        pg.busy_timeout = options.busy_timeout;
        pg.clock = options.clock;
        return open_postgres_feedback_store(target_, test_rules, pg);
    }

private:
    temp_dir dir_;
    std::string target_;
    std::string database_;
};

// Sends spdlog's default logger to a string while alive, so a test can read the log lines.
class captured_log {
public:
    captured_log() : previous_{spdlog::default_logger()} {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", std::move(sink)));
    }
    ~captured_log() { spdlog::set_default_logger(previous_); }
    captured_log(captured_log const&) = delete;
    captured_log& operator=(captured_log const&) = delete;
    [[nodiscard]] std::string text() const { return text_.str(); }

private:
    std::ostringstream text_;
    std::shared_ptr<spdlog::logger> previous_;
};

std::string file_bytes(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

}  // namespace

TEST_CASE(
    "feedback store: each entry is a row with the rule set, reason and accepted suggestions") {
    test_store under_test;
    manual_clock clock;
    auto store = under_test.open(clock.options());

    std::vector<feedback_entry> entries;
    entries.push_back(accepted("card-a", {"sugg-1", "sugg-2"}));
    entries.push_back(overridden("card-b",
                                 cds::fhir::coding{"http://example.org/reasons", "r1", ""},
                                 "Patient Jane Roe declined magnesium"));
    REQUIRE(store->record("magnesium-order-sign", entries));

    reader db{under_test.target()};
    auto const rows = db.rows(
        "SELECT received_at, service_id, card_uuid, outcome, outcome_timestamp, "
        "override_reason_system, "
        "override_reason_code, override_reason_display, has_user_comment, rule_set_id, "
        "rule_set_version "
        "FROM feedback ORDER BY id");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0] == std::vector<std::string>{"2026-03-10T09:00:00.000Z", "magnesium-order-sign",
                                              "card-a", "accepted", "2026-03-10T09:01:00Z", "NULL",
                                              "NULL", "NULL", "0", "magnesium-test-rules",
                                              "7.1.0"});
    // The sandbox's override reason: system and code, no display (stored as NULL).
    CHECK(rows[1] == std::vector<std::string>{"2026-03-10T09:00:00.000Z", "magnesium-order-sign",
                                              "card-b", "overridden", "2026-03-10T09:02:00+01:00",
                                              "http://example.org/reasons", "r1", "NULL", "1",
                                              "magnesium-test-rules", "7.1.0"});
    auto const suggestions = db.rows(
        "SELECT f.card_uuid, s.suggestion_uuid FROM feedback_accepted_suggestion s JOIN feedback f "
        "ON f.id = s.feedback_id "
        "ORDER BY s.suggestion_uuid");
    CHECK(suggestions ==
          std::vector<std::vector<std::string>>{{"card-a", "sugg-1"}, {"card-a", "sugg-2"}});

    // The clinician's free text is counted, never stored: it is in neither the database nor its
    // log.
    if (testing_postgres) {
        CHECK(db.scalar("SELECT count(*) FROM feedback f WHERE f::text LIKE '%Jane Roe%'") == "0");
        CHECK(db.scalar("SHOW synchronous_commit") == "on");
    } else {
        auto const& path = under_test.target();
        CHECK(file_bytes(path).find("Jane Roe") == std::string::npos);
        CHECK(file_bytes(path + "-wal").find("Jane Roe") == std::string::npos);
        CHECK(db.scalar("PRAGMA journal_mode") == "wal");
    }
}

TEST_CASE("feedback store: a call is stored whole or not at all") {
    test_store under_test;
    auto store = under_test.open();

    // The second entry breaks the outcome constraint after the first was inserted.
    std::vector<feedback_entry> entries;
    entries.push_back(accepted("card-a", {"sugg-1"}));
    entries.push_back(accepted("card-b", {"sugg-2"}));
    entries.back().outcome = "ignored";
    {
        captured_log log;
        CHECK_FALSE(store->record("magnesium-order-sign", entries));
        // One error line saying what failed, without the feedback itself.
        CHECK(log.text().find(
                  "2 feedback entries for service magnesium-order-sign were not stored") !=
              std::string::npos);
        CHECK(log.text().find("card-") == std::string::npos);
        CHECK(log.text().find("sugg-") == std::string::npos);
    }

    reader db{under_test.target()};
    CHECK(db.scalar("SELECT count(*) FROM feedback") == "0");
    CHECK(db.scalar("SELECT count(*) FROM feedback_accepted_suggestion") == "0");

    // The connection is usable again after the rollback.
    CHECK(store->record("magnesium-order-sign", {accepted("card-c", {"sugg-3"})}));
    CHECK(db.scalar("SELECT card_uuid FROM feedback") == "card-c");
}

TEST_CASE("feedback store: a call that cannot get the write lock fails (503) and leaves nothing") {
    test_store under_test;
    auto options = sqlite_feedback_store_options{};
    options.busy_timeout = std::chrono::milliseconds{20};
    auto store = under_test.open(options);

    reader other{under_test.target()};
    other.hold_write_lock();
    {
        captured_log log;
        auto const started = std::chrono::steady_clock::now();
        CHECK(store->record("magnesium-order-sign", {accepted("card-a", {"sugg-1"})},
                            started + std::chrono::milliseconds{20}) == store_outcome::busy);
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds{1});
        CHECK(log.text().find(testing_postgres ? "lock timeout" : "database is locked") !=
              std::string::npos);
    }
    other.exec("ROLLBACK");

    CHECK(other.scalar("SELECT count(*) FROM feedback") == "0");
    CHECK(store->record("magnesium-order-sign", {accepted("card-b", {"sugg-1"})}));
    CHECK(other.scalar("SELECT card_uuid FROM feedback") == "card-b");
}

TEST_CASE("feedback store: a reopened store sees what was stored and the schema is migrated once") {
    test_store under_test;
    {
        auto store = under_test.open();
        CHECK(store->record("magnesium-patient-view",
                            {accepted("card-a", {"sugg-1"}), overridden("card-b", std::nullopt)}));
    }
    for (int open = 0; open < 3; ++open) {
        auto store = under_test.open();
        auto const summary = store->summarize({});
        CHECK(summary.total_entries == 2);
        REQUIRE(summary.counts.size() == 2);
        CHECK(summary.counts[0].outcome == "accepted");
        CHECK(summary.counts[1].outcome == "overridden");
    }
    reader db{under_test.target()};
    // Each version once, in order.
    std::vector<std::vector<std::string>> versions;
    for (int v = 1; v <= feedback_schema_version; ++v) versions.push_back({std::to_string(v)});
    CHECK(db.rows("SELECT version FROM schema_version ORDER BY version") == versions);
    CHECK(db.scalar(testing_postgres
                        ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                          "'public' AND table_name LIKE 'feedback%'"
                        : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE "
                          "'feedback%'") == "2");
}

TEST_CASE("feedback store: 8 threads x 200 calls lose no write") {
    test_store under_test;
    auto store = under_test.open();

    constexpr int threads = 8;
    constexpr int calls_per_thread = 200;
    std::atomic<int> refused{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < calls_per_thread; ++i) {
                std::string const call = std::to_string(t) + "-" + std::to_string(i);
                std::vector<feedback_entry> entries;
                entries.push_back(accepted("card-" + call + "-a", {"sugg-" + call}));
                entries.push_back(overridden("card-" + call + "-o",
                                             cds::fhir::coding{"urn:reasons", "busy", ""}));
                if (!store->record("magnesium-order-sign", std::move(entries))) ++refused;
            }
        });
    }
    for (auto& w : workers) w.join();
    CHECK(refused.load() == 0);

    reader db{under_test.target()};
    constexpr int calls = threads * calls_per_thread;
    CHECK(db.scalar("SELECT count(*) FROM feedback") == std::to_string(2 * calls));
    CHECK(db.scalar("SELECT count(DISTINCT card_uuid) FROM feedback") == std::to_string(2 * calls));
    CHECK(db.scalar("SELECT count(*) FROM feedback_accepted_suggestion") == std::to_string(calls));
    // Every suggestion belongs to its own call's accepted entry.
    CHECK(db.scalar("SELECT count(*) FROM feedback_accepted_suggestion s JOIN feedback f ON f.id = "
                    "s.feedback_id "
                    "WHERE f.outcome = 'accepted' AND 'card-' || substr(s.suggestion_uuid, 6) || "
                    "'-a' = f.card_uuid") == std::to_string(calls));
}

TEST_CASE("feedback store: start-up errors name the file and the reason" *
          doctest::skip(testing_postgres)) {
    temp_dir dir;
    auto const message_of = [](std::string const& path,
                               sqlite_feedback_store_options options = {}) {
        try {
            (void)open_sqlite_feedback_store(path, test_rules, std::move(options));
        } catch (std::runtime_error const& e) {
            return std::string{e.what()};
        }
        return std::string{"(opened)"};
    };

    auto const missing_dir = dir.file("no-such-dir") + "/feedback.sqlite3";
    auto const unopenable = message_of(missing_dir);
    CHECK(unopenable.find(missing_dir) != std::string::npos);
    CHECK(unopenable.find("unable to open") != std::string::npos);

    auto const text_file = dir.file("notes.txt");
    std::ofstream{text_file}
        << "these are not the rows you are looking for, but they are long enough to be a header\n";
    CHECK(message_of(text_file).find("not a database") != std::string::npos);

    sqlite_feedback_store_options existing_only;
    existing_only.create_if_missing = false;
    auto const absent = dir.file("absent.sqlite3");
    CHECK(message_of(absent, existing_only).find("does not exist") != std::string::npos);
    CHECK_FALSE(fs::exists(absent));

    auto const newer = dir.file("newer.sqlite3");
    (void)open_sqlite_feedback_store(newer, test_rules);
    reader{newer}.exec(
        "INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01T00:00:00.000Z')");
    CHECK(message_of(newer).find("schema version 99 is newer") != std::string::npos);
}

TEST_CASE(
    "feedback store: the summary counts by service, rule set, outcome and reason over a time "
    "range") {
    test_store under_test;
    manual_clock clock;
    auto store = under_test.open(clock.options());
    cds::fhir::coding const declined{"urn:reasons", "declined", "Patient declined"};

    CHECK(store->record("magnesium-order-sign",
                        {accepted("a1", {"s1", "s2"}), overridden("o1", declined, "text")}));
    clock.advance(std::chrono::hours{24});
    CHECK(store->record("magnesium-order-sign",
                        {overridden("o2", declined), overridden("o3", std::nullopt)}));
    CHECK(store->record("magnesium-patient-view", {accepted("a2", {"s3"})}));

    auto const all = store->summarize({});
    CHECK(all.total_entries == 5);
    REQUIRE(all.counts.size() == 4);
    // Ordered by service, rule set, outcome, then reason (no reason first).
    CHECK(all.counts[0].service_id == "magnesium-order-sign");
    CHECK(all.counts[0].outcome == "accepted");
    CHECK(all.counts[0].entries == 1);
    CHECK(all.counts[0].accepted_suggestions == 2);
    CHECK_FALSE(all.counts[1].override_reason.has_value());
    CHECK(all.counts[1].entries == 1);
    REQUIRE(all.counts[2].override_reason.has_value());
    CHECK(all.counts[2].override_reason->code == "declined");
    CHECK(all.counts[2].override_reason->display == "Patient declined");
    CHECK(all.counts[2].entries == 2);
    CHECK(all.counts[2].with_user_comment == 1);
    CHECK(all.counts[3].service_id == "magnesium-patient-view");
    CHECK(all.counts[3].rule_set.version == "7.1.0");

    // [since, until): the first day only, then the second day only.
    auto const day_one = cds::fhir::instant{std::chrono::milliseconds{1'773'133'200'000}};
    auto const first = store->summarize({std::nullopt, day_one + std::chrono::hours{1}});
    CHECK(first.total_entries == 2);
    auto const second = store->summarize({day_one + std::chrono::hours{1}, std::nullopt});
    CHECK(second.total_entries == 3);
    CHECK(store->summarize({day_one + std::chrono::hours{48}, std::nullopt}).counts.empty());
    // Beyond system_clock's nanosecond range (2262): still compared as a time.
    auto const year_3000 = cds::fhir::instant{std::chrono::milliseconds{32'503'680'000'000}};
    CHECK(store->summarize({year_3000, std::nullopt}).total_entries == 0);
    CHECK(store->summarize({std::nullopt, year_3000}).total_entries == 5);

    auto const json = boost::json::parse(render_feedback_summary(second)).as_object();
    CHECK(json.at("since").as_string() == "2026-03-10T10:00:00.000Z");
    CHECK(json.at("until").is_null());
    CHECK(json.at("totalEntries").as_int64() == 3);
    auto const& row = json.at("counts").as_array().at(1).as_object();
    CHECK(row.at("serviceId").as_string() == "magnesium-order-sign");
    CHECK(row.at("ruleSet").at("id").as_string() == "magnesium-test-rules");
    CHECK(row.at("outcome").as_string() == "overridden");
    CHECK(row.at("overrideReason").at("code").as_string() == "declined");
    CHECK(row.at("entries").as_int64() == 1);
}

TEST_CASE(
    "feedback endpoint with the store: 200 after the commit, 503 OperationOutcome when it fails") {
    test_store under_test;
    auto loaded = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
    REQUIRE(loaded.rules);
    auto state = make_service_state(loaded.rules);
    feedback_queue_options queue;
    queue.max_wait = std::chrono::milliseconds{20};
    auto store = under_test.open();
    state.feedback = make_queued_feedback_sink(store, queue);

    auto const post = [&](std::string body) {
        http_request r;
        r.method = "POST";
        r.target = "/cds-services/magnesium-order-sign/feedback";
        r.headers = {{"Content-Type", "application/json"}};
        r.body = std::move(body);
        return handle_request_blocking(std::move(r), state);
    };
    std::string const body = R"({"feedback":[{"card":"c1","outcome":"overridden",
        "overrideReason":{"reason":{"code":"r1","system":"http://example.org/reasons"}},
        "outcomeTimestamp":"2026-03-10T09:01:00Z"}]})";
    CHECK(post(body).status == 200);
    reader db{under_test.target()};
    CHECK(
        db.rows("SELECT service_id, override_reason_code, rule_set_id FROM feedback") ==
        std::vector<std::vector<std::string>>{{"magnesium-order-sign", "r1", loaded.rules->id()}});

    db.hold_write_lock();
    auto const refused = [&] {
        captured_log quiet;
        return post(body);
    }();
    db.exec("ROLLBACK");
    CHECK(refused.status == 503);
    CHECK(refused.header("Retry-After") == "1");
    auto const outcome = boost::json::parse(refused.body).as_object();
    CHECK(outcome.at("resourceType").as_string() == "OperationOutcome");
    CHECK(std::string{outcome.at("issue").at(0).at("diagnostics").as_string()}.find("locked") !=
          std::string::npos);
    CHECK(db.scalar("SELECT count(*) FROM feedback") == "1");

    // /readyz shows what the last call found, without becoming unready.
    http_request ready;
    ready.method = "GET";
    ready.target = "/readyz";
    auto const readiness = handle_request_blocking(std::move(ready), state);
    CHECK(readiness.status == 200);
    auto const health = boost::json::parse(readiness.body).at("feedbackStore");
    CHECK(health.at("status").as_string() == "busy");
    CHECK(health.at("queued").as_int64() == 0);
}

namespace {

// The schema the first released build created (migration 1, verbatim), with one feedback row.
constexpr char const* version_1_database = R"sql(
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
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
INSERT INTO schema_version VALUES (1, '2026-03-01T00:00:00.000Z');
INSERT INTO feedback VALUES (1, '2026-03-01T10:00:00.000Z', 'magnesium-order-sign', 'old-card', 'overridden',
    '2026-03-01T10:00:00Z', 'urn:reasons', 'declined', NULL, 0, 'magnesium-test-rules', '7.0.0');
)sql";

ledger_card issued(std::string uuid,
                   std::string rule_id,
                   std::string version,
                   std::vector<std::string> suggestions) {
    ledger_card card;
    card.card_uuid = std::move(uuid);
    card.service_id = "magnesium-order-sign";
    card.hook = "order-sign";
    card.rule_id = std::move(rule_id);
    card.rule_set_id = test_rules.id;
    card.rule_set_version = std::move(version);
    card.indicator = "warning";
    card.suggestion_uuids = std::move(suggestions);
    card.issued_at =
        std::chrono::system_clock::time_point{std::chrono::milliseconds{1'773'133'200'000}};
    return card;
}

// Waits (bounded) until `done` holds; false if it never did.
template <class Condition>
bool eventually(Condition const& done) {
    auto const until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    return true;
}

http_request feedback_request(std::string const& card) {
    http_request r;
    r.method = "POST";
    r.target = "/cds-services/magnesium-order-sign/feedback";
    r.headers = {{"Content-Type", "application/json"}};
    r.body = R"({"feedback":[{"card":")" + card +
             R"(","outcome":"overridden",)"
             R"("outcomeTimestamp":"2026-03-10T09:01:00Z"}]})";
    return r;
}

}  // namespace

TEST_CASE(
    "card ledger: a version 1 database is migrated, its feedback kept and reported as for unknown "
    "cards" *
    doctest::skip(testing_postgres)) {
    temp_dir dir;
    auto const path = dir.file("feedback.sqlite3");
    std::ofstream{path};  // an empty file is a new database to SQLite
    {
        reader old{path};
        old.exec("PRAGMA journal_mode=WAL");
        old.exec(version_1_database);
    }
    auto store = open_sqlite_feedback_store(path, test_rules);
    reader db{path};
    CHECK(db.rows("SELECT version FROM schema_version ORDER BY version") ==
          std::vector<std::vector<std::string>>{{"1"}, {"2"}, {"3"}});
    // Stored before the ledger existed: neither known nor unknown when it was stored.
    CHECK(db.rows("SELECT card_uuid, card_in_ledger FROM feedback") ==
          std::vector<std::vector<std::string>>{{"old-card", "NULL"}});
    CHECK(db.scalar("SELECT count(*) FROM card_ledger") == "0");
    CHECK(db.rows("SELECT name FROM pragma_table_info('card_ledger') WHERE name IN ('patient_key', "
                  "'evidence_key') "
                  "ORDER BY name") ==
          std::vector<std::vector<std::string>>{{"evidence_key"}, {"patient_key"}});

    REQUIRE(store->record_cards({issued("new-card", "severe-hypermagnesaemia", "7.1.0", {})},
                                std::chrono::steady_clock::now() + std::chrono::seconds{1}) ==
            store_outcome::stored);
    REQUIRE(store->record("magnesium-order-sign", {accepted("new-card", {})}));
    CHECK(db.scalar("SELECT card_in_ledger FROM feedback WHERE card_uuid = 'new-card'") == "1");
    auto const report = store->summarize_by_rule({});
    CHECK(report.total_entries == 2);
    CHECK(report.unknown_card_entries == 1);
    CHECK(report.unknown_card_overridden == 1);
    REQUIRE(report.rules.size() == 1);
    CHECK(report.rules[0].accepted == 1);
    // The default summary still reads the old row.
    CHECK(store->summarize({}).total_entries == 2);
}

TEST_CASE(
    "feedback-report by rule: issued, accepted, overridden, top reasons, suggestions taken, "
    "unknown cards") {
    test_store under_test;
    manual_clock clock;
    auto store = under_test.open(clock.options());
    auto const later = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    std::vector<ledger_card> cards{issued("a1", "rule-a", "7.1.0", {"a1-s1", "a1-s2"}),
                                   issued("a2", "rule-a", "7.1.0", {"a2-s1"}),
                                   issued("a3", "rule-a", "7.1.0", {}),
                                   issued("a4", "rule-a", "7.1.0", {}),
                                   issued("a5", "rule-a", "7.1.0", {}),
                                   issued("a6", "rule-a", "7.1.0", {}),
                                   issued("b1", "rule-b", "7.1.0", {}),
                                   issued("old", "rule-a", "7.0.0", {})};
    cards.back().client_iss = "https://ehr.example.org";
    REQUIRE(store->record_cards(cards, later) == store_outcome::stored);
    // A uuid already recorded is kept as it was.
    REQUIRE(store->record_cards({issued("a1", "rule-z", "9.9.9", {})}, later) ==
            store_outcome::stored);

    cds::fhir::coding const declined{"urn:reasons", "declined", "Patient declined"};
    cds::fhir::coding const already{"urn:reasons", "already-given", ""};
    cds::fhir::coding const other{"urn:reasons", "other", ""};
    cds::fhir::coding const rare{"urn:reasons", "rare", ""};
    // a1: one of its own suggestions and a uuid that is not one of its suggestions.
    REQUIRE(store->record("magnesium-order-sign",
                          {accepted("a1", {"a1-s1", "not-a1s"}), accepted("a2", {"a2-s1"})}));
    REQUIRE(store->record(
        "magnesium-order-sign",
        {overridden("a3", declined), overridden("a4", declined), overridden("a5", already),
         overridden("a6", other), overridden("a6", rare), overridden("old", std::nullopt)}));
    REQUIRE(store->record("magnesium-order-sign",
                          {accepted("never-issued", {"x"}), overridden("gone", declined)}));

    auto const report = store->summarize_by_rule({});
    CHECK(report.total_entries == 10);
    CHECK(report.unknown_card_entries == 2);
    CHECK(report.unknown_card_accepted == 1);
    CHECK(report.unknown_card_overridden == 1);
    REQUIRE(report.rules.size() == 3);
    auto const& a = report.rules[0];
    CHECK(a.rule_id == "rule-a");
    CHECK(a.rule_set.version == "7.0.0");
    CHECK(a.cards_issued == 1);
    CHECK(a.overridden == 1);
    CHECK(a.top_override_reasons.empty());
    auto const& a71 = report.rules[1];
    CHECK(a71.rule_set.version == "7.1.0");
    CHECK(a71.cards_issued == 6);
    CHECK(a71.accepted == 2);
    CHECK(a71.overridden == 5);
    CHECK(a71.suggestions_taken == 2);
    REQUIRE(a71.top_override_reasons.size() == max_top_override_reasons);
    CHECK(a71.top_override_reasons[0].reason.code == "declined");
    CHECK(a71.top_override_reasons[0].reason.display == "Patient declined");
    CHECK(a71.top_override_reasons[0].entries == 2);
    CHECK(a71.top_override_reasons[1].reason.code == "already-given");
    CHECK(a71.top_override_reasons[2].reason.code == "other");
    auto const& b = report.rules[2];
    CHECK(b.rule_id == "rule-b");
    CHECK(b.cards_issued == 1);
    CHECK(b.accepted + b.overridden == 0);

    auto const json = boost::json::parse(render_rule_feedback_json(report)).as_object();
    CHECK(json.at("by").as_string() == "rule");
    CHECK(json.at("totalEntries").as_int64() == 10);
    CHECK(json.at("unknownCards").at("entries").as_int64() == 2);
    auto const& row = json.at("rules").at(1).as_object();
    CHECK(row.at("ruleId").as_string() == "rule-a");
    CHECK(row.at("ruleSet").at("version").as_string() == "7.1.0");
    CHECK(row.at("cardsIssued").as_int64() == 6);
    CHECK(row.at("acceptanceRate").as_double() == doctest::Approx(2.0 / 7.0));
    CHECK(row.at("topOverrideReasons").at(0).at("entries").as_int64() == 2);
    CHECK(row.at("suggestionsTaken").as_int64() == 2);
    CHECK(json.at("rules").at(2).at("acceptanceRate").is_null());

    auto const csv = render_rule_feedback_csv(report);
    CHECK(csv.find(
              "rule,rule-a,magnesium-test-rules,7.1.0,6,2,5,0.286,"
              "urn:reasons|declined=2 urn:reasons|already-given=1 urn:reasons|other=1,2,0\r\n") !=
          std::string::npos);
    CHECK(csv.find("unknown-card,,,,,1,1,,,,\r\n") != std::string::npos);
    auto const text = render_rule_feedback_text(report);
    CHECK(text.find("feedback entries: 10 (2 for cards not in the ledger") != std::string::npos);
    CHECK(text.find("acceptance rate     0.286") != std::string::npos);

    // Cards by issue time, feedback by receipt time: nothing after the day of issue.
    clock.advance(std::chrono::hours{24});
    auto const next_day =
        cds::fhir::instant{std::chrono::milliseconds{1'773'133'200'000}} + std::chrono::hours{1};
    auto const empty = store->summarize_by_rule({next_day, std::nullopt});
    CHECK(empty.rules.empty());
    CHECK(empty.total_entries == 0);
}

TEST_CASE(
    "card ledger: feedback queued behind ledger entries is stored after them, so it finds its "
    "card") {
    test_store under_test;
    auto loaded = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
    REQUIRE(loaded.rules);
    auto state = make_service_state(loaded.rules);
    feedback_queue_options queue;
    queue.max_wait = std::chrono::seconds{20};
    auto queued = make_queued_store(under_test.open(), queue);
    state.feedback = queued.feedback;
    state.ledger = queued.ledger;

    // Another connection holds the write lock: the writer is held by the first entry, and
    // what comes after it stays queued.
    reader db{under_test.target()};
    db.hold_write_lock();
    state.ledger->record({issued("first", "rule-a", "7.1.0", {})});
    REQUIRE(eventually([&] { return state.ledger->ledger_health().queued == 0; }));
    state.ledger->record({issued("returned", "rule-a", "7.1.0", {})});
    CHECK(state.ledger->ledger_health().queued == 1);
    http_response answer;
    std::thread client{
        [&] { answer = handle_request_blocking(feedback_request("returned"), state); }};
    bool const feedback_queued = eventually([&] { return state.feedback->health()->queued == 1; });
    CHECK(state.ledger->ledger_health().queued == 1);  // still queued when the feedback arrived
    db.exec("ROLLBACK");
    client.join();
    REQUIRE(feedback_queued);
    CHECK(answer.status == 200);
    CHECK(db.rows("SELECT card_uuid, card_in_ledger FROM feedback") ==
          std::vector<std::vector<std::string>>{{"returned", "1"}});
    CHECK(db.scalar("SELECT count(*) FROM card_ledger") == "2");
}

TEST_CASE("card ledger: a full queue drops and counts without holding the caller") {
    test_store under_test;
    auto loaded = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
    REQUIRE(loaded.rules);
    auto state = make_service_state(loaded.rules);
    feedback_queue_options queue;
    queue.max_wait = std::chrono::seconds{20};
    queue.ledger_max_queued = 2;
    auto queued = make_queued_store(under_test.open(), queue);
    state.feedback = queued.feedback;
    state.ledger = queued.ledger;

    reader db{under_test.target()};
    db.hold_write_lock();
    captured_log log;
    state.ledger->record({issued("running", "rule-a", "7.1.0", {})});
    REQUIRE(eventually([&] { return state.ledger->ledger_health().queued == 0; }));
    auto const started = std::chrono::steady_clock::now();
    for (int i = 0; i < 7; ++i)
        state.ledger->record({issued("card-" + std::to_string(i), "rule-a", "7.1.0", {})});
    auto const took = std::chrono::steady_clock::now() - started;
    CHECK(took < std::chrono::milliseconds{200});
    CHECK(state.ledger->ledger_health().queued == 2);
    CHECK(state.ledger->ledger_health().dropped == 5);
    // Logged at the 1st, 2nd and 4th drop.
    auto const text = log.text();
    CHECK(text.find("1 hook calls' cards dropped so far") != std::string::npos);
    CHECK(text.find("2 hook calls' cards dropped so far") != std::string::npos);
    CHECK(text.find("4 hook calls' cards dropped so far") != std::string::npos);
    CHECK(text.find("5 hook calls' cards dropped so far") == std::string::npos);
    CHECK(text.find("card-") == std::string::npos);

    http_request ready;
    ready.method = "GET";
    ready.target = "/readyz";
    auto const readiness =
        boost::json::parse(handle_request_blocking(std::move(ready), state).body);
    CHECK(readiness.at("cardLedger").at("dropped").as_int64() == 5);
    CHECK(readiness.at("cardLedger").at("queued").as_int64() == 2);

    db.exec("ROLLBACK");
    REQUIRE(eventually([&] { return state.ledger->ledger_health().queued == 0; }));
    // The queued entries are written once the lock is free: a feedback call after them finds them.
    CHECK(handle_request_blocking(feedback_request("card-1"), state).status == 200);
    CHECK(db.scalar("SELECT count(*) FROM card_ledger") == "3");
    CHECK(db.scalar("SELECT card_in_ledger FROM feedback") == "1");
}

namespace {

// Removes PGPASSWORD while alive, so that a test decides where the password comes from.
class without_pgpassword {
public:
    without_pgpassword() {
        if (char const* value = std::getenv("PGPASSWORD")) saved_ = value;
        ::unsetenv("PGPASSWORD");
    }
    ~without_pgpassword() {
        if (!saved_.empty()) ::setenv("PGPASSWORD", saved_.c_str(), 1);
    }
    without_pgpassword(without_pgpassword const&) = delete;
    without_pgpassword& operator=(without_pgpassword const&) = delete;
    [[nodiscard]] std::string const& password() const { return saved_; }

private:
    std::string saved_;
};

std::string open_error(std::string const& url, postgres_feedback_store_options options = {}) {
    try {
        (void)open_postgres_feedback_store(url, test_rules, std::move(options));
    } catch (std::runtime_error const& e) {
        return e.what();
    }
    return "(opened)";
}

}  // namespace

TEST_CASE("postgres store: a lost connection fails its call and the next call reconnects" *
          doctest::skip(!testing_postgres)) {
    test_store under_test;
    auto store = under_test.open();
    REQUIRE(store->record("magnesium-order-sign", {accepted("before", {})}));
    REQUIRE(store
                ->overrides_since("no-such-patient", std::chrono::system_clock::time_point{},
                                  std::chrono::steady_clock::now() + std::chrono::seconds{5})
                .has_value());

    // The server ends the store's sessions (the writer's and the snooze reader's), as a
    // restart or a failover would.
    reader admin{postgres_admin_url()};
    auto const database = under_test.target().substr(under_test.target().rfind('/') + 1);
    CHECK(admin.scalar(("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                        "datname = '" +
                        database + "' AND application_name = 'magnesium-cds'")
                           .c_str()) == "2");
    // Found lost at BEGIN, before anything was sent: reconnected and stored by the same call.
    CHECK(store->record("magnesium-order-sign", {accepted("after", {})}));
    CHECK(store->summarize({}).total_entries == 2);
    auto const lookup =
        store->overrides_since("no-such-patient", std::chrono::system_clock::time_point{},
                               std::chrono::steady_clock::now() + std::chrono::seconds{5});
    REQUIRE(lookup.has_value());
    CHECK(lookup->empty());
    reader db{under_test.target()};
    CHECK(db.rows("SELECT card_uuid FROM feedback ORDER BY id") ==
          std::vector<std::vector<std::string>>{{"before"}, {"after"}});
}

// The snooze reader's session is opened by the first lookup: a store that is never asked for
// overrides (every snooze period 0, a feedback report) holds the writer's session only.
TEST_CASE("postgres store: the snooze reader connects at the first lookup, not before" *
          doctest::skip(!testing_postgres)) {
    test_store under_test;
    auto store = under_test.open();
    REQUIRE(store->record("magnesium-order-sign", {accepted("card", {})}));
    reader admin{postgres_admin_url()};
    auto const database = under_test.target().substr(under_test.target().rfind('/') + 1);
    std::string const sessions = "SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                 database + "' AND application_name = 'magnesium-cds'";
    CHECK(admin.scalar(sessions.c_str()) == "1");

    auto const lookup =
        store->overrides_since("no-such-patient", std::chrono::system_clock::time_point{},
                               std::chrono::steady_clock::now() + std::chrono::seconds{5});
    REQUIRE(lookup.has_value());
    CHECK(lookup->empty());
    CHECK(admin.scalar(sessions.c_str()) == "2");
}

TEST_CASE("postgres store: replicas starting together migrate the schema once" *
          doctest::skip(!testing_postgres)) {
    test_store under_test;
    constexpr int replicas = 6;
    std::atomic<int> opened{0};
    std::vector<std::thread> starting;
    for (int i = 0; i < replicas; ++i) {
        starting.emplace_back([&] {
            try {
                auto store = under_test.open();
                if (store->record("magnesium-order-sign", {accepted("card", {})})) ++opened;
            } catch (std::runtime_error const&) {
                // counted by `opened` staying short
            }
        });
    }
    for (auto& t : starting) t.join();
    CHECK(opened.load() == replicas);
    reader db{under_test.target()};
    std::vector<std::vector<std::string>> versions;
    for (int v = 1; v <= feedback_schema_version; ++v) versions.push_back({std::to_string(v)});
    CHECK(db.rows("SELECT version FROM schema_version ORDER BY version") == versions);
    CHECK(db.scalar("SELECT count(*) FROM feedback") == std::to_string(replicas));
}

TEST_CASE("postgres store: the password comes from the options or libpq, and is never shown" *
          doctest::skip(!testing_postgres)) {
    test_store under_test;
    without_pgpassword no_environment;
    std::string const& password = no_environment.password();
    REQUIRE_FALSE(password.empty());

    // Without any password the server refuses, and start-up says which server.
    auto const refused = open_error(under_test.target());
    CHECK(refused.find("cannot connect") != std::string::npos);
    CHECK(refused.find("127.0.0.1") != std::string::npos);

    postgres_feedback_store_options from_file;
    from_file.password = password;
    auto store = open_postgres_feedback_store(under_test.target(), test_rules, from_file);
    CHECK(store->record("magnesium-order-sign", {accepted("card", {})}));

    // A wrong password in the URL: the message names the server, never the password.
    auto const with_wrong = "postgresql://postgres:Wrong-Secret-77@" +
                            under_test.target().substr(under_test.target().find('@') + 1);
    auto const wrong = open_error(with_wrong);
    CHECK(wrong.find("password authentication failed") != std::string::npos);
    CHECK(wrong.find("Wrong-Secret-77") == std::string::npos);
    CHECK(wrong.find("postgres:(redacted)@127.0.0.1") != std::string::npos);
    auto const as_parameter = open_error(under_test.target() + "?password=Wrong-Secret-77");
    CHECK(as_parameter.find("Wrong-Secret-77") == std::string::npos);

    // Nothing listens on the port: refused at start-up.
    CHECK(open_error("postgresql://postgres@127.0.0.1:1/postgres").find("cannot connect") !=
          std::string::npos);
}

TEST_CASE("postgres store: a schema newer than this build stops start-up" *
          doctest::skip(!testing_postgres)) {
    test_store under_test;
    (void)under_test.open();
    reader{under_test.target()}.exec(
        "INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01T00:00:00.000Z')");
    CHECK(open_error(under_test.target()).find("schema version 99 is newer") != std::string::npos);
}

namespace {

ledger_card issued_for(std::string uuid,
                       std::string rule_id,
                       std::string patient_key,
                       std::string evidence_key) {
    ledger_card card = issued(std::move(uuid), std::move(rule_id), "7.1.0", {});
    card.patient_key = std::move(patient_key);
    card.evidence_key = std::move(evidence_key);
    return card;
}

}  // namespace

TEST_CASE(
    "snooze lookup: overrides since a time for one patient key, newest first, through the "
    "ledger") {
    test_store under_test;
    manual_clock clock;
    auto store = under_test.open(clock.options());
    auto const later = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    REQUIRE(store->record_cards({issued_for("p1-a", "rule-a", "patient-1", "evidence-1"),
                                 issued_for("p1-b", "rule-b", "patient-1", "evidence-2"),
                                 issued_for("p2-a", "rule-a", "patient-2", "evidence-1"),
                                 issued_for("p1-accepted", "rule-c", "patient-1", "evidence-3")},
                                later) == store_outcome::stored);
    cds::fhir::coding const declined{"urn:reasons", "declined", "Patient declined"};
    auto const first_at = clock.options().clock();
    REQUIRE(store->record("magnesium-order-sign", {overridden("p1-a", declined)}));
    clock.advance(std::chrono::hours{2});
    auto const second_at = clock.options().clock();
    REQUIRE(store->record("magnesium-order-sign",
                          {overridden("p1-b", std::nullopt), overridden("p2-a", declined),
                           accepted("p1-accepted", {})}));

    auto const all = store->overrides_since("patient-1", first_at, later);
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].card_uuid == "p1-b");
    CHECK((*all)[0].rule_id == "rule-b");
    CHECK((*all)[0].evidence_key == "evidence-2");
    CHECK((*all)[0].overridden_at == second_at);
    CHECK_FALSE((*all)[0].reason.has_value());
    CHECK((*all)[1].card_uuid == "p1-a");
    CHECK((*all)[1].overridden_at == first_at);
    REQUIRE((*all)[1].reason.has_value());
    CHECK((*all)[1].reason->code == "declined");

    auto const recent =
        store->overrides_since("patient-1", first_at + std::chrono::hours{1}, later);
    REQUIRE(recent.has_value());
    REQUIRE(recent->size() == 1);
    CHECK((*recent)[0].card_uuid == "p1-b");
    auto const nobody = store->overrides_since("patient-3", first_at, later);
    REQUIRE(nobody.has_value());
    CHECK(nobody->empty());

    // A writer holding the lock does not hold the lookup (its own connection; WAL in SQLite,
    // MVCC in PostgreSQL).
    reader db{under_test.target()};
    db.hold_write_lock();
    db.exec("DELETE FROM feedback_accepted_suggestion");
    db.exec("DELETE FROM feedback");
    auto const started = std::chrono::steady_clock::now();
    auto const during =
        store->overrides_since("patient-1", first_at, started + std::chrono::seconds{5});
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds{1});
    REQUIRE(during.has_value());
    CHECK(during->size() == 2);
    db.exec("ROLLBACK");
}

TEST_CASE("snooze: suppressed cards are kept in the ledger and reported apart from issued ones") {
    test_store under_test;
    auto store = under_test.open();
    auto suppressed = issued_for("again", "rule-a", "patient-1", "evidence-1");
    suppressed.suppressed_by = "first";
    REQUIRE(
        store->record_cards({issued_for("first", "rule-a", "patient-1", "evidence-1"), suppressed},
                            std::chrono::steady_clock::now() + std::chrono::seconds{5}) ==
        store_outcome::stored);
    auto const report = store->summarize_by_rule({});
    REQUIRE(report.rules.size() == 1);
    CHECK(report.rules[0].cards_issued == 1);
    CHECK(report.rules[0].cards_suppressed == 1);
    auto const json = boost::json::parse(render_rule_feedback_json(report));
    CHECK(json.at("rules").at(0).at("cardsSuppressed").as_int64() == 1);
    CHECK(render_rule_feedback_text(report).find("cards snoozed       1") != std::string::npos);
}

TEST_CASE("shared secret: the first value stored wins for every store on the same file") {
    test_store under_test;
    auto first = under_test.open();
    auto second = under_test.open();
    CHECK(first->shared_secret("snooze-key", "aaaa") == "aaaa");
    CHECK(second->shared_secret("snooze-key", "bbbb") == "aaaa");
    CHECK(second->shared_secret("other-key", "cccc") == "cccc");
    first.reset();
    CHECK(under_test.open()->shared_secret("snooze-key", "dddd") == "aaaa");
}

TEST_CASE(
    "snooze: feedback sent while the card's ledger entry is still queued hides the card on the "
    "next call") {
    temp_dir dir;
    auto const path = dir.file("feedback.sqlite3");
    auto loaded = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
    REQUIRE(loaded.rules);
    auto state = make_service_state(loaded.rules);
    // The fixtures' time (fixtures/requests/README.md): 2026-03-10T09:00:00Z.
    state.fixed_now = cds::fhir::instant{std::chrono::milliseconds{1'773'133'200'000}};
    feedback_queue_options queue;
    queue.max_wait = std::chrono::seconds{20};
    auto store = open_sqlite_feedback_store(path, test_rules);
    state.snooze = std::make_shared<snooze_service>(snooze_keys{std::string(32, 'k')}, store,
                                                    snooze_options{});
    auto queued = make_queued_store(store, queue);
    state.feedback = queued.feedback;
    state.ledger = queued.ledger;
    http_request hook;
    hook.method = "POST";
    hook.target = "/cds-services/magnesium-patient-view";
    hook.headers = {{"Content-Type", "application/json"}};
    hook.body = file_bytes(std::string{CDS_FIXTURES_DIR} + "/requests/patient-view-mild.json");

    // Another connection holds the write lock: the writer is held by an earlier entry, and
    // the card's ledger entry stays queued behind it.
    reader db{path};
    db.exec("BEGIN IMMEDIATE");
    state.ledger->record({issued("earlier", "rule-a", "7.1.0", {})});
    REQUIRE(eventually([&] { return state.ledger->ledger_health().queued == 0; }));
    auto const first = handle_request_blocking(hook, state);
    REQUIRE(first.status == 200);
    auto const cards = boost::json::parse(first.body).at("cards").as_array();
    REQUIRE(cards.size() == 1);
    CHECK(cards[0].at("indicator").as_string() == "warning");
    std::string const uuid{cards[0].at("uuid").as_string()};
    REQUIRE(eventually([&] { return state.ledger->ledger_health().queued == 1; }));
    http_request override_call = feedback_request(uuid);
    override_call.target = "/cds-services/magnesium-patient-view/feedback";
    http_response answer;
    std::thread client{[&] { answer = handle_request_blocking(override_call, state); }};
    bool const feedback_queued = eventually([&] { return state.feedback->health()->queued == 1; });
    CHECK(state.ledger->ledger_health().queued == 1);
    db.exec("ROLLBACK");
    client.join();
    REQUIRE(feedback_queued);
    REQUIRE(answer.status == 200);

    auto const again = handle_request_blocking(hook, state);
    REQUIRE(again.status == 200);
    CHECK(boost::json::parse(again.body).at("cards").as_array().empty());
    // Recorded as snoozed, following the overridden card (written off the request path).
    char const* const snoozed =
        "SELECT suppressed_by FROM card_ledger WHERE suppressed_by IS NOT NULL";
    REQUIRE(eventually([&] { return db.rows(snoozed).size() == 1; }));
    CHECK(db.scalar(snoozed) == uuid);
}
