#include "cds/service/ops/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include <boost/json.hpp>

#include "cds/service/cds/service_state.hpp"

namespace cds::service::ops {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

// The route templates of the request log (router.cpp), and "-" for requests answered before
// routing (connection limit, plain HTTP on a TLS port) or anything else.
constexpr std::array<std::string_view, 10> route_labels = {"/cds-services",
                                                           "/cds-services/{id}",
                                                           "/cds-services/{id}/feedback",
                                                           "/healthz",
                                                           "/readyz",
                                                           "/ui/{file}",
                                                           "/metrics",
                                                           "/rules/{id}",
                                                           "(unknown)",
                                                           "-"};

// CDS Hooks 2.0 Card.indicator values.
constexpr std::array<std::string_view, 3> indicator_labels = {"info", "warning", "critical"};

constexpr std::array<double, 13> default_latency_buckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

std::string format_number(double value) {
    std::array<char, 32> text{};
    auto const end = std::to_chars(text.data(), text.data() + text.size(), value).ptr;
    return {text.data(), static_cast<std::size_t>(end - text.data())};
}

// "# HELP name text" and "# TYPE name type" (the HELP texts here need no escaping).
void append_header(std::string& out,
                   std::string_view name,
                   std::string_view type,
                   std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

using label_list = std::vector<std::pair<std::string_view, std::string_view>>;

void append_sample(std::string& out,
                   std::string_view name,
                   label_list const& labels,
                   std::string_view value) {
    out.append(name);
    if (!labels.empty()) {
        out.push_back('{');
        bool first = true;
        for (auto const& [label, label_value] : labels) {
            if (!first) out.push_back(',');
            first = false;
            out.append(label).append("=\"").append(escape_label_value(label_value)).append("\"");
        }
        out.push_back('}');
    }
    out.push_back(' ');
    out.append(value);
    out.push_back('\n');
}

void append_sample(std::string& out,
                   std::string_view name,
                   label_list const& labels,
                   std::uint64_t value) {
    append_sample(out, name, labels, std::to_string(value));
}

// The _bucket (cumulative, ending with le="+Inf"), _sum and _count lines of one histogram.
void append_histogram(std::string& out,
                      std::string_view name,
                      label_list const& labels,
                      fixed_histogram::snapshot const& snapshot) {
    std::string const bucket = std::string{name} + "_bucket";
    for (std::size_t i = 0; i <= snapshot.upper_bounds.size(); ++i) {
        std::string const le =
            i < snapshot.upper_bounds.size() ? format_number(snapshot.upper_bounds[i]) : "+Inf";
        label_list with_le = labels;
        with_le.emplace_back("le", le);
        append_sample(out, bucket, with_le, snapshot.cumulative[i]);
    }
    append_sample(out, std::string{name} + "_sum", labels, format_number(snapshot.sum_seconds));
    append_sample(out, std::string{name} + "_count", labels, snapshot.count);
}

std::unique_ptr<std::atomic<std::uint64_t>[]> zeroed_counters(std::size_t count) {
    auto counters = std::make_unique<std::atomic<std::uint64_t>[]>(count);
    for (std::size_t i = 0; i < count; ++i) counters[i].store(0, relaxed);
    return counters;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char const c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::span<double const> latency_buckets_seconds() { return default_latency_buckets; }

fixed_histogram::fixed_histogram(std::span<double const> upper_bounds_seconds)
    : upper_bounds_(upper_bounds_seconds.begin(), upper_bounds_seconds.end()),
      buckets_(zeroed_counters(upper_bounds_seconds.size() + 1)) {
    if (!std::is_sorted(upper_bounds_.begin(), upper_bounds_.end())) {
        throw std::invalid_argument("histogram bounds must be ascending");
    }
}

void fixed_histogram::observe(std::chrono::nanoseconds duration) {
    double const seconds = std::chrono::duration<double>(duration).count();
    auto const bound = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), seconds);
    buckets_[static_cast<std::size_t>(bound - upper_bounds_.begin())].fetch_add(1, relaxed);
    sum_nanoseconds_.fetch_add(
        static_cast<std::uint64_t>(std::max<std::int64_t>(duration.count(), 0)), relaxed);
}

fixed_histogram::snapshot fixed_histogram::read() const {
    snapshot out;
    out.upper_bounds = upper_bounds_;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
        running += buckets_[i].load(relaxed);
        out.cumulative.push_back(running);
    }
    out.count = running;  // the +Inf bucket, so that _count always equals it
    out.sum_seconds = static_cast<double>(sum_nanoseconds_.load(relaxed)) / 1e9;
    return out;
}

