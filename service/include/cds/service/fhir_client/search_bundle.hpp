#pragma once
// Reading FHIR search answers and merging their pages into the one Bundle a prefetch key
// holds (FHIR R4 3.1.1.5.x "Paging", Bundle.entry.search.mode). Pure functions.

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include "cds/service/fhir_client/fhir_allowlist.hpp"

namespace cds::service::fhir_client {

struct search_page {
    // Entries with search.mode `match`, `include` or none, in server order. `outcome` entries
    // are not data: warnings are dropped, errors fail the page.
    std::vector<boost::json::value> entries;
    std::optional<std::string> next_url;  // Bundle.link[relation=next].url, as sent
};

// Interprets the parsed body of a search answer. Fails with a reason when it is not a Bundle
// (an OperationOutcome's diagnostics are quoted, shortened) or when an `outcome` entry
// reports an error or fatal issue.
boost::system::result<search_page, std::string> read_search_page(boost::json::value body);

// The text of an OperationOutcome's issues (diagnostics or details.text), at most `limit`
// characters; empty when there is none.
std::string outcome_text(boost::json::object const& outcome, std::size_t limit = 200);

// Accumulates the pages of one search: entries of later pages are appended; a resource that
// appears again (the same Medication included on two pages) is kept once. Linear in the
// number of entries.
class searchset_builder {
public:
    searchset_builder();
    void add(search_page&& page);
    // Adds a resource read separately (a Medication a MedicationRequest refers to) as an
    // `include` entry, unless the same resource is already present.
    void add_included(boost::json::object resource);
    // A searchset Bundle with every entry so far; no paging links (CDS Hooks prefetch never
    // has them) and `total` equal to the number of non-`include` entries.
    boost::json::object const& bundle() const { return bundle_; }
    boost::json::object take() { return std::move(bundle_); }

private:
    bool seen(boost::json::value const& resource);
    void append(boost::json::value entry, bool counts_as_match);
    boost::json::object bundle_;
    // "Type/id" of the resources already in bundle_: a hash set, so merging n entries costs
    // O(n), not O(n^2) (a search may return tens of thousands).
    std::unordered_set<std::string> keys_;
    std::size_t matches_ = 0;
};

// Relative references ("Medication/123") made by MedicationRequest, MedicationStatement,
// MedicationAdministration and MedicationDispense entries of `bundle` through
// `medicationReference`, whose Medication is neither in the bundle nor contained. A reference
// may be relative or absolute under `server`'s base; references elsewhere (another server,
// `urn:uuid:`, contained `#id`) are never returned, so nothing is read from another origin.
std::vector<std::string> missing_medication_references(boost::json::object const& bundle,
                                                       http_url const& server);

}  // namespace cds::service::fhir_client
