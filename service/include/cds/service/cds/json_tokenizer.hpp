#pragma once
// The request reader's tokenizer, for a body held whole in memory. It gives a
// boost::json::basic_parser handler the same events, with the same values, as basic_parser
// does, and lets the handler read the values it asks for (a prefetch Bundle's entries) from
// the text itself, in one go: fhir::read_observation_entry, or tape_builder::read_text.
//
// Why not basic_parser alone: basic_parser is built to be resumed at any byte, since a
// stream arrives in pieces, and it delivers a Bundle entry token by token to the handler,
// which builds what it keeps of it. Here the body is whole, and the entries are almost all of
// it: reading each one straight from the text skips a handler call per token.
//
// It is not a second JSON parser with its own idea of what is valid. It accepts only the
// json_text.hpp subset of what basic_parser accepts and declines the rest (a syntax error,
// trailing data, a number it cannot convert as basic_parser does, a lone surrogate escape,
// nesting near the depth limit). The caller then reads the body again with basic_parser,
// which gives the answer, errors and their positions included.
//
// Handler events never sent: on_*_part (strings and numbers arrive whole) and comments.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "cds/fhir/json_text.hpp"

namespace cds::service {

enum class tokenize_outcome {
    complete,  // the whole text was read and every event handled
    stopped,   // the handler returned false (its error code says why)
    declined,  // the text is outside the subset: read it with basic_parser
};

// What the handler's read_next_value did with the value it was given.
enum class value_read_outcome { read, declined, stopped };

// True when the tokenizer reads `text` to its end, its handler keeping nothing: the cost of
// checking a body's JSON alone, as the benchmarks time it (evaluate_bench's tokenize column,
// the `tokenized` stage stop of bench_stage_stops.hpp). Out of line, so that a caller's loop
// cannot have it optimised away.
[[nodiscard]] bool tokenizes_whole(std::string_view text, unsigned max_depth);

// Handler: a basic_parser handler, plus
//   bool reads_next_value() const;  // the handler reads the next value itself
//   value_read_outcome read_next_value(char const*& at, char const* end, std::size_t max_open,
//                                boost::system::error_code& ec);
template <class Handler>
class json_tokenizer {
public:
    // Containers nested deeper than this, or than the caller's limit, are left to basic_parser.
    static constexpr unsigned max_nesting = 128;

    json_tokenizer(Handler& handler, unsigned max_depth)
        : handler_(handler), max_depth_(max_depth < max_nesting ? max_depth : max_nesting) {}

    // Reads `text` whole. `ec` is the handler's error code when it stops.
    tokenize_outcome read(std::string_view text, boost::system::error_code& ec);

private:
    enum class step { value, after_value, declined, stopped };

    step value(boost::system::error_code& ec);
    step after_value(boost::system::error_code& ec);
    step open(bool is_object, boost::system::error_code& ec);
    step close(bool is_object, boost::system::error_code& ec);
    step member_name(boost::system::error_code& ec);
    step string(boost::system::error_code& ec);
    step number(boost::system::error_code& ec);
    step literal(std::string_view word, boost::system::error_code& ec);
    step read_by_handler(boost::system::error_code& ec);
    void skip_whitespace() { p_ = fhir::json_text::skip_whitespace(p_, end_); }
    static step handled(bool ok) { return ok ? step::after_value : step::stopped; }

