#pragma once
// Problems found in FHIR data are data, not exceptions (google/fhir ErrorHandler style):
// each names the element path where it was found, e.g.
// "prefetch.magnesium.entry[2].resource.valueQuantity.unit".

#include <string>
#include <vector>

namespace cds::fhir {

enum class issue_severity {
    error,    // the resource (or element) was skipped
    warning,  // used, but something was odd or ignored
};

struct issue {
    friend bool operator==(issue const&, issue const&) = default;

    issue_severity severity = issue_severity::error;
    std::string path;
    std::string message;
};

using issue_list = std::vector<issue>;

}  // namespace cds::fhir
