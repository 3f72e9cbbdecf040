#pragma once
// Folding the rows of the per-rule feedback report's four queries into a rule_feedback_report,
// shared by the SQLite and PostgreSQL stores: their SQL differs in dialect, the rows they return
// do not. A Row gives text(column) -> std::string and int64(column) -> std::int64_t.

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "cds/service/feedback/feedback_store.hpp"

namespace cds::service {

class rule_feedback_rows {
public:
    // rule_id, rule_set_id, rule_set_version, cards shown, cards suppressed.
    template <class Row>
    void add_issued(Row const& row) {
        auto& rule = rule_of(row);
        rule.cards_issued = row.int64(3);
        rule.cards_suppressed = row.int64(4);
    }

    // rule_id, rule_set_id, rule_set_version, outcome, entries, suggestions taken.
    template <class Row>
    void add_outcome(Row const& row) {
        auto& rule = rule_of(row);
        (row.text(3) == "accepted" ? rule.accepted : rule.overridden) = row.int64(4);
        rule.suggestions_taken += row.int64(5);
    }

    // rule_id, rule_set_id, rule_set_version, reason system, code, display, entries; the rows
    // of one rule most frequent first.
    template <class Row>
    void add_override_reason(Row const& row) {
        auto& top = rule_of(row).top_override_reasons;
        if (top.size() == max_top_override_reasons) return;
        top.push_back({fhir::coding{row.text(3), row.text(4), row.text(5)}, row.int64(6)});
    }

    // outcome, entries, entries naming a card the ledger does not hold.
    template <class Row>
    void add_total(Row const& row) {
        std::int64_t const unknown = row.int64(2);
        report_.total_entries += row.int64(1);
        report_.unknown_card_entries += unknown;
        (row.text(0) == "accepted" ? report_.unknown_card_accepted
                                   : report_.unknown_card_overridden) = unknown;
    }

    // The report, its rules ordered by rule id, rule set id and version.
    rule_feedback_report finish(feedback_summary_query const& query) && {
        report_.range = query;
        for (auto& entry : rules_) report_.rules.push_back(std::move(entry.second));
        return std::move(report_);
    }

private:
    using rule_key = std::tuple<std::string, std::string, std::string>;

    template <class Row>
    rule_feedback& rule_of(Row const& row) {
        rule_key key{row.text(0), row.text(1), row.text(2)};
        auto const found = rules_.try_emplace(key);
        rule_feedback& rule = found.first->second;
        if (found.second) {
            rule.rule_id = std::get<0>(key);
            rule.rule_set = {std::get<1>(key), std::get<2>(key)};
        }
        return rule;
    }

    std::map<rule_key, rule_feedback> rules_;
    rule_feedback_report report_;
};

}  // namespace cds::service
