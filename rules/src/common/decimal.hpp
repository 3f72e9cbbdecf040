#pragma once
// Comparing a converted value or an estimate with a threshold as a decimal, never as a raw
// binary fraction (CLINICAL-BASIS.md §7 "Exact arithmetic"): 12 mg/L × 0.1 is 1.2 mg/dL, not
// 1.2000000000000002, and a Cockcroft-Gault of 60 × 50.4 / (72 × 2.1) is 20.0 mL/min, not
// 19.999999999999996. Both sides are rounded to 4 decimal places before they are compared.

#include <cmath>
#include <compare>
#include <cstdint>

namespace cds::rules {

// Magnitudes at or above this are compared as they are: no threshold is near them, and their
// ten-thousandths would not fit the integer arithmetic below.
inline constexpr double decimal_comparison_limit = 1e6;

// `v` rounded to 4 decimal places, as a count of ten-thousandths (|v| < 1e6). The binary
// noise of a product or quotient (orders of magnitude below 1e-9 at these magnitudes) is
// removed first, at 9 places, so a decimal tie such as 1.19995 rounds half away from zero
// whichever side of it the double happened to land.
[[nodiscard]] inline std::int64_t ten_thousandths(double v) {
    std::int64_t const billionths = std::llround(v * 1e9);
    std::int64_t const magnitude = billionths < 0 ? -billionths : billionths;
    std::int64_t const rounded = (magnitude + 50'000) / 100'000;
    return billionths < 0 ? -rounded : rounded;
}

// Three-way comparison of `value` with `threshold`, both taken to 4 decimal places.
// Unordered when either is NaN.
[[nodiscard]] inline std::partial_ordering compare_as_decimal(double value, double threshold) {
    bool const decimal = std::fabs(value) < decimal_comparison_limit &&
                         std::fabs(threshold) < decimal_comparison_limit;
    if (!decimal) return value <=> threshold;
    return ten_thousandths(value) <=> ten_thousandths(threshold);
}

}  // namespace cds::rules
