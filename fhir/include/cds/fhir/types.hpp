#pragma once
// FHIR R4 data types the service reads. Parsing is lenient-but-safe: unknown members and
// extensions are ignored, an array-typed element sent as a single object is accepted (the
// public CDS Hooks sandbox sends MedicationRequest.category and reasonCode that way), and a
// wrongly typed element is dropped with an issue rather than failing the resource.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/issue.hpp"

namespace cds::fhir {

struct coding {
    friend bool operator==(coding const&, coding const&) = default;

    std::string system;
    std::string code;
    std::string display;
};

struct codeable_concept {
    friend bool operator==(codeable_concept const&, codeable_concept const&) = default;

    std::vector<coding> codings;
    std::string text;

    [[nodiscard]] bool empty() const { return codings.empty() && text.empty(); }
    // True when any coding has this system and code (exact, case-sensitive as FHIR says).
    [[nodiscard]] bool has_code(std::string_view system, std::string_view code) const;
};

enum class quantity_comparator { none, less, less_or_equal, greater_or_equal, greater };

struct quantity {
    friend bool operator==(quantity const&, quantity const&) = default;

    std::optional<double> value;
    quantity_comparator comparator = quantity_comparator::none;
    std::string unit;    // human-readable unit as reported
    std::string system;  // usually http://unitsofmeasure.org
    std::string code;    // UCUM code

    // The unit used for conversion: `code`, else `unit` (CLINICAL-BASIS.md §1). A code from a
    // system other than UCUM is not a unit string (the FHIR R4 example Observation/f204 has
    // SNOMED CT 258814008 with unit "umol/L"), so `unit` is used then when there is one.
    [[nodiscard]] std::string_view unit_key() const {
        bool const code_is_unit =
            !code.empty() &&
            (system.empty() || system == "http://unitsofmeasure.org" || unit.empty());
        return code_is_unit ? std::string_view{code} : std::string_view{unit};
    }
};

struct period {
    friend bool operator==(period const&, period const&) = default;

    std::optional<date_time> start;
    std::optional<date_time> end;
};

enum class reference_kind {
    none,       // no reference string (display only, or identifier)
    relative,   // "Medication/123" (also absolute URLs ending in Type/id)
    contained,  // "#med1"
    urn,        // "urn:uuid:..." / "urn:oid:..."
};

struct reference {
    friend bool operator==(reference const&, reference const&) = default;

    std::string reference;  // as written
    std::string display;
    reference_kind kind = reference_kind::none;
    std::string type;  // "Medication" for relative references; empty otherwise
    std::string id;    // "123" (relative), "med1" (contained, without '#'), or the whole urn
};

// Parses a Reference.reference string into kind/type/id.
[[nodiscard]] reference make_reference(std::string_view text, std::string_view display = {});

// Conversions from Boost.JSON. Each appends issues under `path` and never throws on data.
[[nodiscard]] std::optional<coding> parse_coding(boost::json::value const& v,
                                                 std::string const& path,
                                                 issue_list& issues);
[[nodiscard]] codeable_concept parse_codeable_concept(boost::json::value const& v,
                                                      std::string const& path,
                                                      issue_list& issues);
[[nodiscard]] std::optional<quantity> parse_quantity(boost::json::value const& v,
                                                     std::string const& path,
                                                     issue_list& issues);
[[nodiscard]] std::optional<reference> parse_reference(boost::json::value const& v,
                                                       std::string const& path,
                                                       issue_list& issues);
[[nodiscard]] std::optional<period> parse_period(boost::json::value const& v,
                                                 std::string const& path,
                                                 issue_list& issues);

// Unit conversion to one target unit by a factor table (the factors are rule configuration;
// CLINICAL-BASIS.md §1). Unit keys are compared case-insensitively after trimming, with the
// micro signs `µ` and `μ` taken as `u` (§7); an unknown unit is never guessed.
struct unit_factor {
    std::string unit;     // e.g. "mmol/L"
    double factor = 1.0;  // value_in_target = value * factor
};

class unit_table {
public:
    unit_table() = default;
    explicit unit_table(std::vector<unit_factor> factors);
    // nullopt when the unit is unknown.
    [[nodiscard]] std::optional<double> factor_for(std::string_view unit_key) const;
    [[nodiscard]] std::optional<double> convert(double value, std::string_view unit_key) const;
    [[nodiscard]] std::vector<unit_factor> const& factors() const { return factors_; }

private:
    std::vector<unit_factor> factors_;  // units lower-cased at construction
};

}  // namespace cds::fhir
