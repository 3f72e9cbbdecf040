// Harness (i): the request reader's whole-body tokenizer (json_tokenizer.hpp) and
// tape_builder::read_text (json_tape.hpp) against boost::json::basic_parser, on any bytes.
// Properties:
//  - what the tokenizer reads to the end, basic_parser accepts, with the same events in the
//    same order and the same values (strings byte for byte, numbers' kinds and bits);
//  - what basic_parser refuses, the tokenizer declines (it never judges a body alone);
//  - the elements of a top-level array go through read_text, as a Bundle's entries do, and
//    their tapes replay as the same events;
//  - a whole text that read_text lays out is accepted by basic_parser, with the same events,
//    and its tape is the one the builder's event methods make from basic_parser's events,
//    node for node (member and element counts, spans and name tags included), with the same
//    facts (repeated member, resource count, too large); so is each element's tape.
// Input: raw bytes, taken as a JSON text. Byte-level mutation only (no JSON mutator): the
// tokenizer's edges are in the bytes.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/service/cds/json_tokenizer.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr char const* harness = "json_tokenizer";
constexpr unsigned max_depth = 64;

using boost::system::error_code;
namespace json = boost::json;
namespace fhir = cds::fhir;
namespace service = cds::service;

// Appends one event per value to a log: a letter, and the value's bytes or bits.
struct event_log {
    std::string text;
    void add(char what, std::string_view bytes) {
        text += what;
        text += std::to_string(bytes.size());
        text += ':';
        text.append(bytes.data(), bytes.size());
    }
    void add_bits(char what, std::uint64_t bits) { add(what, std::to_string(bits)); }
};

void replay(fhir::tape_node const& node, event_log& log);
enum class reals { compared, not_compared };
void check_same_tape_as_events(std::string_view text,
                               fhir::tape_builder const& laid_out,
                               reals compare_reals);

// The sizes a basic_parser handler declares: Boost.JSON's own.
struct boost_json_limits {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();
};

// The basic_parser handler, used by both readers.
class recorder : public boost_json_limits {
public:
    explicit recorder(bool tape_array_elements = false) : tape_elements_(tape_array_elements) {}

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) { return open('{'); }
    bool on_object_end(std::size_t, error_code&) { return close('}'); }
    bool on_array_begin(error_code&) { return open('['); }
    bool on_array_end(std::size_t, error_code&) { return close(']'); }
    bool on_key_part(json::string_view s, std::size_t, error_code&) { return part(s); }
    bool on_key(json::string_view s, std::size_t, error_code&) { return whole('k', s); }
    bool on_string_part(json::string_view s, std::size_t, error_code&) { return part(s); }
    bool on_string(json::string_view s, std::size_t, error_code&) { return whole('s', s); }
    bool on_number_part(json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, error_code&) {
        log.add_bits('i', static_cast<std::uint64_t>(i));
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, error_code&) {
        log.add_bits('u', u);
        return true;
    }
    bool on_double(double d, json::string_view, error_code&) {
        log.add_bits('d', std::bit_cast<std::uint64_t>(d));
        return true;
    }
    bool on_bool(bool b, error_code&) {
        log.add('b', b ? "1" : "0");
        return true;
    }
    bool on_null(error_code&) {
        log.add('n', {});
        return true;
    }
    bool on_comment_part(json::string_view, error_code&) { return true; }
    bool on_comment(json::string_view, error_code&) { return true; }

    // json_tokenizer's tape hooks: the elements of a top-level array, when asked.
    [[nodiscard]] bool reads_next_value() const {
        return tape_elements_ && open_.size() == 1 && open_[0] == '[';
    }
    service::value_read_outcome read_next_value(char const*& at,
                                                char const* end,
                                                std::size_t max_open,
                                                error_code&) {
        tape_.clear();
        char const* const start = at;
        if (!tape_.read_text(at, end, max_open, store_))
            return service::value_read_outcome::declined;
        // Cut out of its text, a number may read to other bits: basic_parser takes a
        // fraction's digits differently when fewer than 33 bytes follow (json_text.hpp,
        // read_number). The replay below compares the values as read in the text.
        check_same_tape_as_events({start, static_cast<std::size_t>(at - start)}, tape_,
                                  reals::not_compared);
        replay(tape_.root(), log);
        return service::value_read_outcome::read;
    }

    event_log log;

