// `evaluate --explain --format text`: the cards, then the trace grouped by section in words a
// clinical informatics reader follows without the JSON layout, each decision with the values
// and thresholds it compared. Reads the same JSON the service returns.

#include <array>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "cds/service/cds/explain.hpp"

namespace cds::service {

namespace bj = boost::json;

namespace {

std::string text_of(bj::value const* v) {
    return v != nullptr && v->is_string() ? std::string{v->get_string()} : std::string{};
}

std::string number_text(bj::value const& v) {
    if (v.is_int64()) return std::to_string(v.get_int64());
    if (v.is_uint64()) return std::to_string(v.get_uint64());
    if (v.is_double()) {
        std::ostringstream out;
        out << v.get_double();
        return out.str();
    }
    return text_of(&v);
}

void print_cards(bj::array const& cards, std::ostream& out) {
    out << cards.size() << (cards.size() == 1 ? " card" : " cards") << '\n';
    for (auto const& card_value : cards) {
        auto const& card = card_value.as_object();
        out << "\n[" << text_of(card.if_contains("indicator")) << "] "
            << text_of(card.if_contains("summary")) << '\n';
        if (auto detail = text_of(card.if_contains("detail")); !detail.empty()) {
            std::istringstream lines(detail);
            for (std::string line; std::getline(lines, line);) out << "    " << line << '\n';
        }
        if (auto const* suggestions = card.if_contains("suggestions");
            suggestions != nullptr && suggestions->is_array()) {
            for (auto const& s : suggestions->as_array())
                out << "  suggestion: " << text_of(s.as_object().if_contains("label")) << '\n';
        }
    }
}

// "1.1 mg/dL < 1.8 mg/dL: yes" or, for a yes/no condition, "yes".
void print_compared(bj::array const& compared, std::ostream& out) {
    for (auto const& c_value : compared) {
        auto const& c = c_value.as_object();
        auto const unit = text_of(c.if_contains("unit"));
        out << "        " << (c.at("holds").as_bool() ? "[met]     " : "[not met] ")
            << text_of(c.if_contains("what"));
        if (auto const* op = c.if_contains("operator")) {
            auto const* value = c.if_contains("value");
            out << ": " << (value != nullptr ? number_text(*value) + " " + unit : "unknown") << ' '
                << text_of(op) << ' ' << number_text(c.at("threshold")) << ' ' << unit;
        }
        if (auto note = text_of(c.if_contains("note")); !note.empty()) out << " (" << note << ')';
        out << '\n';
    }
}

void print_values(bj::array const& values, std::ostream& out) {
    out << "        ";
    bool first = true;
    for (auto const& v_value : values) {
        auto const& v = v_value.as_object();
        if (!first) out << "; ";
        first = false;
        out << text_of(v.if_contains("name")) << ' ' << number_text(v.at("value"));
        if (auto unit = text_of(v.if_contains("unit")); !unit.empty()) out << ' ' << unit;
    }
    out << '\n';
}

void print_entry(bj::object const& e, std::ostream& out) {
    auto const section = text_of(e.if_contains("section"));
    auto decision = text_of(e.if_contains("decision"));
    if (auto reason = text_of(e.if_contains("reason")); !reason.empty())
        decision += " (" + reason + ")";
    std::string const who = section == "rule" || section == "cards"
                                ? text_of(e.if_contains("rule"))
                                : text_of(e.if_contains("subject"));
    out << "  " << decision << std::string(decision.size() < 22 ? 22 - decision.size() : 1, ' ')
        << who << ": " << text_of(e.if_contains("message")) << '\n';
    bool const rule_section = section == "rule";
    if (auto const* values = e.if_contains("values");
        values != nullptr && values->is_array() && !rule_section)
        print_values(values->as_array(), out);
    if (auto const* compared = e.if_contains("compared");
        compared != nullptr && compared->is_array())
        print_compared(compared->as_array(), out);
}

struct section_heading {
    std::string_view section;
    std::string_view heading;
};
constexpr std::array<section_heading, 9> headings{{
    {"patient", "Patient"},
    {"observation", "Results read (each counted or skipped, and why)"},
    {"magnesium", "Serum magnesium used"},
    {"condition", "Conditions"},
    {"renal", "Kidney function (estimates, inputs, formula, band)"},
    {"data", "Data not available"},
    {"medication", "Medication orders (drug, classes, route, status)"},
    {"rule", "Rules (fired or not, and the values compared)"},
    {"cards", "Cards"},
}};

}  // namespace

void print_explain_text(bj::object const& response, std::ostream& out) {
    print_cards(response.at("cards").as_array(), out);
    auto const& explain = response.at("explain").as_object();
    out << "\nwhy (rule set " << text_of(explain.if_contains("ruleSetId")) << ' '
        << text_of(explain.if_contains("ruleSetVersion")) << ", "
        << text_of(explain.if_contains("hook")) << " at "
        << text_of(explain.if_contains("evaluatedAt")) << "):\n";
    auto const& entries = explain.at("entries").as_array();
    for (auto const& [section, heading] : headings) {
        bool printed_heading = false;
        std::string not_run;
        for (auto const& entry_value : entries) {
            auto const& e = entry_value.as_object();
            if (text_of(e.if_contains("section")) != section) continue;
            if (text_of(e.if_contains("decision")) == "not-run") {
                not_run += (not_run.empty() ? "" : ", ") + text_of(e.if_contains("rule"));
                continue;
            }
            if (!printed_heading) out << '\n' << heading << '\n';
            printed_heading = true;
            print_entry(e, out);
        }
        if (!not_run.empty()) out << "  not run on this hook: " << not_run << '\n';
    }
}

}  // namespace cds::service
