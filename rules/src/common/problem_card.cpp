// One card per problem (CLINICAL-BASIS.md §5): the findings that stem from the current
// hypomagnesemia (the deficiency, and the wasting drugs, potassium and digoxin among the
// triggering orders) become one card with one set of repletion suggestions, and no sentence
// appears on two cards of one response.

#include <algorithm>
#include <cctype>
#include <set>

#include "cards.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "registry.hpp"

namespace cds::rules {

namespace {

// §3.3: treated already is info; otherwise the deficiency's indicator (§7: potassium or
// digoxin beside a severe deficiency is one card, so one indicator).
indicator problem_level(repletion_plan const& plan) {
    if (plan.downgrade_to_info) return indicator::info;
    return plan.severe_path || plan.critical ? indicator::critical : indicator::warning;
}

std::string severity_word(rule_context const& rc) {
    switch (rc.f.magnesium.level) {
        case mg_level::severe:
            return rc.d.text("severity.severe");
        case mg_level::mild_moderate:
            return rc.d.text("severity.mild_moderate");
        case mg_level::high:
            return rc.d.text("severity.high");
        case mg_level::normal:
            break;
    }
    return rc.d.text("severity.normal");
}

// The first symptom in a few lower-case words, without a qualifier in parentheses:
// "Torsades de pointes (disorder)" → "torsades de pointes".
std::string symptom_words(std::string const& label) {
    std::string s = label.substr(0, label.find('('));
    while (!s.empty() && s.back() == ' ') s.pop_back();
    constexpr std::size_t max_chars = 32;
    if (s.size() > max_chars) {
        std::size_t const cut = s.rfind(' ', max_chars);
        s.resize(cut == std::string::npos ? max_chars : cut);
    }
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

// A phrase in the middle of a sentence: "Furosemide" → "furosemide" (an acronym such as "KCl"
// keeps its capitals).
std::string lower_initial(std::string s) {
    if (s.size() > 1 && std::isupper(static_cast<unsigned char>(s[0])) != 0 &&
        std::islower(static_cast<unsigned char>(s[1])) != 0)
        s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

// The drugs as the middle of a summary names them: "with furosemide and 2 more".
std::string drugs_mid_sentence(rule_context const& rc,
                               std::vector<medication_exposure const*> const& drugs) {
    return lower_initial(drug_summary_name(rc, drugs));
}

void add_unique(std::vector<medication_exposure const*>& to,
                std::vector<medication_exposure const*> const& from) {
    for (auto const* e : from) {
        if (std::find(to.begin(), to.end(), e) == to.end()) to.push_back(e);
    }
}

// The parts' drug lines as one markdown list: one line per drug (§5).
std::string drug_lines(std::vector<card_draft> const& parts) {
    std::string out;
    for (auto const& p : parts) {
        for (auto const& line : p.detail) {
            if (line.empty()) continue;
            if (!out.empty()) out += '\n';
            out += "- " + line;
        }
    }
    return out;
}

// The card of the current hypomagnesemia from its parts, which are in evaluation order.
card_draft compose_hypomagnesemia(std::vector<card_draft> parts, rule_context const& rc) {
    // The primary trigger is the part of the lowest rank; its rule is the card's rule.
    std::stable_sort(parts.begin(), parts.end(), [](card_draft const& a, card_draft const& b) {
        return rule_rank(a.rule_id) < rule_rank(b.rule_id);
    });
    repletion_plan const& plan = rc.repletion();
    card_draft c;
    c.rule_id = parts.front().rule_id;
    c.part_of = problem::current_hypomagnesemia;  // the composed card of that problem
    c.sort_key = parts.front().sort_key;
    c.level = problem_level(plan);
    std::vector<medication_exposure const*> drugs;
    for (auto const& p : parts) add_unique(drugs, p.drugs);
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"mg", mg_summary_finding(rc)},
                                                    {"drug", drugs_mid_sentence(rc, drugs)},
                                                    {"action", plan.action}});
    // The recommendation first, then the evidence (§5).
    for (auto const& n : plan.notes) c.detail.push_back(n);
    c.detail.push_back(drug_lines(parts));
    c.detail.push_back(mg_evidence(rc) + " " + mg_thresholds(rc));
    for (auto& s : coexisting_text(rc)) c.detail.push_back(std::move(s));
    c.detail.push_back(renal_text(rc));
    for (auto& p : parts) {
        for (auto& s : p.suggestions) c.suggestions.push_back(std::move(s));
        for (auto& s : p.companions) c.companions.push_back(std::move(s));
        if (rc.trace) c.joined_rules.push_back(std::move(p.rule_id));
    }
    c.references = evidence_references(rc, drugs);
    c.wants = shared_suggestion::repletion;
    if (rc.trace) {
        std::string rules;
        for (auto const& r : c.joined_rules) rules += (rules.empty() ? "" : ", ") + r;
        rc.note("evaluate", c.rule_id, "one card for the current hypomagnesemia (", rules, ")");
    }
    return c;
}

// A sentence as the card checker compares them: without markdown emphasis.
std::string plain(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        if (ch != '*' && ch != '_' && ch != '`') out.push_back(ch);
    }
    auto const first = out.find_first_not_of(" -");
    if (first == std::string::npos) return {};
    out.erase(0, first);
    while (out.back() == ' ') out.pop_back();
    return out;
}

