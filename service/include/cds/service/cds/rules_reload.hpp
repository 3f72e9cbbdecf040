#pragma once
// Replacing the served rule set without a restart: on SIGHUP and, with `serve --rules-watch`,
// when the rule file changes. The file is read and validated exactly as at start-up
// (rules::load_rule_set: JSON, schema, registry, consistency); a valid rule set replaces
// service_state::rules atomically (calls in flight finish on the rules they began with); an
// invalid one changes nothing, and the log names every problem, one warning line each.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cds/service/cds/service_state.hpp"

namespace cds::service {

struct rules_reload_options {
    std::string file;  // the rule file `serve --rules` loaded; empty: the bundled rule set
    // `serve --rules-watch MS`: how often the file's modification time and size are compared.
    // Unset: only SIGHUP reloads.
    std::optional<std::chrono::milliseconds> watch_interval;
};

// What tells a changed file from an unchanged one without reading it.
struct rule_file_signature {
    bool exists = false;
    std::int64_t modified_ns = 0;
    std::uintmax_t size = 0;
    friend bool operator==(rule_file_signature const&, rule_file_signature const&) = default;
};
[[nodiscard]] rule_file_signature read_rule_file_signature(std::string const& path);

// Thread-safe: reloads are serialized by a mutex (a caller's reload() may coincide with one
// the reloader's thread runs).
//
// SIGHUP's reloads and the watch's polls run on the reloader's own thread: reading and
// validating a rule file takes about 10 ms, which on a server I/O thread would hold up that
// thread's connections (and on the first, the acceptor). Destroying the reloader stops the
// thread, after a poll or reload under way has finished.
class rules_reloader {
public:
    // `state` must outlive the reloader.
    rules_reloader(rules_reload_options options, service_state const& state);
    ~rules_reloader();
    rules_reloader(rules_reloader const&) = delete;
    rules_reloader& operator=(rules_reloader const&) = delete;

    // SIGHUP: reloads the rule file on the reloader's thread, or logs that the bundled rule
    // set has no file to reload. Returns at once. An exception in the reload (std::bad_alloc
    // on a huge file) is logged, and the loaded rules stay.
    void on_hangup();

    // Starts polling the file every watch_interval (nothing when it is unset or there is no
    // file). A change is reloaded once the file has kept its new signature for one more
    // interval, so that a file still being written is not read half-way. An exception in a
    // poll is logged, and polling goes on until the reloader goes.
    void start_watching();

    // Reads, validates and, when valid, installs the rule file; `trigger` names the cause in
    // the log. True when the rules were replaced.
    bool reload(std::string_view trigger);

private:
    void schedule_poll();
    void poll();
    // Runs `step`, logging instead of passing on an exception: thread_ ends the process on
    // one that escapes.
    template <class Step>
    static void logging_exceptions(std::string_view trigger, Step&& step) noexcept;

    rules_reload_options const options_;
    service_state const& state_;
    boost::asio::thread_pool thread_{1};  // before timer_, whose executor it is
    boost::asio::steady_timer timer_;
    std::mutex mutex_;                      // one reload at a time; guards loaded_signature_
    rule_file_signature loaded_signature_;  // of the file when it was last read
    std::optional<rule_file_signature> pending_signature_;  // a change seen, waiting to settle
};

}  // namespace cds::service
