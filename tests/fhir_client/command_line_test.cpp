#include "cds/service/fhir_client/command_line.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

#include <boost/program_options/parsers.hpp>

#include "cds/service/fhir_client/http_fhir_fetcher.hpp"

using namespace cds::service::fhir_client;
namespace po = boost::program_options;

namespace {

fhir_client_options parse(std::vector<char const*> args) {
    args.insert(args.begin(), "magnesium-cds");
    po::options_description description;
    add_fhir_client_options(description);
    po::variables_map values;
    po::store(po::parse_command_line(static_cast<int>(args.size()), args.data(), description),
              values);
    po::notify(values);
    return fhir_client_options_from(values);
}

}  // namespace

TEST_CASE("defaults: fetching off, 2 s deadline, 10 pages, 32 MiB") {
    auto const options = parse({});
    CHECK(options.allow.empty());
    CHECK(options.deadline == std::chrono::milliseconds(2000));
    CHECK(options.max_pages == 10);
    CHECK(options.max_response_bytes == 32u * 1024 * 1024);
    CHECK(options.extra_ca_file.empty());
}

TEST_CASE("--fhir-allow repeats; limits are read") {
    auto const options =
        parse({"--fhir-allow", "https://a.example/fhir", "--fhir-allow=http://127.0.0.1:9/r4",
               "--fhir-deadline", "750ms", "--fhir-max-pages", "3", "--fhir-max-response-mib", "4",
               "--fhir-ca-file", "/tmp/ca.pem"});
    CHECK(options.allow ==
          std::vector<std::string>{"https://a.example/fhir", "http://127.0.0.1:9/r4"});
    CHECK(options.deadline == std::chrono::milliseconds(750));
    CHECK(options.max_pages == 3);
    CHECK(options.max_response_bytes == 4u * 1024 * 1024);
    CHECK(options.extra_ca_file == "/tmp/ca.pem");
}

TEST_CASE("out-of-range values are start-up errors") {
    CHECK_THROWS_AS(parse({"--fhir-deadline", "0ms"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--fhir-deadline", "2m"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--fhir-max-pages", "0"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--fhir-max-response-mib", "0"}), std::invalid_argument);
}

TEST_CASE("--fhir-deadline is a duration with its unit; a bare number is refused") {
    CHECK(parse({"--fhir-deadline", "3s"}).deadline == std::chrono::seconds(3));
    CHECK(parse({"--fhir-deadline", "1m"}).deadline == std::chrono::minutes(1));
    CHECK_THROWS_WITH_AS(parse({"--fhir-deadline", "750"}),
                         doctest::Contains("has no unit: write a whole number with a unit"),
                         po::error);
    CHECK_THROWS_AS(parse({"--fhir-deadline-ms", "750"}), po::error);
}

TEST_CASE("the fetcher refuses a bad allowlist entry or CA file at start-up") {
    fhir_client_options bad_allow;
    bad_allow.allow = {"ftp://x.example/"};
    CHECK_THROWS_WITH_AS(http_fhir_fetcher{bad_allow},
                         "--fhir-allow ftp://x.example/: only http and https URLs are allowed",
                         std::invalid_argument);
    fhir_client_options bad_ca;
    bad_ca.extra_ca_file = CDS_SOURCE_DIR "/no/such/ca.pem";
    CHECK_THROWS_AS(http_fhir_fetcher{bad_ca}, std::invalid_argument);
    fhir_client_options not_pem;
    not_pem.extra_ca_file = CDS_SOURCE_DIR "/CMakeLists.txt";
    CHECK_THROWS_AS(http_fhir_fetcher{not_pem}, std::invalid_argument);
}

TEST_CASE("URL, Medication read and connection limits: defaults from the options struct") {
    fhir_client_options const defaults;
    auto const options = parse({});
    CHECK(options.url.max_bytes == defaults.url.max_bytes);
    CHECK(options.url.max_segments == defaults.url.max_segments);
    CHECK(options.max_medication_reads == defaults.max_medication_reads);
    CHECK(options.max_connections_per_origin == defaults.max_connections_per_origin);
    auto const set =
        parse({"--fhir-max-url-bytes", "1024", "--fhir-max-url-segments", "8",
               "--fhir-max-medication-reads", "0", "--fhir-max-connections-per-origin", "2"});
    CHECK(set.url.max_bytes == 1024);
    CHECK(set.url.max_segments == 8);
    CHECK(set.max_medication_reads == 0);
    CHECK(set.max_connections_per_origin == 2);
    CHECK_THROWS_AS(parse({"--fhir-max-url-bytes", "10"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--fhir-max-url-segments", "0"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--fhir-max-medication-reads", "-1"}), std::invalid_argument);
    CHECK_THROWS_AS(parse({"--fhir-max-connections-per-origin", "0"}), std::invalid_argument);
}