service_metrics::service_metrics(rules::rule_set const& rules, metrics_sources sources)
    : sources_(std::move(sources)), fhir_fetch_seconds_(latency_buckets_seconds()) {
    request_seconds_.reserve(route_labels.size());
    for (std::size_t i = 0; i < route_labels.size(); ++i) {
        request_seconds_.push_back(std::make_unique<fixed_histogram>(latency_buckets_seconds()));
    }
    {
        std::lock_guard const lock(relabel_mutex_);
        unknown_service_ = &find_or_add_service("unknown", "unknown");
        no_service_ = &find_or_add_service("none", "none");
        unknown_rule_ = &find_or_add_rule("unknown");
    }
    relabel(rules);
}

service_metrics::service_series& service_metrics::find_or_add_service(std::string const& id,
                                                                      std::string const& hook) {
    for (auto const& series : service_store_) {
        if (series->id == id && series->hook == hook) return *series;
    }
    service_store_.push_back(std::make_unique<service_series>(service_series{
        id, hook, zeroed_counters(route_labels.size() * static_cast<std::size_t>(status_slots))}));
    return *service_store_.back();
}

service_metrics::rule_series& service_metrics::find_or_add_rule(std::string const& id) {
    for (auto const& series : rule_store_) {
        if (series->id == id) return *series;
    }
    rule_store_.push_back(std::make_unique<rule_series>());
    rule_store_.back()->id = id;
    return *rule_store_.back();
}

void service_metrics::relabel(rules::rule_set const& rules) {
    std::lock_guard const lock(relabel_mutex_);
    auto table = std::make_unique<label_table>();
    for (auto const& service : rules.services()) {
        table->services.push_back(&find_or_add_service(service.id, service.hook));
    }
    for (auto const& rule_id : rules.rule_ids()) table->rules.push_back(&find_or_add_rule(rule_id));
    auto const listed = [](auto const& list, auto const* series) {
        return std::find(list.begin(), list.end(), series) != list.end();
    };
    for (auto const& series : service_store_) {
        bool const fixed = series.get() == unknown_service_ || series.get() == no_service_;
        if (!fixed && !listed(table->services, series.get()))
            table->services.push_back(series.get());
    }
    for (auto const& series : rule_store_) {
        if (series.get() != unknown_rule_ && !listed(table->rules, series.get()))
            table->rules.push_back(series.get());
    }
    table->services.push_back(unknown_service_);
    table->services.push_back(no_service_);
    table->rules.push_back(unknown_rule_);
    labels_.store(table.get(), std::memory_order_release);
    table_store_.push_back(std::move(table));
}

service_metrics::label_table const& service_metrics::labels() const {
    return *labels_.load(std::memory_order_acquire);
}

std::size_t service_metrics::route_index(std::string_view route) const {
    auto const found = std::find(route_labels.begin(), route_labels.end(), route);
    return found == route_labels.end() ? route_labels.size() - 1
                                       : static_cast<std::size_t>(found - route_labels.begin());
}

// A service a loaded rule set knows (the served rule set's first); "unknown" for any other id
// on a service route (what a client sends never becomes a label); "none" for endpoints that
// are not a service's.
service_metrics::service_series& service_metrics::service_for(label_table const& labels,
                                                              std::string_view route,
                                                              std::string_view service_id) const {
    for (auto* series : labels.services) {
        if (!service_id.empty() && series != unknown_service_ && series != no_service_ &&
            series->id == service_id)
            return *series;
    }
    bool const service_route = route == route_labels[1] || route == route_labels[2];
    return service_route ? *unknown_service_ : *no_service_;
}

service_metrics::rule_series& service_metrics::rule_for(label_table const& labels,
                                                        std::string_view rule_id) const {
    for (auto* series : labels.rules) {
        if (series != unknown_rule_ && series->id == rule_id) return *series;
    }
    return *unknown_rule_;
}

std::atomic<std::uint64_t>& service_metrics::request_counter(service_series const& service,
                                                             std::size_t route,
                                                             int status) {
    int const slot =
        std::clamp(status, lowest_status, lowest_status + status_slots - 1) - lowest_status;
    return service
        .requests[route * static_cast<std::size_t>(status_slots) + static_cast<std::size_t>(slot)];
}

void service_metrics::record_request(std::string_view route,
                                     std::string_view service_id,
                                     int status,
                                     std::chrono::nanoseconds took) {
    std::size_t const route_at = route_index(route);
    request_counter(service_for(labels(), route, service_id), route_at, status)
        .fetch_add(1, relaxed);
    request_seconds_[route_at]->observe(took);
}

