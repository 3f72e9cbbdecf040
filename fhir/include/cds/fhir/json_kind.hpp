#pragma once
// How messages to a client name the kind of a JSON value ("expected a string, found an
// array"), shared by the FHIR reader and the request schema validator so both speak alike.

#include <string_view>

#include <boost/json/value.hpp>

namespace cds::fhir {

enum class integer_wording {
    as_number,   // FHIR reading: every JSON number is "a number"
    as_integer,  // JSON Schema: integers are "an integer", other numbers "a number"
};

std::string_view json_kind_phrase(boost::json::value const& v,
                                  integer_wording integers = integer_wording::as_number);
std::string_view json_kind_phrase(boost::json::kind kind,
                                  integer_wording integers = integer_wording::as_number);

}  // namespace cds::fhir
