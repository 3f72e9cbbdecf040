#pragma once
// JSON Schema validation of a rule file (rules/config/rule-set.schema.json) that reports every
// problem, not only the first.

#include <vector>

#include <rapidjson/document.h>

#include "cds/rules/rule_set.hpp"

namespace cds::rules {

// Validates with RapidJSON's SchemaValidator. RapidJSON stops at the first error, so each
// problem is recorded, the offending member repaired (unknown members removed, others
// replaced by the bundled default) and the document validated again, until it passes.
void validate_against_schema(rapidjson::Document& doc, std::vector<rule_set_problem>& problems);

}  // namespace cds::rules
