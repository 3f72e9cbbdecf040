// `feedback-report --by rule` in its three forms; README.md ("Feedback by rule") documents
// each layout.

#include <iomanip>
#include <optional>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "cds/service/feedback/feedback_store.hpp"

namespace cds::service {

namespace {

// accepted / (accepted + overridden); nothing when no feedback names the rule's cards.
std::optional<double> acceptance_rate(rule_feedback const& rule) {
    auto const answered = rule.accepted + rule.overridden;
    if (answered == 0) return std::nullopt;
    return static_cast<double>(rule.accepted) / static_cast<double>(answered);
}

std::string rate_text(std::optional<double> rate) {
    if (!rate) return {};
    std::ostringstream out;
    out << std::fixed << std::setprecision(3) << *rate;
    return out.str();
}

boost::json::value optional_instant(std::optional<fhir::instant> const& at) {
    if (!at) return nullptr;
    return boost::json::string{fhir::format_instant(*at)};
}

// "system|code" (the FHIR token search form), or the code alone when there is no system.
std::string reason_token(fhir::coding const& reason) {
    return reason.system.empty() ? reason.code : reason.system + "|" + reason.code;
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_field(std::string const& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char const c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

}  // namespace

std::string render_rule_feedback_json(rule_feedback_report const& report) {
    boost::json::array rules;
    for (auto const& rule : report.rules) {
        boost::json::array reasons;
        for (auto const& r : rule.top_override_reasons) {
            boost::json::object reason;
            if (!r.reason.system.empty()) reason["system"] = r.reason.system;
            if (!r.reason.code.empty()) reason["code"] = r.reason.code;
            if (!r.reason.display.empty()) reason["display"] = r.reason.display;
            reason["entries"] = r.entries;
            reasons.emplace_back(std::move(reason));
        }
        auto const rate = acceptance_rate(rule);
        rules.emplace_back(boost::json::object{
            {"ruleId", rule.rule_id},
            {"ruleSet", {{"id", rule.rule_set.id}, {"version", rule.rule_set.version}}},
            {"cardsIssued", rule.cards_issued},
            {"cardsSuppressed", rule.cards_suppressed},
            {"accepted", rule.accepted},
            {"overridden", rule.overridden},
            {"acceptanceRate", rate ? boost::json::value(*rate) : boost::json::value(nullptr)},
            {"topOverrideReasons", std::move(reasons)},
            {"suggestionsTaken", rule.suggestions_taken}});
    }
    boost::json::object out{{"since", optional_instant(report.range.since)},
                            {"until", optional_instant(report.range.until)},
                            {"by", "rule"},
                            {"totalEntries", report.total_entries},
                            {"rules", std::move(rules)},
                            {"unknownCards",
                             {{"entries", report.unknown_card_entries},
                              {"accepted", report.unknown_card_accepted},
                              {"overridden", report.unknown_card_overridden}}}};
    return boost::json::serialize(out);
}

std::string render_rule_feedback_csv(rule_feedback_report const& report) {
    std::ostringstream out;
    out << "kind,rule_id,rule_set_id,rule_set_version,cards_issued,accepted,overridden,acceptance_"
           "rate,"
           "top_override_reasons,suggestions_taken,cards_suppressed\r\n";
    for (auto const& rule : report.rules) {
        std::string reasons;
        for (auto const& r : rule.top_override_reasons) {
            if (!reasons.empty()) reasons += ' ';
            reasons += reason_token(r.reason);
            reasons += '=';
            reasons += std::to_string(r.entries);
        }
        out << "rule," << csv_field(rule.rule_id) << ',' << csv_field(rule.rule_set.id) << ','
            << csv_field(rule.rule_set.version) << ',' << rule.cards_issued << ',' << rule.accepted
            << ',' << rule.overridden << ',' << rate_text(acceptance_rate(rule)) << ','
            << csv_field(reasons) << ',' << rule.suggestions_taken << ',' << rule.cards_suppressed
            << "\r\n";
    }
    out << "unknown-card,,,,," << report.unknown_card_accepted << ','
        << report.unknown_card_overridden << ",,,,\r\n";
    return out.str();
}

std::string render_rule_feedback_text(rule_feedback_report const& report) {
    std::ostringstream out;
    out << "feedback entries: " << report.total_entries << " (" << report.unknown_card_entries
        << " for cards not in the ledger: " << report.unknown_card_accepted << " accepted, "
        << report.unknown_card_overridden << " overridden)\n";
    for (auto const& rule : report.rules) {
        auto const rate = acceptance_rate(rule);
        out << "\n"
            << (rule.rule_id.empty() ? std::string{"(no rule id)"} : rule.rule_id) << "  ("
            << rule.rule_set.id << ' ' << rule.rule_set.version << ")\n"
            << "  cards issued        " << rule.cards_issued << '\n'
            << "  cards snoozed       " << rule.cards_suppressed << '\n'
            << "  accepted            " << rule.accepted << '\n'
            << "  overridden          " << rule.overridden << '\n'
            << "  acceptance rate     " << (rate ? rate_text(rate) : std::string{"-"}) << '\n'
            << "  suggestions taken   " << rule.suggestions_taken << '\n';
        for (auto const& r : rule.top_override_reasons) {
            out << "  override reason     " << reason_token(r.reason);
            if (!r.reason.display.empty()) out << " \"" << r.reason.display << '"';
            out << ": " << r.entries << '\n';
        }
    }
    return out.str();
}

}  // namespace cds::service
