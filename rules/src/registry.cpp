#include "registry.hpp"

#include <algorithm>
#include <climits>

#include "cards.hpp"

namespace cds::rules {

namespace {

constexpr registered_rule rule_table[] = {
#define CDS_RULE(...) CDS_REGISTERED_RULE(__VA_ARGS__),
#include "registry.def"
};

constexpr registered_text text_table[] = {
#define CDS_TEXT(key, placeholders) {key, placeholders},
#include "registry.def"
};

// ---- the registry's own consistency, checked when it is compiled ----

consteval bool rule_ids_and_ranks_unique() {
    for (std::size_t i = 0; i < std::size(rule_table); ++i) {
        for (std::size_t j = i + 1; j < std::size(rule_table); ++j) {
            if (rule_table[i].id == rule_table[j].id || rule_table[i].rank == rule_table[j].rank)
                return false;
        }
    }
    return true;
}
static_assert(rule_ids_and_ranks_unique(), "registry.def: two rules share an id or a rank");

consteval bool every_rule_runs_somewhere() {
    return std::all_of(std::begin(rule_table), std::end(rule_table),
                       [](auto const& r) { return r.hooks != 0; });
}
static_assert(every_rule_runs_somewhere(), "registry.def: a rule names no hook");

consteval bool text_keys_unique() {
    for (std::size_t i = 0; i < std::size(text_table); ++i) {
        for (std::size_t j = i + 1; j < std::size(text_table); ++j) {
            if (text_table[i].key == text_table[j].key) return false;
        }
    }
    return true;
}
static_assert(text_keys_unique(), "registry.def: a text is listed twice");

consteval bool rule_texts_listed() {
    bool listed = true;
    for (auto const& r : rule_table) {
        for_each_word(r.texts, [&](std::string_view key) {
            listed = listed && std::any_of(std::begin(text_table), std::end(text_table),
                                           [&](registered_text const& t) { return t.key == key; });
        });
    }
    return listed;
}
static_assert(rule_texts_listed(), "registry.def: a rule reads a text that has no CDS_TEXT line");

}  // namespace

std::span<registered_rule const> registered_rules() { return rule_table; }
std::span<registered_text const> registered_texts() { return text_table; }

registered_rule const* find_registered_rule(std::string_view id) {
    auto const it = std::find_if(std::begin(rule_table), std::end(rule_table),
                                 [&](auto const& r) { return r.id == id; });
    return it == std::end(rule_table) ? nullptr : &*it;
}

registered_text const* find_registered_text(std::string_view key) {
    auto const it = std::find_if(std::begin(text_table), std::end(text_table),
                                 [&](auto const& t) { return t.key == key; });
    return it == std::end(text_table) ? nullptr : &*it;
}

int rule_rank(std::string_view rule_id) {
    auto const* r = find_registered_rule(rule_id);
    return r ? r->rank : INT_MAX;
}

}  // namespace cds::rules
