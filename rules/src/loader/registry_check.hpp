#pragma once
// The rule file checked against the registry (registry.def): every registered rule is
// configured and no other; every text the code reads is configured and no other; each summary
// and text uses only the placeholders the code fills. Every mismatch is reported with its JSON
// path, so check-rules fails and serve refuses to start instead of a request failing later.

#include <vector>

#include <boost/json/object.hpp>

#include "cds/rules/rule_set.hpp"

namespace cds::rules {

// Reads only "rules" and "texts", and skips what is not of the schema's shape (the schema
// reports that), so it can run on a file that has schema problems too.
void check_against_registry(boost::json::object const& root,
                            std::vector<rule_set_problem>& problems);

}  // namespace cds::rules
