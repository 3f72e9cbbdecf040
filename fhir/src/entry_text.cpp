#include "entry_text.hpp"

namespace cds::fhir::entry_text {

namespace text = json_text;

bool text_reader::skip_value() {
    if (p_ == end_) return false;
    switch (*p_) {
        case '{':
            return object([this](std::string_view) { return skip_value(); });
        case '[':
            return array([this] { return skip_value(); });
        case '"': {
            ++p_;
            std::string_view value;
            return text::read_string(p_, end_, value, value_buffer_) != text::string_kind::declined;
        }
        case 't':
            return text::read_literal(p_, end_, "true");
        case 'f':
            return text::read_literal(p_, end_, "false");
        case 'n':
            return null();
        default:
            return text::read_number(p_, end_).has_value();
    }
}

// search.mode "outcome" marks an entry that is not patient data: the general path skips it.
bool text_reader::search() {
    if (p_ == end_ || *p_ != '{') return skip_value();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name != "mode") return skip_value();
        if (!seen.first(0)) return false;
        if (p_ == end_ || *p_ != '"') return skip_value();
        std::optional<std::string_view> mode;
        return string_view_value(mode) && mode != "outcome";
    });
}

// The text's bytes, or value_buffer_'s when it had escapes (good until the next string value
// is read).
bool text_reader::string_view_value(std::optional<std::string_view>& out) {
    if (at_null()) return null();
    if (p_ == end_ || *p_ != '"') return false;
    ++p_;
    std::string_view value;
    if (text::read_string(p_, end_, value, value_buffer_) == text::string_kind::declined)
        return false;
    out = value;
    return true;
}

bool text_reader::string(std::string& out) {
    std::optional<std::string_view> value;
    if (!string_view_value(value)) return false;
    if (value) out.assign(value->data(), value->size());
    return true;
}

bool text_reader::optional_string(std::optional<std::string>& out) {
    std::optional<std::string_view> value;
    if (!string_view_value(value)) return false;
    if (value) out.emplace(value->data(), value->size());
    return true;
}

// number_member: an integer or a finite double.
bool text_reader::number(std::optional<double>& out) {
    if (at_null()) return null();
    auto const n = text::read_number(p_, end_);
    if (!n) return false;
    double const v = n->is_integer ? static_cast<double>(n->integer) : n->real;
    if (!std::isfinite(v)) return false;
    out = v;
    return true;
}

bool text_reader::boolean(std::optional<bool>& out) {
    if (at_null()) return null();
    if (p_ != end_ && *p_ == 't') {
        if (!text::read_literal(p_, end_, "true")) return false;
        out = true;
        return true;
    }
    if (!text::read_literal(p_, end_, "false")) return false;
    out = false;
    return true;
}

// date_time_member: a dateTime without an offset would be a warning there.
bool text_reader::date_time_value(std::optional<date_time>& out) {
    std::optional<std::string_view> written;
    if (!string_view_value(written)) return false;
    if (!written) return true;
    auto parsed = parse_date_time(*written);
    if (!parsed.value) return false;
    if (parsed.value->time_without_offset()) return false;
    out = *parsed.value;
    return true;
}

bool text_reader::period_value(std::optional<period>& out) {
    if (at_null()) return null();
    auto& p = out.emplace();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "start") return seen.first(0) && date_time_value(p.start);
        if (name == "end") return seen.first(1) && date_time_value(p.end);
        return skip_value();
    });
}

// read_codeable_concept: `coding` is an array of Coding objects, or one Coding object.
bool text_reader::codeable_concept_value(codeable_concept& out) {
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "text") return seen.first(0) && string(out.text);
        if (name != "coding") return skip_value();
        if (!seen.first(1)) return false;
        if (at_null()) return null();
        return items([&] { return coding_value(out.codings.emplace_back()); });
    });
}

bool text_reader::coding_value(coding& out) {
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "system") return seen.first(0) && string(out.system);
        if (name == "code") return seen.first(1) && string(out.code);
        if (name == "display") return seen.first(2) && string(out.display);
        return skip_value();
    });
}

// read_quantity, without a comparator (the general path reads and reports those).
bool text_reader::quantity_value(std::optional<quantity>& out) {
    if (at_null()) return null();
    auto& q = out.emplace();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "unit") return seen.first(0) && string(q.unit);
        if (name == "system") return seen.first(1) && string(q.system);
        if (name == "code") return seen.first(2) && string(q.code);
        if (name == "comparator") return seen.first(3) && at_null() && null();
        if (name == "value") return seen.first(4) && number(q.value);
        return skip_value();
    });
}

// read_reference: the reference text and display, made into a reference.
bool text_reader::reference_value(std::optional<reference>& out) {
    if (at_null()) return null();
    seen_members seen;
    std::string written;
    std::string display;
    bool const read = object([&](std::string_view name) {
        if (name == "reference") return seen.first(0) && string(written);
        if (name == "display") return seen.first(1) && string(display);
        return skip_value();
    });
    if (!read) return false;
    out = make_reference(written, display);
    return true;
}

// read_subject: the reference text; a display that is not a string would be an issue.
bool text_reader::subject_value(std::string& out) {
    if (at_null()) return null();
    seen_members seen;
    std::optional<std::string_view> display;
    return object([&](std::string_view name) {
        if (name == "reference") return seen.first(0) && string(out);
        if (name == "display") return seen.first(1) && string_view_value(display);
        return skip_value();
    });
}

}  // namespace cds::fhir::entry_text
