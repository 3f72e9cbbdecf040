// Look-ups in the loaded configuration: code lists compiled for membership tests, and the
// rule set data's accessors by name.

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "rule_set_data.hpp"

namespace cds::rules {

// ---- code_lookup ------------------------------------------------------------------------

void code_lookup::add_to(table& t,
                         std::string_view system_uri,
                         std::string_view code,
                         std::uint64_t bits) {
    auto it = t.find(code);
    if (it == t.end()) it = t.emplace(std::string(code), std::vector<system_bits>{}).first;
    for (auto& e : it->second) {
        if (e.system == system_uri) {
            e.bits |= bits;
            return;
        }
    }
    it->second.push_back({std::string(system_uri), bits});
}

std::uint64_t code_lookup::find_in(table const& t,
                                   std::string_view system_uri,
                                   std::string_view code) {
    auto it = t.find(code);
    if (it == t.end()) return 0;
    std::uint64_t bits = 0;
    for (auto const& e : it->second) {
        if (e.system == system_uri) bits |= e.bits;
    }
    return bits;
}

void code_lookup::add(std::string_view system_uri,
                      std::string_view code,
                      bool prefix,
                      std::uint64_t bits) {
    if (prefix) {
        add_to(prefixes_, system_uri, code, bits);
        if (std::find(prefix_lengths_.begin(), prefix_lengths_.end(), code.size()) ==
            prefix_lengths_.end()) {
            prefix_lengths_.push_back(code.size());
        }
    } else {
        add_to(exact_, system_uri, code, bits);
    }
}

std::uint64_t code_lookup::match(fhir::coding const& c) const {
    if (c.code.empty() || c.system.empty()) return 0;
    std::string_view const code = c.code;
    std::uint64_t bits = find_in(exact_, c.system, code);
    for (std::size_t len : prefix_lengths_) {
        if (code.size() < len) continue;
        bits |= find_in(prefixes_, c.system, code.substr(0, len));
    }
    return bits;
}

std::uint64_t code_lookup::match_any(fhir::codeable_concept const& cc) const {
    std::uint64_t bits = 0;
    for (auto const& c : cc.codings) bits |= match(c);
    return bits;
}

// ---- value_set -------------------------------------------------------------------------

std::string value_set::lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

void value_set::add_code(std::string_view system_uri, std::string_view code, bool prefix) {
    lookup_.add(system_uri, code, prefix, 1);
    codes_.push_back({std::string(system_uri), std::string(code), prefix});
}

namespace {
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Terms of this many letters or more also match inside a longer word ("dialysis" in
// "hemodialysis"); shorter ones (`im`, `po`, `tab`) only as whole words (CLINICAL-BASIS.md §7
// "Text matching").
constexpr std::size_t letters_to_match_inside_words = 5;

bool matches_inside_words(std::string_view term) {
    auto const letters = std::count_if(term.begin(), term.end(), [](char c) {
        return std::isalpha(static_cast<unsigned char>(c)) != 0 ||
               static_cast<unsigned char>(c) >= 0x80;
    });
    return static_cast<std::size_t>(letters) >= letters_to_match_inside_words;
}

}  // namespace

value_set::text_term value_set::text_term::of(std::string_view word) {
    text_term term{lower(word)};
    term.inside_words = matches_inside_words(term.lowered);
    return term;
}

// True when the term occurs in `text` with no letter or digit directly before or after it, or
// anywhere in `text` when it is long enough to match inside a word.
bool value_set::text_term::found_in(std::string_view text) const {
    std::string_view const word = lowered;
    if (word.empty()) return false;
    if (inside_words) return text.find(word) != std::string_view::npos;
    for (std::size_t pos = text.find(word); pos != std::string_view::npos;
         pos = text.find(word, pos + 1)) {
        bool const left_ok =
            pos == 0 || !is_word_char(text[pos - 1]) || !is_word_char(word.front());
        std::size_t const end = pos + word.size();
        bool const right_ok =
            end >= text.size() || !is_word_char(text[end]) || !is_word_char(word.back());
        if (left_ok && right_ok) return true;
    }
    return false;
}

bool value_set::matches_text(std::string_view lowered) const {
    if (lowered.empty()) return false;
    auto const found_in_text = [&](text_term const& term) { return term.found_in(lowered); };
    if (!std::any_of(text_.begin(), text_.end(), found_in_text)) return false;
    return std::none_of(exclude_.begin(), exclude_.end(), found_in_text);
}

value_set const& rule_set_data::vs(std::string_view name) const {
    auto it = value_sets.find(name);
    if (it == value_sets.end())
        throw std::logic_error("value set not loaded: " + std::string(name));
    return it->second;
}

rule_text const& rule_set_data::rule(std::string_view rule_id) const {
    auto it = rule_texts.find(rule_id);
    if (it == rule_texts.end())
        throw std::logic_error("rule text not loaded: " + std::string(rule_id));
    return it->second;
}

std::string const& rule_set_data::text(std::string_view key) const {
    auto it = texts.find(key);
    if (it == texts.end()) throw std::logic_error("text not loaded: " + std::string(key));
    return it->second;
}

}  // namespace cds::rules