// Words as the card checker counts them: runs without spaces that hold a letter or digit.
// Emphasis marks and leading dashes hold none, so a sentence and its plain() form count alike.
std::size_t word_count(std::string_view s) {
    std::size_t n = 0;
    bool counted = false;
    for (char ch : s) {
        if (ch == ' ' || ch == '\n') {
            counted = false;
        } else if (!counted && std::isalnum(static_cast<unsigned char>(ch)) != 0) {
            ++n;
            counted = true;
        }
    }
    return n;
}

// The block without the sentences already seen; a sentence ends at ". ", "! ", "? " or a
// line break. Sentences of fewer than four words ("Kidney function: normal.") may recur.
std::string without_seen(std::string const& block, std::set<std::string>& seen) {
    std::string out;
    out.reserve(block.size());
    std::string_view const text = block;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = start;
        while (end < text.size() && text[end] != '\n' &&
               !((text[end] == '.' || text[end] == '!' || text[end] == '?') &&
                 end + 1 < text.size() && (text[end + 1] == ' ' || text[end + 1] == '\n')))
            ++end;
        if (end < text.size() && text[end] != '\n') ++end;  // keep the full stop
        std::size_t next = end;
        while (next < text.size() && (text[next] == ' ' || text[next] == '\n')) ++next;
        std::string_view const sentence = text.substr(start, end - start);
        bool const repeated = word_count(sentence) >= 4 && !seen.insert(plain(sentence)).second;
        if (!repeated) out.append(text.substr(start, next - start));
        start = next;
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
    return out;
}

}  // namespace

std::string mg_summary_finding(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& r = *f.magnesium.latest;
    std::string s = comparator_text(r.comparator) + format_measurement(r.reported_value, 3) + " " +
                    format_unit(r.reported_unit);
    std::vector<std::string> notes;
    if (value_set::lower(r.reported_unit) != "mg/dl") notes.push_back(mg_value_text(r) + " mg/dL");
    notes.push_back(severity_word(rc));
    if (r.preliminary) notes.push_back(rc.d.text("preliminary"));
    if (f.symptomatic && f.magnesium.low() && !f.symptoms.empty()) {
        notes.push_back(fill(rc.d.text("with_symptom"),
                             {{"symptom", symptom_words(f.symptoms.front().label)}}));
    }
    std::string joined;
    for (auto const& n : notes) joined += (joined.empty() ? "" : ", ") + n;
    return s + " (" + joined + ")";
}

void compose_problem_cards(std::vector<card_draft>& cards, rule_context const& rc) {
    std::vector<card_draft> parts;
    std::vector<card_draft> rest;
    for (auto& c : cards) {
        if (c.part_of == problem::current_hypomagnesemia)
            parts.push_back(std::move(c));
        else
            rest.push_back(std::move(c));
    }
    if (!parts.empty()) rest.push_back(compose_hypomagnesemia(std::move(parts), rc));
    cards = std::move(rest);
}

void add_companions(card_draft& card, rule_context const& rc) {
    if (card.companions.empty()) return;
    if (card.suggestions.empty()) {
        card.suggestions = std::move(card.companions);
        card.companions.clear();
        return;
    }
    for (auto& s : card.suggestions) {
        for (auto const& companion : card.companions) {
            s.label += " + " + lower_initial(companion.label);
            for (auto const& a : companion.actions) s.actions.emplace_back(a, rc.json_storage);
        }
    }
    card.companions.clear();
}

void drop_repeated_sentences(std::vector<card_draft>& cards) {
    std::set<std::string> seen;
    for (auto& c : cards) {
        for (auto& block : c.detail) block = without_seen(block, seen);
    }
}

}  // namespace cds::rules