void service_metrics::record_fhir_fetch(std::chrono::nanoseconds took, std::size_t failed_keys) {
    fhir_fetches_.fetch_add(1, relaxed);
    fhir_failed_keys_.fetch_add(failed_keys, relaxed);
    fhir_fetch_seconds_.observe(took);
}

std::pair<service_metrics::rule_series*, std::size_t> service_metrics::card_series(
    label_table const& labels, boost::json::object const& card) const {
    std::string_view rule_id;
    auto const* extension = card.if_contains("extension");
    auto const* mine = extension != nullptr && extension->is_object()
                           ? extension->get_object().if_contains("magnesium-cds")
                           : nullptr;
    auto const* id =
        mine != nullptr && mine->is_object() ? mine->get_object().if_contains("ruleId") : nullptr;
    if (id != nullptr && id->is_string()) rule_id = id->get_string();
    std::size_t indicator = 0;
    if (auto const* value = card.if_contains("indicator"); value != nullptr && value->is_string()) {
        auto const found =
            std::find(indicator_labels.begin(), indicator_labels.end(), value->get_string());
        if (found != indicator_labels.end())
            indicator = static_cast<std::size_t>(found - indicator_labels.begin());
    }
    return {&rule_for(labels, rule_id), indicator};
}

void service_metrics::record_cards(boost::json::array const& cards) {
    auto const& table = labels();
    for (auto const& card_value : cards) {
        if (auto const* card = card_value.if_object()) {
            auto const [series, indicator] = card_series(table, *card);
            series->cards[indicator].fetch_add(1, relaxed);
        }
    }
}

void service_metrics::record_snoozed(boost::json::object const& card) {
    auto const [series, indicator] = card_series(labels(), card);
    series->snoozed[indicator].fetch_add(1, relaxed);
}

void service_metrics::record_snooze_lookup_failed() {
    snooze_lookup_failures_.fetch_add(1, relaxed);
}

void service_metrics::record_body_reread(body_reread reader) {
    (reader == body_reread::boost_json ? body_rereads_boost_json_ : body_rereads_tree_)
        .fetch_add(1, relaxed);
}

void service_metrics::record_feedback_entry(std::string_view outcome) {
    (outcome == "accepted" ? feedback_accepted_ : feedback_overridden_).fetch_add(1, relaxed);
}

void service_metrics::record_feedback_refused() { feedback_refused_.fetch_add(1, relaxed); }

void service_metrics::render_requests(std::string& out) const {
    constexpr std::string_view name = "magnesium_cds_http_requests_total";
    append_header(out, name, "counter",
                  "HTTP requests answered, by route template, CDS service, hook and status.");
    auto const& table = labels();
    for (std::size_t route = 0; route < route_labels.size(); ++route) {
        for (auto const* service : table.services) {
            for (int status = lowest_status; status < lowest_status + status_slots; ++status) {
                auto const count = request_counter(*service, route, status).load(relaxed);
                if (count == 0) continue;
                std::string const status_text = std::to_string(status);
                append_sample(out, name,
                              {{"route", route_labels[route]},
                               {"service", service->id},
                               {"hook", service->hook},
                               {"status", status_text}},
                              count);
            }
        }
    }
}

void service_metrics::render_latency(std::string& out) const {
    constexpr std::string_view request_name = "magnesium_cds_http_request_duration_seconds";
    append_header(out, request_name, "histogram",
                  "Time from a request's header to its response written, by route template.");
    for (std::size_t route = 0; route < route_labels.size(); ++route) {
        auto const snapshot = request_seconds_[route]->read();
        if (snapshot.count == 0) continue;
        append_histogram(out, request_name, {{"route", route_labels[route]}}, snapshot);
    }
    constexpr std::string_view fetch_name = "magnesium_cds_fhir_fetch_duration_seconds";
    append_header(out, fetch_name, "histogram",
                  "Time a hook call spent fetching absent prefetch from the FHIR server.");
    append_histogram(out, fetch_name, {}, fhir_fetch_seconds_.read());
    append_header(out, "magnesium_cds_fhir_fetches_total", "counter",
                  "Hook calls that fetched from the FHIR server.");
    append_sample(out, "magnesium_cds_fhir_fetches_total", {}, fhir_fetches_.load(relaxed));
    append_header(out, "magnesium_cds_fhir_fetch_failures_total", "counter",
                  "Prefetch keys the FHIR server did not supply (error, timeout, refused or "
                  "invalid answer).");
    append_sample(out, "magnesium_cds_fhir_fetch_failures_total", {},
                  fhir_failed_keys_.load(relaxed));
}