private:
    bool open(char c) {
        log.add(c, {});
        open_ += c;
        return true;
    }
    bool close(char c) {
        log.add(c, {});
        open_.pop_back();
        return true;
    }
    bool part(json::string_view s) {
        parts_.append(s.data(), s.size());
        return true;
    }
    bool whole(char what, json::string_view s) {
        parts_.append(s.data(), s.size());
        log.add(what, parts_);
        parts_.clear();
        return true;
    }

    bool tape_elements_ = false;
    std::string open_;
    std::string parts_;
    fhir::tape_builder tape_;
    json::monotonic_resource store_;
};

void replay(fhir::tape_node const& node, event_log& log) {
    switch (node.kind()) {
        case json::kind::object:
            log.add('{', {});
            for (auto const member : fhir::members(node)) {
                log.add('k', member.key());
                replay(member.value(), log);
            }
            log.add('}', {});
            break;
        case json::kind::array:
            log.add('[', {});
            for (auto const& element : fhir::elements(node)) replay(element, log);
            log.add(']', {});
            break;
        case json::kind::string:
            log.add('s', node.get_string());
            break;
        case json::kind::int64:
            log.add_bits('i', static_cast<std::uint64_t>(*node.if_int64()));
            break;
        case json::kind::uint64:
            log.add_bits('u', *node.if_uint64());
            break;
        case json::kind::double_:
            log.add_bits('d', std::bit_cast<std::uint64_t>(*node.if_double()));
            break;
        case json::kind::bool_:
            log.add('b', *node.if_bool() ? "1" : "0");
            break;
        case json::kind::null:
            log.add('n', {});
            break;
    }
}

// A basic_parser handler that lays out a tape through the builder's event methods, as the
// request reader does for what it does not read with read_text.
class tape_events : public boost_json_limits {
public:
    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) {
        tape.begin_object();
        return true;
    }
    bool on_object_end(std::size_t, error_code&) {
        tape.end_object();
        return true;
    }
    bool on_array_begin(error_code&) {
        tape.begin_array();
        return true;
    }
    bool on_array_end(std::size_t, error_code&) {
        tape.end_array();
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, error_code&) { return part(s); }
    bool on_key(json::string_view s, std::size_t, error_code&) {
        part(s);
        tape.key(kept());
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, error_code&) { return part(s); }
    bool on_string(json::string_view s, std::size_t, error_code&) {
        part(s);
        tape.string(kept());
        return true;
    }
    bool on_number_part(json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, error_code&) {
        tape.int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, error_code&) {
        tape.uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view, error_code&) {
        tape.real(d);
        return true;
    }
    bool on_bool(bool b, error_code&) {
        tape.boolean(b);
        return true;
    }
    bool on_null(error_code&) {
        tape.null();
        return true;
    }
    bool on_comment_part(json::string_view, error_code&) { return true; }
    bool on_comment(json::string_view, error_code&) { return true; }

    fhir::tape_builder tape;

private:
    bool part(json::string_view s) {
        parts_.append(s.data(), s.size());
        return true;
    }
    std::string_view kept() {
        std::string_view const copy = fhir::copy_into(store_, parts_);
        parts_.clear();
        return copy;
    }
    std::string parts_;
    json::monotonic_resource store_;
};

// Where two tapes first differ: a node's kind, member or element count, span, name tag or
// value (a double's bits only when `compare_reals` says so); nullopt when they are the same.
std::optional<std::size_t> first_difference(fhir::tape_node const& a,
                                            fhir::tape_node const& b,
                                            reals compare_reals) {
    if (a.span() != b.span()) return 0;
    for (std::size_t i = 0; i < a.span(); ++i) {
        fhir::tape_node const& x = (&a)[i];
        fhir::tape_node const& y = (&b)[i];
        bool same = x.kind() == y.kind() && x.size() == y.size() && x.span() == y.span() &&
                    x.tag() == y.tag();
        if (same && x.is_string()) same = x.get_string() == y.get_string();
        if (same && x.if_int64() != nullptr) same = *x.if_int64() == *y.if_int64();
        if (same && x.if_uint64() != nullptr) same = *x.if_uint64() == *y.if_uint64();
        if (same && x.if_double() != nullptr && compare_reals == reals::compared) {
            same = std::bit_cast<std::uint64_t>(*x.if_double()) ==
                   std::bit_cast<std::uint64_t>(*y.if_double());
        }
        if (same && x.if_bool() != nullptr) same = *x.if_bool() == *y.if_bool();
        if (!same) return i;
    }
    return std::nullopt;
}

