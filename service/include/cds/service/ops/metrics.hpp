#pragma once
// `GET /metrics`: the service's counters in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Lock-free on the request path: every series is a std::atomic in a table built from the rule
// set (its services and rule ids) at start-up and again, before it is served, for each reloaded
// rule set; recording is an acquire load of the table and a relaxed fetch_add, and a request can
// never create a series. Label values come only from the rule sets and from fixed lists (route
// templates, indicators, outcomes): an id no loaded rule set knows is counted as "unknown" and
// nothing a client sends, and nothing about a patient, becomes a label.
// Values owned elsewhere (authentication failures, the store queue, dropped log lines) are
// read when /metrics is scraped.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "cds/rules/rule_set.hpp"

namespace cds::service {

struct service_state;

namespace ops {

// The media type of the text exposition format, version 0.0.4.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the text format requires it: backslash, double quote and line feed escaped.
[[nodiscard]] std::string escape_label_value(std::string_view value);

// A histogram with fixed upper bounds (seconds). observe() is lock-free; read() gives the
// cumulative bucket counts (the last one is +Inf and equals `count`) and the sum.
class fixed_histogram {
public:
    explicit fixed_histogram(std::span<double const> upper_bounds_seconds);

    void observe(std::chrono::nanoseconds duration);

    struct snapshot {
        std::vector<double> upper_bounds;       // without +Inf
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
        std::uint64_t count = 0;
        double sum_seconds = 0;
    };
    [[nodiscard]] snapshot read() const;

private:
    std::vector<double> upper_bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]>
        buckets_;  // non-cumulative, last = above every bound
    std::atomic<std::uint64_t> sum_nanoseconds_{0};
};

// The default latency buckets, 1 ms to 10 s.
[[nodiscard]] std::span<double const> latency_buckets_seconds();

// Values owned by other components, read at scrape time (never on the request path).
struct metrics_sources {
    // Authentication decisions by reason name, "ok" included (authenticator::counters()).
    std::function<std::vector<std::pair<std::string_view, std::uint64_t>>()> auth_decisions;
    // Log lines dropped because the log buffer was full (buffered_log_sink::dropped_lines()).
    std::function<std::uint64_t()> log_lines_dropped;
};

class service_metrics {
public:
    // The label sets start as the services and rule ids of `rules`.
    explicit service_metrics(rules::rule_set const& rules, metrics_sources sources = {});

    // Adds the services and rule ids of `rules` (a reloaded rule set) to the label sets; call it
    // before the rule set is served, so that its calls find their labels. Their series start at
    // zero and every earlier series stays with its count: a call that began on the earlier rules
    // may still record, and a Prometheus counter never goes back. Safe while requests record.
    void relabel(rules::rule_set const& rules);

    // One finished HTTP request: `route` is the route template of the log ("-" when the request
    // was answered before routing), `service_id` empty unless the rule set knows it.
    void record_request(std::string_view route,
                        std::string_view service_id,
                        int status,
                        std::chrono::nanoseconds took);
    // What the FHIR-server fetch of one hook call took, and how many keys it could not obtain.
    void record_fhir_fetch(std::chrono::nanoseconds took, std::size_t failed_keys);
    // The cards of one hook call (their `indicator` and the rule id in their extension).
    void record_cards(boost::json::array const& cards);
    // A card evaluated but not returned, because an override snoozes it (CLINICAL-BASIS.md §6).
    void record_snoozed(boost::json::object const& card);
    // A hook call whose snooze lookup did not answer in time (its cards were all shown).
    void record_snooze_lookup_failed();
    // A request body read a second time (request_reader.hpp): by Boost.JSON's basic_parser,
    // when the whole-body tokenizer declined it, or as a tree, for a form the one pass does
    // not take.
    enum class body_reread { boost_json, tree };
    void record_body_reread(body_reread reader);
    // Feedback entries acknowledged (200), by outcome ("accepted", "overridden").
    void record_feedback_entry(std::string_view outcome);
    // A feedback call the store could not take (503).
    void record_feedback_refused();

    // The exposition text. `state` supplies the loaded rule set and the feedback store's queue.
    [[nodiscard]] std::string render(service_state const& state) const;

private:
    static constexpr int lowest_status = 100;
    static constexpr int status_slots = 500;  // 100..599
    static constexpr std::size_t indicator_count = 3;

    struct service_series {
        std::string id;
        std::string hook;
        std::unique_ptr<std::atomic<std::uint64_t>[]> requests;  // [route][status slot]
    };
    struct rule_series {
        std::string id;
        std::array<std::atomic<std::uint64_t>, indicator_count> cards{};
        std::array<std::atomic<std::uint64_t>, indicator_count> snoozed{};
    };
    // The label values of one moment: the served rule set's services (rule ids), then those of
    // earlier rule sets, then the fixed "unknown" (and for services "none"). Never changed
    // once published; the series it points to are shared by every table.
    struct label_table {
        std::vector<service_series*> services;
        std::vector<rule_series*> rules;
    };

    [[nodiscard]] label_table const& labels() const;
    [[nodiscard]] std::size_t route_index(std::string_view route) const;
    [[nodiscard]] service_series& service_for(label_table const& labels,
                                              std::string_view route,
                                              std::string_view service_id) const;
    [[nodiscard]] rule_series& rule_for(label_table const& labels, std::string_view rule_id) const;
    // The rule series and indicator slot of a card.
    [[nodiscard]] std::pair<rule_series*, std::size_t> card_series(
        label_table const& labels, boost::json::object const& card) const;
    [[nodiscard]] static std::atomic<std::uint64_t>& request_counter(service_series const& service,
                                                                     std::size_t route,
                                                                     int status);
    service_series& find_or_add_service(std::string const& id, std::string const& hook);
    rule_series& find_or_add_rule(std::string const& id);
    void render_requests(std::string& out) const;
    void render_latency(std::string& out) const;
    void render_cards_and_feedback(std::string& out) const;
    void render_pulled(std::string& out, service_state const& state) const;

    // Every series and table ever made (guarded by relabel_mutex_, never read by requests): a
    // request may still hold a pointer from an earlier table, so nothing is freed before `this`.
    std::mutex relabel_mutex_;
    std::vector<std::unique_ptr<service_series>> service_store_;
    std::vector<std::unique_ptr<rule_series>> rule_store_;
    std::vector<std::unique_ptr<label_table const>> table_store_;
    service_series* unknown_service_ = nullptr;
    service_series* no_service_ = nullptr;
    rule_series* unknown_rule_ = nullptr;
    std::atomic<label_table const*> labels_{nullptr};  // the newest of table_store_

    metrics_sources sources_;
    std::vector<std::unique_ptr<fixed_histogram>> request_seconds_;  // per route
    fixed_histogram fhir_fetch_seconds_;
    std::atomic<std::uint64_t> fhir_fetches_{0};
    std::atomic<std::uint64_t> fhir_failed_keys_{0};
    std::atomic<std::uint64_t> snooze_lookup_failures_{0};
    std::atomic<std::uint64_t> body_rereads_boost_json_{0};
    std::atomic<std::uint64_t> body_rereads_tree_{0};
    std::atomic<std::uint64_t> feedback_accepted_{0};
    std::atomic<std::uint64_t> feedback_overridden_{0};
    std::atomic<std::uint64_t> feedback_refused_{0};
};

}  // namespace ops
}  // namespace cds::service
