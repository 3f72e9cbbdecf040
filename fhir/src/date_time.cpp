#include "cds/fhir/date_time.hpp"

#include <array>
#include <cstddef>

namespace cds::fhir {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `count` decimal digits at `pos`.
bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (!is_digit(text[i])) return false;
        value = value * 10 + (text[i] - '0');
    }
    out = value;
    return true;
}

std::string two_digits(int v) {
    std::string out(2, '0');
    out[0] = static_cast<char>('0' + (v / 10) % 10);
    out[1] = static_cast<char>('0' + v % 10);
    return out;
}

date_time_parse_result failure(std::string message) { return {std::nullopt, std::move(message)}; }

date_time_parse_result success(instant start, date_precision precision, bool has_time_zone) {
    return {date_time{start, precision, has_time_zone}, {}};
}

// Writes `value` as `width` zero-padded digits at `out`.
char* put_digits(char* out, long long value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return out + width;
}

// YYYY-MM-DD of a day. FHIR years are 0001..9999; an instant computed from one may fall
// outside (e.g. year 0 after an offset), so other years are written in full, signed.
char* put_date(char* out, date::year_month_day ymd) {
    long long year = static_cast<int>(ymd.year());
    if (year < 0) {
        *out++ = '-';
        year = -year;
    }
    int width = 4;
    for (long long rest = year / 10000; rest > 0; rest /= 10) ++width;
    out = put_digits(out, year, width);
    *out++ = '-';
    out = put_digits(out, static_cast<unsigned>(ymd.month()), 2);
    *out++ = '-';
    return put_digits(out, static_cast<unsigned>(ymd.day()), 2);
}

}  // namespace

instant date_time::end() const {
    switch (precision) {
        case date_precision::year: {
            auto const ymd = date::year_month_day{date::floor<date::days>(start)};
            return date::sys_days{(ymd.year() + date::years{1}) / date::January / 1};
        }
        case date_precision::month: {
            auto const ymd = date::year_month_day{date::floor<date::days>(start)};
            return date::sys_days{(ymd.year() / ymd.month() + date::months{1}) / 1};
        }
        case date_precision::day:
            return start + date::days{1};
        case date_precision::second:
            break;
    }
    return start + milliseconds{1};
}

namespace {

// Fractional seconds from `pos` (just after the '.'), advancing `pos` past them. Any number
// of digits is valid; the model keeps milliseconds. False when no digit follows the point.
bool read_fraction(std::string_view text, std::size_t& pos, long long& millis) {
    std::size_t const digits_start = pos;
    while (pos < text.size() && is_digit(text[pos])) {
        if (pos - digits_start < 3) millis = millis * 10 + (text[pos] - '0');
        ++pos;
    }
    std::size_t const count = pos - digits_start;
    if (count == 0) return false;
    for (std::size_t i = count; i < 3; ++i) millis *= 10;
    return true;
}

// The time zone at `pos` (Z, +hh:mm or -hh:mm) of a dateTime whose local time is `local`.
date_time_parse_result parse_time_zone(std::string_view text, std::size_t pos, instant local) {
    if (text[pos] == 'Z') {
        if (pos + 1 != text.size()) return failure("unexpected text after the time-zone 'Z'");
        return success(local, date_precision::second, true);
    }
    if (text[pos] != '+' && text[pos] != '-') {
        return failure("expected a time-zone offset (Z, +hh:mm or -hh:mm) after the time");
    }
    bool const negative = text[pos] == '-';
    int offset_hours = 0;
    int offset_minutes = 0;
    if (!read_digits(text, pos + 1, 2, offset_hours) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !read_digits(text, pos + 4, 2, offset_minutes)) {
        return failure("expected a time-zone offset of the form +hh:mm or -hh:mm");
    }
    if (pos + 6 != text.size()) return failure("unexpected text after the time-zone offset");
    if (offset_minutes > 59 || offset_hours > 14 || (offset_hours == 14 && offset_minutes != 0)) {
        return failure(std::string("time-zone offset ") + text[pos] + two_digits(offset_hours) +
                       ":" + two_digits(offset_minutes) + " out of range");
    }
    auto const offset = hours{offset_hours} + minutes{offset_minutes};
    // Local time = UTC + offset, so UTC = local - offset.
    instant const utc = negative ? local + offset : local - offset;
    return success(utc, date_precision::second, true);
}

}  // namespace

