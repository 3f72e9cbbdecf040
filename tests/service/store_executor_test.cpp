// The store executor (blocking store work off the server's I/O threads) and the queued
// feedback sink built on it: where jobs run and where their awaiting coroutine resumes, the
// bounded queue, exceptions, and a locked SQLite store answered within the sink's max_wait.

#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/feedback/store_executor.hpp"

namespace fs = std::filesystem;
using namespace cds::service;
using namespace std::chrono_literals;

namespace {

// Runs one coroutine to completion on a private io_context and returns what it produced.
template <class Result>
Result run_on_io(boost::asio::awaitable<Result> coroutine) {
    boost::asio::io_context io;
    std::optional<Result> out;
    boost::asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr failure, Result result) {
        if (failure) std::rethrow_exception(failure);
        out = std::move(result);
    });
    io.run();
    REQUIRE(out.has_value());
    return std::move(*out);
}

struct thread_trace {
    std::thread::id job;
    std::thread::id resumed;
    std::optional<int> result;
};

boost::asio::awaitable<thread_trace> traced_run(store_executor& executor) {
    thread_trace trace;
    std::function<int()> job = [&trace] {
        trace.job = std::this_thread::get_id();
        return 42;
    };
    trace.result = co_await executor.run(std::move(job));
    trace.resumed = std::this_thread::get_id();
    co_return trace;
}

boost::asio::awaitable<std::optional<int>> run_value(store_executor& executor,
                                                     std::function<int()> job) {
    co_return co_await executor.run(std::move(job));
}

boost::asio::awaitable<std::string> run_throwing(store_executor& executor) {
    std::function<int()> job = []() -> int { throw std::runtime_error("store exploded"); };
    try {
        (void)co_await executor.run(std::move(job));
    } catch (std::runtime_error const& e) {
        co_return std::string{e.what()};
    }
    co_return std::string{"(no exception)"};
}

std::string temp_database() {
    std::random_device random;
    return (fs::temp_directory_path() / ("magnesium-cds-executor-" + std::to_string(random()) +
                                         std::to_string(random()) + ".sqlite3"))
        .string();
}

struct removed_on_exit {
    std::string path;
    ~removed_on_exit() {
        std::error_code ignored;
        for (char const* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ignored);
    }
};

// Another process's connection, as a report or an analytics reader would hold it.
struct lock_holder {
    sqlite3* db = nullptr;
    explicit lock_holder(std::string const& path) {
        REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
        REQUIRE(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    }
    void release() const {
        REQUIRE(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    }
    ~lock_holder() { sqlite3_close_v2(db); }
    lock_holder(lock_holder const&) = delete;
    lock_holder& operator=(lock_holder const&) = delete;
};

std::vector<feedback_entry> one_override() {
    feedback_entry entry;
    entry.card = "card-1";
    entry.outcome = "overridden";
    entry.outcome_timestamp = "2026-03-10T09:02:00Z";
    return {entry};
}

}  // namespace

TEST_CASE("store executor: the job runs on a store thread, the coroutine resumes on its own") {
    store_executor executor{{}};
    auto const io_thread = std::this_thread::get_id();
    auto const trace = run_on_io(traced_run(executor));
    CHECK(trace.result == 42);
    CHECK(trace.job != io_thread);
    CHECK(trace.resumed == io_thread);
}

TEST_CASE("store executor: a full queue answers nothing at once; queued jobs still run") {
    store_executor executor{{.threads = 1, .max_queued = 1}};
    std::promise<void> started;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    REQUIRE(executor.try_post([&started, released] {
        started.set_value();
        released.wait();
    }));
    started.get_future().wait();  // the store thread is busy; the queue is empty
    int ran = 0;
    REQUIRE(executor.try_post([&ran] { ++ran; }));
    CHECK(executor.queued() == 1);

    auto const before = std::chrono::steady_clock::now();
    auto const refused = run_on_io(run_value(executor, [] { return 1; }));
    CHECK_FALSE(refused.has_value());
    CHECK(std::chrono::steady_clock::now() - before < 1s);

    release.set_value();
    while (executor.queued() != 0) std::this_thread::sleep_for(1ms);  // the queued job started
    CHECK(run_on_io(run_value(executor, [] { return 7; })) == 7);
    CHECK(ran == 1);
}

TEST_CASE("store executor: what the job throws is rethrown in the coroutine") {
    store_executor executor{{}};
    CHECK(run_on_io(run_throwing(executor)) == "store exploded");
    CHECK(run_on_io(run_value(executor, [] { return 3; })) == 3);  // the thread survived
    CHECK_THROWS_AS(store_executor({.threads = 0, .max_queued = 1}), std::invalid_argument);
}

TEST_CASE("queued feedback sink: a locked store is answered within max_wait, then stores again") {
    auto const quiet =
        std::make_shared<spdlog::logger>("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
    auto const previous = spdlog::default_logger();
    spdlog::set_default_logger(quiet);

    removed_on_exit const file{temp_database()};
    feedback_queue_options options;
    options.max_wait = 300ms;
    auto sink =
        make_queued_feedback_sink(open_sqlite_feedback_store(file.path, {"rules", "1"}), options);
    options.max_wait = 5s;
    auto patient =
        make_queued_feedback_sink(open_sqlite_feedback_store(file.path, {"rules", "1"}), options);
    {
        lock_holder const other{file.path};
        auto const before = std::chrono::steady_clock::now();
        auto const refused = run_on_io(sink->record("svc", one_override()));
        auto const waited = std::chrono::steady_clock::now() - before;
        CHECK_FALSE(refused.stored);
        CHECK(refused.refusal.find("locked") != std::string::npos);
        CHECK(waited >= 250ms);
        CHECK(waited < 3s);
        CHECK(sink->health()->status == "busy");

        // A lock released within max_wait: the waiting call is stored.
        std::thread releaser{[&other] {
            std::this_thread::sleep_for(200ms);
            other.release();
        }};
        auto const stored = run_on_io(patient->record("svc", one_override()));
        releaser.join();
        CHECK(stored.stored);
    }
    CHECK(run_on_io(sink->record("svc", one_override())).stored);
    CHECK(sink->health()->status == "ok");
    spdlog::set_default_logger(previous);
}
