#include "cds/service/cds/rules_reload.hpp"

#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "cds/rules/rule_set.hpp"

namespace cds::service {

namespace {

std::optional<std::string> read_whole_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return std::move(text).str();
}

std::string describe(rules::rule_set const& rules) {
    return "rule set " + rules.id() + " version " + rules.version();
}

}  // namespace

rule_file_signature read_rule_file_signature(std::string const& path) {
    std::error_code ec;
    auto const modified = std::filesystem::last_write_time(path, ec);
    if (ec) return {};
    auto const size = std::filesystem::file_size(path, ec);
    if (ec) return {};
    auto const since_epoch = modified.time_since_epoch();
    return {true, std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count(), size};
}

rules_reloader::rules_reloader(rules_reload_options options, service_state const& state)
    : options_{std::move(options)},
      state_{state},
      timer_{thread_.get_executor()},
      loaded_signature_{options_.file.empty() ? rule_file_signature{}
                                              : read_rule_file_signature(options_.file)} {}

// Before the members go: a poll or reload under way on thread_ still uses them.
rules_reloader::~rules_reloader() {
    thread_.stop();
    thread_.join();
}

template <class Step>
void rules_reloader::logging_exceptions(std::string_view trigger, Step&& step) noexcept {
    try {
        step();
    } catch (std::exception const& e) {
        spdlog::error("{}: the rule file was not reloaded: {}", trigger, e.what());
    } catch (...) {
        spdlog::error("{}: the rule file was not reloaded: an unknown exception", trigger);
    }
}

void rules_reloader::on_hangup() {
    if (options_.file.empty()) {
        spdlog::warn(
            "SIGHUP: serving the bundled rule set, there is no rule file to reload "
            "(serve --rules FILE to reload one)");
        return;
    }
    boost::asio::post(thread_,
                      [this] { logging_exceptions("SIGHUP", [this] { reload("SIGHUP"); }); });
}

bool rules_reloader::reload(std::string_view trigger) {
    std::lock_guard const lock(mutex_);
    auto const previous = state_.rules.get();
    std::string const kept = previous ? describe(*previous) : std::string{"no rule set"};
    loaded_signature_ = read_rule_file_signature(options_.file);
    auto const text = read_whole_file(options_.file);
    if (!text) {
        spdlog::warn("{}: cannot read the rule file {}; still serving {}", trigger, options_.file,
                     kept);
        return false;
    }
    auto loaded = rules::load_rule_set(*text);
    if (!loaded.problems.empty() || !loaded.rules) {
        spdlog::warn("{}: {} is not a valid rule configuration ({} problem{}); still serving {}",
                     trigger, options_.file, loaded.problems.size(),
                     loaded.problems.size() == 1 ? "" : "s", kept);
        for (auto const& problem : loaded.problems) {
            spdlog::warn("{}: {} {}: {}", trigger, options_.file,
                         problem.path.empty() ? "/" : problem.path, problem.message);
        }
        return false;
    }
    std::string const now_serving = describe(*loaded.rules);
    if (state_.metrics) state_.metrics->relabel(*loaded.rules);
    state_.rules.replace(std::move(loaded.rules));
    spdlog::info("{}: reloaded {}: serving {} (was {})", trigger, options_.file, now_serving, kept);
    return true;
}

void rules_reloader::start_watching() {
    if (options_.file.empty() || !options_.watch_interval) return;
    spdlog::info("watching {} for changes every {} ms", options_.file,
                 options_.watch_interval->count());
    schedule_poll();
}

void rules_reloader::schedule_poll() {
    timer_.expires_after(*options_.watch_interval);
    timer_.async_wait([this](boost::system::error_code const& ec) {
        if (ec) return;
        logging_exceptions("rules file changed", [this] { poll(); });
        schedule_poll();
    });
}

void rules_reloader::poll() {
    auto const seen = read_rule_file_signature(options_.file);
    {
        std::lock_guard const lock(mutex_);
        if (seen == loaded_signature_) {
            pending_signature_.reset();
            return;
        }
    }
    // Debounce: an editor or a copy may still be writing; the change is read once it has
    // stayed the same for a whole interval.
    if (pending_signature_ != seen) {
        pending_signature_ = seen;
        return;
    }
    pending_signature_.reset();
    if (!seen.exists) {
        std::lock_guard const lock(mutex_);
        loaded_signature_ = seen;
        spdlog::warn("rules file changed: {} is gone; still serving the loaded rules",
                     options_.file);
        return;
    }
    reload("rules file changed");
}

}  // namespace cds::service
