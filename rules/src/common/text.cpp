#include "common/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "rule_set_data.hpp"

namespace cds::rules {

std::string concept_words(fhir::codeable_concept const& cc) {
    std::string out = value_set::lower(cc.text);
    for (auto const& c : cc.codings) {
        if (c.display.empty()) continue;
        out += " | ";
        out += value_set::lower(c.display);
    }
    return out;
}

std::string concept_name(fhir::codeable_concept const& cc, std::string_view unnamed) {
    if (!cc.text.empty()) return cc.text;
    for (auto const& c : cc.codings) {
        if (!c.display.empty()) return c.display;
    }
    for (auto const& c : cc.codings) {
        if (!c.code.empty()) return c.code;
    }
    return std::string(unnamed);
}

std::string format_number(double v, int decimals) {
    if (!std::isfinite(v)) return "?";
    // std::to_chars with a precision prints what printf("%.*f") prints (both round the exact
    // binary value), without printf's format parsing; a number too long for the buffer
    // keeps the old, truncating snprintf path.
    char buf[64];
    std::string s;
    if (auto const [end, ec] =
            std::to_chars(buf, buf + sizeof buf - 1, v, std::chars_format::fixed, decimals);
        ec == std::errc{}) {
        s.assign(buf, end);
    } else {
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        s = buf;
    }
    if (s.find('.') != std::string::npos) {
        while (!s.empty() && s.back() == '0') s.pop_back();
        if (!s.empty() && s.back() == '.') s.pop_back();
    }
    if (s == "-0") s = "0";
    return s;
}

std::string format_measurement(double v, int max_decimals) {
    std::string s = format_number(v, max_decimals);
    if (std::isfinite(v) && std::fabs(v) < 10 && max_decimals > 0 &&
        s.find('.') == std::string::npos)
        s += ".0";
    return s;
}

std::string format_computed(double v) {
    std::string s = format_number(v, 1);
    if (std::isfinite(v) && s.find('.') == std::string::npos) s += ".0";
    return s;
}

std::string fill(std::string_view tpl, template_values const& values) {
    std::string out;
    out.reserve(tpl.size() + 32);
    std::size_t i = 0;
    while (i < tpl.size()) {
        // The text up to the next '{' goes over whole; a '{' names a value or stands for itself.
        std::size_t const open = tpl.find('{', i);
        if (open == std::string_view::npos) {
            out.append(tpl.substr(i));
            break;
        }
        out.append(tpl.substr(i, open - i));
        i = open;
        std::size_t const close = tpl.find('}', open);
        if (close != std::string_view::npos) {
            std::string_view const name = tpl.substr(open + 1, close - open - 1);
            auto const value = std::find_if(values.begin(), values.end(),
                                            [name](auto const& v) { return v.first == name; });
            if (value != values.end()) {
                out += value->second;
                i = close + 1;
                continue;
            }
        }
        out += '{';
        ++i;
    }
    return out;
}

std::string clip_summary(std::string s) {
    constexpr std::size_t limit = 139;
    if (s.size() <= limit) return s;
    // Whole words only, never an ellipsis (CLINICAL-BASIS.md §5): drop the words past the limit.
    std::size_t cut = s.rfind(' ', limit);
    if (cut == std::string::npos || cut == 0) cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s.resize(cut);
    while (!s.empty() && (s.back() == ' ' || s.back() == ',' || s.back() == ';' || s.back() == ':'))
        s.pop_back();
    if (s.size() >= 3 && s.compare(s.size() - 3, 3, "\xE2\x80\x94") == 0) s.resize(s.size() - 3);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

std::string comparator_text(fhir::quantity_comparator c) {
    switch (c) {
        case fhir::quantity_comparator::less:
            return "<";
        case fhir::quantity_comparator::less_or_equal:
            return "<=";
        case fhir::quantity_comparator::greater_or_equal:
            return ">=";
        case fhir::quantity_comparator::greater:
            return ">";
        case fhir::quantity_comparator::none:
            break;
    }
    return "";
}

}  // namespace cds::rules
