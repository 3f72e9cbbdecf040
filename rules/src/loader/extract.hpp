#pragma once
// Typed extraction of a rule file that passed the schema: each configuration section into
// rule_set_data, with the consistency checks the schema cannot express (threshold order,
// band edges, duplicates).

#include <vector>

#include <boost/json/object.hpp>

#include "cds/rules/rule_set.hpp"
#include "rule_set_data.hpp"

namespace cds::rules {

void extract_rule_set(boost::json::object const& root,
                      rule_set_data& d,
                      std::vector<rule_set_problem>& problems);

}  // namespace cds::rules