// read_text's tape against the one the event methods make of the same text.
void check_same_tape_as_events(std::string_view text,
                               fhir::tape_builder const& laid_out,
                               reals compare_reals) {
    json::parse_options options;
    options.max_depth = max_depth;
    json::basic_parser<tape_events> parser(options);
    error_code ec;
    parser.write_some(false, text.data(), text.size(), ec);
    CDS_FUZZ_REQUIRE(harness, !ec, "basic_parser refuses a text it accepted before");
    fhir::tape_builder const& events = parser.handler().tape;
    CDS_FUZZ_REQUIRE(harness, events.complete(), "the events left a container open");
    CDS_FUZZ_REQUIRE(harness, !first_difference(laid_out.root(), events.root(), compare_reals),
                     "read_text's tape differs from the event methods' tape");
    CDS_FUZZ_REQUIRE(harness, laid_out.has_repeated_member() == events.has_repeated_member(),
                     "read_text and the event methods disagree on a repeated member");
    CDS_FUZZ_REQUIRE(harness, laid_out.resource_count() == events.resource_count(),
                     "read_text and the event methods count resources differently");
    CDS_FUZZ_REQUIRE(harness, laid_out.too_large() == events.too_large(),
                     "read_text and the event methods disagree on a too large count");
}

// basic_parser's reading, as the request reader calls it; nullopt when it refuses the text.
std::optional<std::string> boost_events(std::string_view text) {
    json::parse_options options;
    options.max_depth = max_depth;
    json::basic_parser<recorder> parser(options);
    error_code ec;
    std::size_t const consumed = parser.write_some(true, text.data(), text.size(), ec);
    if (!ec && consumed < text.size()) ec = json::error::extra_data;
    if (!ec) parser.write_some(false, nullptr, 0, ec);
    if (ec) return std::nullopt;
    return parser.handler().log.text;
}

void check_tokenizer(std::string_view text,
                     std::optional<std::string> const& expected,
                     bool tape_elements) {
    recorder events(tape_elements);
    service::json_tokenizer<recorder> tokenizer(events, max_depth);
    error_code ec;
    auto const outcome = tokenizer.read(text, ec);
    CDS_FUZZ_REQUIRE(harness, outcome != service::tokenize_outcome::stopped,
                     "the recorder never stops");
    if (outcome == service::tokenize_outcome::declined) return;
    CDS_FUZZ_REQUIRE(harness, expected.has_value(),
                     "the tokenizer read a text that basic_parser refuses");
    CDS_FUZZ_REQUIRE(harness, events.log.text == *expected,
                     "the tokenizer's events differ from basic_parser's");
}

void check_read_text(std::string_view text, std::optional<std::string> const& expected) {
    fhir::tape_builder tape;
    json::monotonic_resource store;
    char const* at = text.data();
    char const* const end = text.data() + text.size();
    if (!tape.read_text(at, end, max_depth - 1, store)) return;
    while (at != end && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t')) ++at;
    if (at != end) return;  // a value followed by more: not a whole text
    CDS_FUZZ_REQUIRE(harness, expected.has_value(),
                     "read_text laid out a text that basic_parser refuses");
    event_log log;
    replay(tape.root(), log);
    CDS_FUZZ_REQUIRE(harness, log.text == *expected, "the tape differs from basic_parser's events");
    check_same_tape_as_events(text, tape, reals::compared);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const text{reinterpret_cast<char const*>(data), size};
    auto const expected = boost_events(text);
    check_tokenizer(text, expected, false);
    check_tokenizer(text, expected, true);
    check_read_text(text, expected);
    return 0;
}