date_time_parse_result parse_date_time(std::string_view text) {
    // FHIR R4 §2.24.0.1: date = YYYY(-MM(-DD)?)?; dateTime adds Thh:mm:ss(.s+)?(Z|(+|-)hh:mm),
    // seconds required; year 0001..9999, offset at most 14:00.
    if (text.empty()) return failure("empty date");
    int year = 0;
    if (!read_digits(text, 0, 4, year)) return failure("expected a four-digit year (YYYY)");
    if (year == 0) return failure("year 0000 out of range");
    if (text.size() == 4) {
        return success(date::sys_days{date::year{year} / date::January / 1}, date_precision::year,
                       false);
    }
    if (text[4] != '-') return failure("expected '-' after the year");
    int month = 0;
    if (!read_digits(text, 5, 2, month)) return failure("expected a two-digit month (YYYY-MM)");
    if (month < 1 || month > 12) return failure("month " + two_digits(month) + " out of range");
    auto const year_month = date::year{year} / date::month{static_cast<unsigned>(month)};
    if (text.size() == 7)
        return success(date::sys_days{year_month / 1}, date_precision::month, false);
    if (text[7] != '-') return failure("expected '-' after the month");
    int day = 0;
    if (!read_digits(text, 8, 2, day)) return failure("expected a two-digit day (YYYY-MM-DD)");
    auto const ymd = year_month / date::day{static_cast<unsigned>(day)};
    if (day < 1 || !ymd.ok()) {
        return failure("day " + two_digits(day) + " out of range for " + std::to_string(year) +
                       "-" + two_digits(month));
    }
    date::sys_days const day_start{ymd};
    if (text.size() == 10) return success(day_start, date_precision::day, false);
    if (text[10] != 'T') return failure("expected 'T' between the date and the time");

    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!read_digits(text, 11, 2, hour) || text.size() < 14 || text[13] != ':' ||
        !read_digits(text, 14, 2, minute) || text.size() < 17 || text[16] != ':' ||
        !read_digits(text, 17, 2, second)) {
        return failure("expected a time hh:mm:ss after 'T'");
    }
    if (hour > 23) return failure("hour " + two_digits(hour) + " out of range");
    if (minute > 59) return failure("minute " + two_digits(minute) + " out of range");
    // 60 is a leap second (allowed by the FHIR regex); it rolls over into the next minute.
    if (second > 60) return failure("second " + two_digits(second) + " out of range");

    std::size_t pos = 19;
    long long millis = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        if (!read_fraction(text, pos, millis))
            return failure("expected digits after the decimal point of the seconds");
    }

    instant const local =
        day_start + hours{hour} + minutes{minute} + seconds{second} + milliseconds{millis};
    if (pos == text.size()) return success(local, date_precision::second, false);
    return parse_time_zone(text, pos, local);
}

std::string format_instant(instant at) {
    auto const day = date::floor<date::days>(at);
    date::year_month_day const ymd{day};
    auto const in_day = at - day;  // milliseconds since midnight
    long long const ms = in_day.count();
    std::array<char, 40> buffer{};
    char* out = put_date(buffer.data(), ymd);
    *out++ = 'T';
    out = put_digits(out, ms / 3'600'000, 2);
    *out++ = ':';
    out = put_digits(out, ms / 60'000 % 60, 2);
    *out++ = ':';
    out = put_digits(out, ms / 1000 % 60, 2);
    *out++ = '.';
    out = put_digits(out, ms % 1000, 3);
    *out++ = 'Z';
    return std::string(buffer.data(), out);
}

std::string format_date(instant at) {
    std::array<char, 24> buffer{};
    char* out = put_date(buffer.data(), date::year_month_day{date::floor<date::days>(at)});
    return std::string(buffer.data(), out);
}

}  // namespace cds::fhir
