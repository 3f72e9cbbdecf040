#include <iostream>
#include <string_view>

#include "cds/service/cli/commands.hpp"
#include "cds/service/cli/options.hpp"
#include "cds/service/feedback/feedback_store.hpp"

namespace cds::service::cli {

namespace po = boost::program_options;

po::options_description feedback_report_options() {
    po::options_description d("feedback-report options");
    d.add_options()("feedback-db", po::value<std::string>(),
                    "the SQLite feedback database written by serve --feedback-db")(
        "since", po::value<std::string>(),
        "count feedback received at or after this FHIR dateTime (default: all)")(
        "until", po::value<std::string>(),
        "count feedback received before this FHIR dateTime (default: no bound)")(
        "by", po::value<std::string>(),
        "rule: join feedback to the card ledger and count per rule and rule-set version")(
        "format", po::value<std::string>()->default_value("json"),
        "with --by rule: json, csv or text");
    return d;
}

namespace {

feedback_summary_query summary_query_from(po::variables_map const& vm) {
    feedback_summary_query query;
    for (auto const* bound : {"since", "until"}) {
        if (!vm.count(bound)) continue;
        auto const parsed = fhir::parse_date_time(vm[bound].as<std::string>());
        if (!parsed.value)
            throw usage_error(std::string{"--"} + bound +
                              " is not a FHIR dateTime: " + parsed.error);
        (std::string_view{bound} == "since" ? query.since : query.until) = parsed.value->start;
    }
    return query;
}

void check_report_shape(std::string const& by, std::string const& format) {
    if (!by.empty() && by != "rule") throw usage_error("--by must be rule");
    if (format != "json" && (by.empty() || (format != "csv" && format != "text"))) {
        throw usage_error(by.empty() ? "--format needs --by rule (the default report is JSON only)"
                                     : "--format must be json, csv or text");
    }
}

}  // namespace

int run_feedback_report(std::vector<std::string> const& args) {
    auto const vm = parse_arguments(args, feedback_report_options(), nullptr);
    use_stderr_logger("warn");
    if (!vm.count("feedback-db")) throw usage_error("feedback-report needs --feedback-db FILE");
    auto const query = summary_query_from(vm);
    std::string const by = optional_text(vm, "by").value_or("");
    std::string const format = vm["format"].as<std::string>();
    check_report_shape(by, format);
    sqlite_feedback_store_options options;
    options.create_if_missing = false;  // a mistyped path is an error, not a new empty database
    options.must_be_writable = false;   // a report only reads
    auto const store = open_sqlite_feedback_store(vm["feedback-db"].as<std::string>(), {}, options);
    if (by.empty()) {
        std::cout << render_feedback_summary(store->summarize(query)) << '\n';
        return exit_ok;
    }
    auto const report = store->summarize_by_rule(query);
    if (format == "json") std::cout << render_rule_feedback_json(report) << '\n';
    if (format == "csv") std::cout << render_rule_feedback_csv(report);
    if (format == "text") std::cout << render_rule_feedback_text(report);
    return exit_ok;
}

}  // namespace cds::service::cli