void service_metrics::render_cards_and_feedback(std::string& out) const {
    constexpr std::string_view cards_name = "magnesium_cds_cards_total";
    append_header(out, cards_name, "counter", "Cards returned, by rule id and indicator.");
    auto const& table = labels();
    for (auto const* rule : table.rules) {
        for (std::size_t indicator = 0; indicator < indicator_count; ++indicator) {
            auto const count = rule->cards[indicator].load(relaxed);
            if (count == 0) continue;
            append_sample(out, cards_name,
                          {{"rule", rule->id}, {"indicator", indicator_labels[indicator]}}, count);
        }
    }
    constexpr std::string_view snoozed_name = "magnesium_cds_cards_snoozed_total";
    append_header(out, snoozed_name, "counter",
                  "Cards not returned because a clinician overrode the same card (same patient, "
                  "rule and evidence) within its snooze period, by rule id and indicator.");
    for (auto const* rule : table.rules) {
        for (std::size_t indicator = 0; indicator < indicator_count; ++indicator) {
            auto const count = rule->snoozed[indicator].load(relaxed);
            if (count == 0) continue;
            append_sample(out, snoozed_name,
                          {{"rule", rule->id}, {"indicator", indicator_labels[indicator]}}, count);
        }
    }
    append_header(out, "magnesium_cds_snooze_lookup_failures_total", "counter",
                  "Hook calls whose snooze lookup did not answer in time; their cards were shown.");
    append_sample(out, "magnesium_cds_snooze_lookup_failures_total", {},
                  snooze_lookup_failures_.load(relaxed));
    constexpr std::string_view rereads_name = "magnesium_cds_request_body_rereads_total";
    append_header(out, rereads_name, "counter",
                  "Request bodies read a second time, by the reader: boost_json when the "
                  "whole-body tokenizer declined the body, tree for a form the one pass does "
                  "not take.");
    append_sample(out, rereads_name, {{"reader", "boost_json"}},
                  body_rereads_boost_json_.load(relaxed));
    append_sample(out, rereads_name, {{"reader", "tree"}}, body_rereads_tree_.load(relaxed));
    constexpr std::string_view feedback_name = "magnesium_cds_feedback_entries_total";
    append_header(out, feedback_name, "counter",
                  "Feedback entries acknowledged (200), by outcome.");
    append_sample(out, feedback_name, {{"outcome", "accepted"}}, feedback_accepted_.load(relaxed));
    append_sample(out, feedback_name, {{"outcome", "overridden"}},
                  feedback_overridden_.load(relaxed));
    append_header(out, "magnesium_cds_feedback_refused_total", "counter",
                  "Feedback calls answered 503 because the store could not take them.");
    append_sample(out, "magnesium_cds_feedback_refused_total", {}, feedback_refused_.load(relaxed));
}

void service_metrics::render_pulled(std::string& out, service_state const& state) const {
    if (sources_.auth_decisions) {
        constexpr std::string_view name = "magnesium_cds_auth_failures_total";
        append_header(out, name, "counter", "Requests refused by authentication, by reason.");
        for (auto const& [reason, count] : sources_.auth_decisions()) {
            if (reason != "ok") append_sample(out, name, {{"reason", reason}}, count);
        }
    }
    if (auto const store = state.feedback ? state.feedback->health() : std::nullopt) {
        append_header(out, "magnesium_cds_feedback_store_queued", "gauge",
                      "Feedback calls queued for the store and not yet started.");
        append_sample(out, "magnesium_cds_feedback_store_queued", {}, store->queued);
    }
    if (sources_.log_lines_dropped) {
        append_header(out, "magnesium_cds_log_lines_dropped_total", "counter",
                      "Log lines dropped because the log buffer was full.");
        append_sample(out, "magnesium_cds_log_lines_dropped_total", {},
                      sources_.log_lines_dropped());
    }
    if (state.rules) {
        append_header(out, "magnesium_cds_rule_set_info", "gauge",
                      "The loaded rule set (always 1).");
        append_sample(out, "magnesium_cds_rule_set_info",
                      {{"id", state.rules->id()}, {"version", state.rules->version()}}, "1");
    }
}

std::string service_metrics::render(service_state const& state) const {
    std::string out;
    render_requests(out);
    render_latency(out);
    render_cards_and_feedback(out);
    render_pulled(out, state);
    return out;
}

}  // namespace cds::service::ops
