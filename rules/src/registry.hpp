#pragma once
// The registry (registry.def) as tables: the rules in evaluation order with their hooks, rank,
// function and the texts and placeholders they use, and every text the code reads. evaluate()
// runs the rules from here; the loader checks the configuration against it.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace cds::rules {

struct card_draft;
struct rule_context;
struct trace_comparison;
using rule_function = std::optional<card_draft> (*)(rule_context const&);
// The conditions a rule compares, for the explain trace (the rule's `<function>_conditions`).
using rule_conditions_function = std::vector<trace_comparison> (*)(rule_context const&);

// The hooks a rule runs on, one bit per CDS hook.
enum hook_bit : unsigned {
    hook_patient_view = 1U << 0U,
    hook_order_select = 1U << 1U,
    hook_order_sign = 1U << 2U,
};

struct registered_rule {
    std::string_view id;  // the configuration's key and the cards' source.topic code
    unsigned hooks;       // hook_bit set
    int rank;             // tie-break between cards of equal indicator, lower first
    rule_function run;
    rule_conditions_function conditions;
    std::string_view summary_placeholders;  // words: what the rule fills in its summary
    std::string_view texts;                 // words: the "texts" keys the rule reads
};

struct registered_text {
    std::string_view key;           // "digoxin_advice", or "group.member" ("actions.iv")
    std::string_view placeholders;  // words: what the code fills in
};

// In evaluation order.
[[nodiscard]] std::span<registered_rule const> registered_rules();
[[nodiscard]] std::span<registered_text const> registered_texts();
[[nodiscard]] registered_rule const* find_registered_rule(std::string_view id);
[[nodiscard]] registered_text const* find_registered_text(std::string_view key);
// The rule's rank; after every registered rule for an unknown id.
[[nodiscard]] int rule_rank(std::string_view rule_id);

// The bit of a CDS hook name; 0 for a hook no rule answers.
[[nodiscard]] constexpr unsigned hook_bit_of(std::string_view hook) {
    if (hook == "patient-view") return hook_patient_view;
    if (hook == "order-select") return hook_order_select;
    if (hook == "order-sign") return hook_order_sign;
    return 0;
}

// One row of the registry table from a registry.def line. It takes the address of the rule
// function and of its conditions function, so a rule file without either does not link.
#define CDS_REGISTERED_RULE(function, id, hooks, rank, summary_placeholders, texts)  \
    ::cds::rules::registered_rule {                                                  \
        id, ::cds::rules::hook_bits(hooks), rank, &function, &function##_conditions, \
            summary_placeholders, texts                                              \
    }

// ---- words: the name lists of a registry line ("mg severity action") ----

// Calls f(word) for each word separated by spaces.
template <class F>
constexpr void for_each_word(std::string_view words, F&& f) {
    std::size_t pos = 0;
    while (pos < words.size()) {
        if (words[pos] == ' ') {
            ++pos;
            continue;
        }
        std::size_t const end = std::min(words.find(' ', pos), words.size());
        f(words.substr(pos, end - pos));
        pos = end;
    }
}

[[nodiscard]] constexpr bool has_word(std::string_view words, std::string_view word) {
    bool found = false;
    for_each_word(words, [&](std::string_view w) { found = found || w == word; });
    return found;
}

// The hook bits of a registry line's hook names; an unknown name stops the build (a throw is
// not a constant expression).
consteval unsigned hook_bits(std::string_view names) {
    unsigned bits = 0;
    for_each_word(names, [&](std::string_view name) {
        unsigned const bit = hook_bit_of(name);
        if (bit == 0) throw std::logic_error("registry.def: unknown hook name");
        bits |= bit;
    });
    return bits;
}

}  // namespace cds::rules
