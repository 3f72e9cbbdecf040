#include "cds/service/cli/commands.hpp"
#include "cds/service/workbench/workbench.hpp"

namespace cds::service::cli {

void print_help(std::ostream& out, char const* version) {
    out << "magnesium-cds " << version
        << " - a CDS Hooks 2.0 service for magnesium safety\n\n"
           "Usage:\n"
           "  magnesium-cds serve [--listen HOST:PORT] [--rules FILE] [options]\n"
           "  magnesium-cds evaluate REQUEST.json [--now DATETIME] [--rules FILE] [--service ID]\n"
           "                         [--fhir-allow URL ...] [--explain [--format text|json]]\n"
           "                         [--history FILE]\n"
           "  magnesium-cds check-rules FILE\n"
           "  magnesium-cds feedback-report --feedback-db FILE|URL [--since DATETIME] [--until "
           "DATETIME]\n"
           "                                [--by rule [--format json|csv|text]]\n"
           "  magnesium-cds scenarios DIR [--rules FILE] [--only TEXT]\n"
           "  magnesium-cds impact --rules OLD --rules NEW DIR [--now DATETIME] [--format "
           "text|json|markdown]\n"
           "  magnesium-cds --help | --version\n\n"
           "serve        answer CDS Hooks over HTTP until SIGTERM/SIGINT\n"
           "evaluate     print the response the service would give to REQUEST.json (stdout: the\n"
           "             JSON alone; exit 1 with the OperationOutcome when it would be an error);\n"
           "             with --fhir-allow it fetches absent prefetch from the request's "
           "fhirServer\n"
           "check-rules  validate a rule configuration file, printing every problem with its JSON "
           "path\n"
           "feedback-report  print as JSON the stored feedback counted by service, rule set, "
           "outcome\n"
           "             and override reason (serve without --feedback-db stores none); with --by "
           "rule,\n"
           "             per rule: cards issued, accepted, overridden, top override reasons\n"
           "scenarios    run every scenario folder of DIR (fixtures/scenarios format) under one "
           "rule\n"
           "             file: PASS/FAIL a line, then 'N passed, M failed'; exit 1 on a failure\n"
           "impact       the cards each request (or scenario) of DIR gets under OLD and NEW "
           "rules:\n"
           "             cards added, removed or changed, then a summary table\n\n"
           "Durations (timeouts, --rules-watch, --fhir-deadline, --jwt-clock-skew, ...) are a "
           "whole\n"
           "number with its unit: 250ms, 10s, 2m or 1h. A number without a unit is refused.\n\n"
        << serve_options() << '\n'
        << evaluate_options() << '\n'
        << check_rules_options() << '\n'
        << feedback_report_options() << '\n'
        << workbench::scenarios_help() << '\n'
        << workbench::impact_help() << '\n';
}

}  // namespace cds::service::cli