    Handler& handler_;
    unsigned max_depth_;
    char const* p_ = nullptr;
    char const* end_ = nullptr;
    unsigned depth_ = 0;                             // open containers
    std::array<bool, max_nesting> is_object_{};      // per open container
    std::array<std::size_t, max_nesting> counts_{};  // its members or elements so far
    std::string unescaped_;
};

template <class Handler>
tokenize_outcome json_tokenizer<Handler>::read(std::string_view text,
                                               boost::system::error_code& ec) {
    p_ = text.data();
    end_ = text.data() + text.size();
    depth_ = 0;
    if (!handler_.on_document_begin(ec)) return tokenize_outcome::stopped;
    skip_whitespace();
    step s = value(ec);
    while (s == step::value || (s == step::after_value && depth_ > 0))
        s = s == step::value ? value(ec) : after_value(ec);
    if (s == step::stopped) return tokenize_outcome::stopped;
    if (s == step::declined) return tokenize_outcome::declined;
    skip_whitespace();
    if (p_ != end_) return tokenize_outcome::declined;  // trailing data
    return handler_.on_document_end(ec) ? tokenize_outcome::complete : tokenize_outcome::stopped;
}

// A value starts at p_ (whitespace skipped).
template <class Handler>
auto json_tokenizer<Handler>::value(boost::system::error_code& ec) -> step {
    if (p_ == end_) return step::declined;
    if (handler_.reads_next_value()) return read_by_handler(ec);
    switch (*p_) {
        case '{':
            return open(true, ec);
        case '[':
            return open(false, ec);
        case '"':
            return string(ec);
        case 't':
            return literal("true", ec);
        case 'f':
            return literal("false", ec);
        case 'n':
            return literal("null", ec);
        default:
            return number(ec);
    }
}

// After a value in a container: its next member or element, or its end.
template <class Handler>
auto json_tokenizer<Handler>::after_value(boost::system::error_code& ec) -> step {
    skip_whitespace();
    if (p_ == end_) return step::declined;
    bool const in_object = is_object_[depth_ - 1];
    if (*p_ == ',') {
        ++p_;
        ++counts_[depth_ - 1];
        skip_whitespace();
        return in_object ? member_name(ec) : step::value;
    }
    if (*p_ != (in_object ? '}' : ']')) return step::declined;
    ++p_;
    return close(in_object, ec);
}

template <class Handler>
auto json_tokenizer<Handler>::open(bool is_object, boost::system::error_code& ec) -> step {
    if (depth_ + 1 >= max_depth_) return step::declined;
    ++p_;
    if (!(is_object ? handler_.on_object_begin(ec) : handler_.on_array_begin(ec)))
        return step::stopped;
    is_object_[depth_] = is_object;
    counts_[depth_] = 0;
    ++depth_;
    skip_whitespace();
    if (p_ == end_) return step::declined;
    if (*p_ == (is_object ? '}' : ']')) {
        ++p_;
        return close(is_object, ec);
    }
    counts_[depth_ - 1] = 1;
    return is_object ? member_name(ec) : step::value;
}

template <class Handler>
auto json_tokenizer<Handler>::close(bool is_object, boost::system::error_code& ec) -> step {
    --depth_;
    std::size_t const n = counts_[depth_];
    return handled(is_object ? handler_.on_object_end(n, ec) : handler_.on_array_end(n, ec));
}

// A member name and its colon at p_; then its value.
template <class Handler>
auto json_tokenizer<Handler>::member_name(boost::system::error_code& ec) -> step {
    std::string_view name;
    if (fhir::json_text::read_member_name(p_, end_, name, unescaped_) ==
        fhir::json_text::string_kind::declined)
        return step::declined;
    if (!handler_.on_key({name.data(), name.size()}, name.size(), ec)) return step::stopped;
    return step::value;
}

template <class Handler>
auto json_tokenizer<Handler>::string(boost::system::error_code& ec) -> step {
    ++p_;
    std::string_view text;
    if (fhir::json_text::read_string(p_, end_, text, unescaped_) ==
        fhir::json_text::string_kind::declined)
        return step::declined;
    return handled(handler_.on_string({text.data(), text.size()}, text.size(), ec));
}

template <class Handler>
auto json_tokenizer<Handler>::number(boost::system::error_code& ec) -> step {
    char const* const begin = p_;
    auto const n = fhir::json_text::read_number(p_, end_);
    if (!n) return step::declined;
    boost::json::string_view const text{begin, static_cast<std::size_t>(p_ - begin)};
    return handled(n->is_integer ? handler_.on_int64(n->integer, text, ec)
                                 : handler_.on_double(n->real, text, ec));
}

template <class Handler>
auto json_tokenizer<Handler>::literal(std::string_view word, boost::system::error_code& ec)
    -> step {
    if (!fhir::json_text::read_literal(p_, end_, word)) return step::declined;
    if (word[0] == 'n') return handled(handler_.on_null(ec));
    return handled(handler_.on_bool(word[0] == 't', ec));
}

// A value the handler reads from the text itself. Its containers
// count towards the depth limit as the others do.
template <class Handler>
auto json_tokenizer<Handler>::read_by_handler(boost::system::error_code& ec) -> step {
    std::size_t const max_open = depth_ + 1 < max_depth_ ? max_depth_ - 1 - depth_ : 0;
    switch (handler_.read_next_value(p_, end_, max_open, ec)) {
        case value_read_outcome::read:
            return step::after_value;
        case value_read_outcome::stopped:
            return step::stopped;
        case value_read_outcome::declined:
            break;
    }
    return step::declined;
}

}  // namespace cds::service
