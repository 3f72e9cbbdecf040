// In-process cost of one CDS Hooks call, stage by stage: JSON parse -> envelope
// schema -> snapshot build -> rules evaluate -> serialize, and the whole service path
// (prepare_cds_call + complete_cds_call, which is what the HTTP server runs per request minus
// the socket). Prints ns/request per stage for each request file, and how the cost grows
// from one request size to another. Not a test: it asserts nothing about speed.
//
//   evaluate_bench --now 2026-03-10T09:00:00Z [--min-time 1] [--iterations N]
//                  [--growth BIG,SMALL] [--json OUT.json] NAME=REQUEST.json ...
//                  [--cores N] [--floor NAME=REQUESTS_PER_S ...] [--no-parse-ceiling]
//
// After the stage table it prints the parse ceiling: the raw Boost.JSON parse of each body
// alone, into the same arena as the service (a non-shared monotonic_resource whose 256 KB first
// block is reused), in MB/s, with a memcpy of the body for scale, and the requests/s N cores
// could answer if the service did nothing but parse, next to the nginx floor (--floor, the
// floor's requests/s for that request, e.g. at 16 connections) and the 40 %-of-floor target.
// Beside the parse, the service's own tokenizer (json_tokenizer.hpp) over the same body with a
// handler that keeps nothing: the floor of the one-pass reader, which tokenizes as it reads.
//
// The stages mirror service/src/cds_call.cpp using only public APIs, so that a stage that
// grows (e.g. the snapshot) can be found without a profiler; `service_path` is the real code
// and is the number to trust for the total.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <cstring>
#include <memory>
#include <thread>

#include <boost/json.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/resources.hpp"
#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/cds_call.hpp"
#include "cds/service/cds/hook_context.hpp"
#include "cds/service/cds/json_tokenizer.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/http/http_message.hpp"

namespace json = boost::json;
namespace fhir = cds::fhir;
namespace rules = cds::rules;
namespace service = cds::service;

namespace {

using bench_clock = std::chrono::steady_clock;

constexpr std::size_t stage_count = 8;
constexpr std::array<char const*, stage_count> stage_names{
    "parse",     "schema",       "snapshot",  "evaluate",
    "serialize", "service_path", "read_tree", "read_one_pass"};
enum stage : std::size_t {
    parse_stage,
    schema_stage,
    snapshot_stage,
    evaluate_stage,
    serialize_stage,
    service_stage,
    // prepare_cds_call alone, reading the body as a tree, then in one pass; both keep every
    // Observation, so that they compare (service_stage leaves out those the rules do not
    // read, as the server does).
    read_tree_stage,
    read_one_pass_stage
};

struct request_file {
    std::string name;
    std::string path;
    std::string body;
    rules::service_definition const* service = nullptr;
};

struct stage_figures {
    double median_ns = 0;
    double mean_ns = 0;
    double min_ns = 0;
};

struct file_figures {
    std::string name;
    std::size_t body_bytes = 0;
    std::size_t response_bytes = 0;
    std::size_t card_count = 0;
    std::size_t observations = 0;
    std::size_t medication_orders = 0;
    std::size_t iterations = 0;
    std::array<stage_figures, stage_count> stages{};
};

[[noreturn]] void usage(std::string const& why) {
    std::cerr << "evaluate_bench: " << why
              << "\nusage: evaluate_bench --now DATETIME [--min-time SECONDS] [--iterations N]"
                 " [--growth BIG,SMALL] [--json OUT] NAME=REQUEST.json ...\n"
                 "                      [--cores N] [--floor NAME=REQUESTS_PER_S ...] "
                 "[--no-parse-ceiling]\n";
    std::exit(2);
}

std::string read_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// One arena per request, as the service does (parse_json_body).
json::value parse_body(std::string_view body) {
    json::parse_options options;
    options.max_depth = service::service_limits{}.max_json_depth;
    json::error_code ec;
    auto value =
        json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>(), options);
    if (ec) throw std::runtime_error("request is not valid JSON: " + ec.message());
    return value;
}

// Snapshot stage: the hook context (with parsed draft orders) and the typed snapshot, read by
// the service's own read_hook_context. Optional keys the request brings no value for are
// unavailable, as when the service has nothing to fetch them with.
fhir::patient_snapshot build_snapshot(json::value const& body,
                                      request_file const& file,
                                      fhir::instant now,
                                      rules::hook_context& context) {
    auto const& root = body.get_object();
    fhir::snapshot_builder builder;
    (void)service::read_hook_context(root, *file.service, now, context, builder);
    if (auto const* p = root.if_contains("prefetch"); p != nullptr && p->is_object()) {
        for (auto const& t : file.service->prefetch) {
            if (!p->get_object().contains(t.key) && !t.required)
                context.unavailable_prefetch.push_back(t.key);
        }
    }
    auto snapshot = std::move(builder).build();
    for (auto& order : context.draft_orders)
        fhir::resolve_medication(order, snapshot, snapshot.issues);
    return snapshot;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    auto const mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

stage_figures summarize(std::vector<double> const& samples) {
    stage_figures f;
    if (samples.empty()) return f;
    f.median_ns = median(samples);
    double sum = 0;
    for (double s : samples) sum += s;
    f.mean_ns = sum / static_cast<double>(samples.size());
    f.min_ns = *std::min_element(samples.begin(), samples.end());
    return f;
}

double ns_between(bench_clock::time_point a, bench_clock::time_point b) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

service::http_request bench_request(request_file const& file, fhir::instant now) {
    service::http_request request;
    request.method = "POST";
    request.target = "/cds-services/" + file.service->id;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = file.body;
    request.received_at = now;
    return request;
}

// The real path once, to check the request is answered (200) and to report its shape.
void check_real_path(service::http_request const& request,
                     request_file const& file,
                     service::service_state const& state,
                     fhir::instant now,
                     file_figures& figures) {
    auto prepared = service::prepare_cds_call(request, state, *file.service);
    if (auto const* error = std::get_if<service::http_response>(&prepared)) {
        throw std::runtime_error(file.name + ": the service answers " +
                                 std::to_string(error->status) + ": " + error->body.substr(0, 400));
    }
    auto response = service::complete_cds_call(
        std::get<service::prepared_call>(std::move(prepared)), nullptr, state);
    if (response.status != 200) {
        throw std::runtime_error(file.name + ": the service answers " +
                                 std::to_string(response.status) + ": " +
                                 response.body.substr(0, 400));
    }
    figures.response_bytes = response.body.size();
    auto const body = parse_body(file.body);
    rules::hook_context context;
    auto const snapshot = build_snapshot(body, file, now, context);
    figures.observations = snapshot.observations.size();
    figures.medication_orders = snapshot.medication_orders.size();
    figures.card_count = json::parse(response.body).at("cards").as_array().size();
}

// The call as the server makes it without explain (Observations the rules do not read left
// out); returns the response's size. Not inlined: "Reproducing the profile" in README.md
// counts its instructions with callgrind's --toggle-collect.
[[gnu::noinline]] std::size_t service_path(service::http_request const& request,
                                           request_file const& file,
                                           service::service_state const& state) {
    auto const rules = state.rules.get();  // held until the call is complete
    auto prepared = service::prepare_cds_call(request, state, *file.service,
                                              service::request_reading::one_pass, rules.get());
    auto response = service::complete_cds_call(
        std::get<service::prepared_call>(std::move(prepared)), nullptr, state);
    return response.body.size();
}

// One request through the stages one by one, then through the real service path; the time of
// each, and `sink` grown by the outputs' sizes (so that the optimiser keeps the work).
std::array<double, stage_count> time_stages(service::http_request const& request,
                                            request_file const& file,
                                            service::service_state const& state,
                                            fhir::instant now,
                                            std::size_t& sink) {
    auto const& request_schema = state.schemas->request;
    auto const context_schema = state.schemas->context_by_hook.find(file.service->hook);
    auto const t0 = bench_clock::now();
    auto body = parse_body(file.body);
    auto const t1 = bench_clock::now();
    // Envelope only, as prepare_cds_call validates (replay depth 1, cds_call.cpp).
    auto violation = request_schema.validate(body, {}, 1);
    if (!violation && context_schema != state.schemas->context_by_hook.end())
        violation = context_schema->second.validate(body.at("context"), "context", 1);
    if (violation)
        throw std::runtime_error(file.name + ": schema violation: " + violation->message);
    auto const t2 = bench_clock::now();
    rules::hook_context context;
    auto snapshot = build_snapshot(body, file, now, context);
    auto const t3 = bench_clock::now();
    auto result = rules::evaluate(snapshot, context, *state.rules.get(), state.next_uuid);
    auto const t4 = bench_clock::now();
    json::object document;
    document["cards"] = std::move(result.cards);
    std::string const out = json::serialize(document);
    auto const t5 = bench_clock::now();
    sink += out.size();

    sink += service_path(request, file, state);
    auto const t6 = bench_clock::now();
    auto const tree =
        service::prepare_cds_call(request, state, *file.service, service::request_reading::tree);
    auto const t7 = bench_clock::now();
    auto const one_pass = service::prepare_cds_call(request, state, *file.service,
                                                    service::request_reading::one_pass);
    auto const t8 = bench_clock::now();
    sink += tree.index() + one_pass.index();
    return {ns_between(t0, t1), ns_between(t1, t2), ns_between(t2, t3), ns_between(t3, t4),
            ns_between(t4, t5), ns_between(t5, t6), ns_between(t6, t7), ns_between(t7, t8)};
}

// Enough samples: the fixed count when one is given, else at least 20 and `min_seconds`.
bool enough_samples(std::size_t measured,
                    std::size_t fixed_iterations,
                    bench_clock::time_point started,
                    double min_seconds) {
    if (fixed_iterations > 0) return measured >= fixed_iterations;
    return measured >= 20 &&
           std::chrono::duration<double>(bench_clock::now() - started).count() >= min_seconds;
}

file_figures measure(request_file const& file,
                     service::service_state const& state,
                     fhir::instant now,
                     double min_seconds,
                     std::size_t fixed_iterations) {
    file_figures figures;
    figures.name = file.name;
    figures.body_bytes = file.body.size();
    auto const request = bench_request(file, now);
    check_real_path(request, file, state, now, figures);

    std::array<std::vector<double>, stage_count> samples;
    std::size_t sink = 0;
    auto const started = bench_clock::now();
    std::size_t const warmup = 3;
    for (std::size_t i = 0;; ++i) {
        auto const times = time_stages(request, file, state, now, sink);
        if (i >= warmup) {
            for (std::size_t s = 0; s < stage_count; ++s) samples[s].push_back(times[s]);
        }
        if (enough_samples(samples[parse_stage].size(), fixed_iterations, started, min_seconds))
            break;
    }
    if (sink == 0) std::cerr << "(no output)\n";
    figures.iterations = samples[parse_stage].size();
    for (std::size_t s = 0; s < stage_count; ++s) figures.stages[s] = summarize(samples[s]);
    return figures;
}

std::string format_ns(double ns) {
    char buffer[32];
    if (ns >= 1e6)
        std::snprintf(buffer, sizeof buffer, "%.2f ms", ns / 1e6);
    else if (ns >= 1e3)
        std::snprintf(buffer, sizeof buffer, "%.1f us", ns / 1e3);
    else
        std::snprintf(buffer, sizeof buffer, "%.0f ns", ns);
    return buffer;
}

double stages_sum(file_figures const& f) {
    double sum = 0;
    for (std::size_t s = 0; s < service_stage; ++s) sum += f.stages[s].median_ns;
    return sum;
}

// --- parse ceiling -----------------------------------------------------------------------

// The service's arena (cds_call.cpp prepare_cds_call): a monotonic_resource, not shared, whose
// first block is a 256 KB buffer reused call after call; the stream_parser's temporary storage
// is the same arena. The tree is dropped in O(1) with the arena.
constexpr std::size_t parse_arena_first_block = 256 * 1024;

struct parse_ceiling_figures {
    std::string name;
    std::size_t body_bytes = 0;
    std::size_t iterations = 0;
    stage_figures parse{};
    stage_figures tokenize{};  // json_tokenizer, the handler keeping nothing
    stage_figures copy{};      // memcpy of the body, per copy
    double floor_rps = 0;      // 0: no --floor given for this request
};

// Keeps a buffer's contents observable, so that a copy nobody reads is not optimised away.
void clobber(void const* p) { __asm__ __volatile__("" : : "r"(p) : "memory"); }

// Nanoseconds to tokenize `body` once; throws when the tokenizer does not read it whole.
double time_tokenize(request_file const& file) {
    auto const t0 = bench_clock::now();
    bool const whole =
        service::tokenizes_whole(file.body, service::service_limits{}.max_json_depth);
    auto const t1 = bench_clock::now();
    if (!whole) throw std::runtime_error(file.name + ": the tokenizer did not read the body whole");
    return ns_between(t0, t1);
}

parse_ceiling_figures measure_parse_ceiling(request_file const& file,
                                            double min_seconds,
                                            std::size_t fixed_iterations) {
    parse_ceiling_figures figures;
    figures.name = file.name;
    figures.body_bytes = file.body.size();
    auto const first_block =
        std::make_unique_for_overwrite<unsigned char[]>(parse_arena_first_block);
    json::parse_options options;
    options.max_depth = service::service_limits{}.max_json_depth;

    std::vector<char> destination(std::max<std::size_t>(1, file.body.size()));
    // Copies of a small body take nanoseconds: time a batch of them, about 64 KB in all.
    std::size_t const copies =
        std::max<std::size_t>(1, (64 * 1024) / std::max<std::size_t>(1, file.body.size()));

    std::vector<double> parse_samples;
    std::vector<double> tokenize_samples;
    std::vector<double> copy_samples;
    std::size_t sink = 0;
    auto const started = bench_clock::now();
    std::size_t const warmup = 3;
    for (std::size_t i = 0;; ++i) {
        auto const t0 = bench_clock::now();
        {
            json::monotonic_resource arena(first_block.get(), parse_arena_first_block);
            json::storage_ptr const storage(&arena);
            json::stream_parser parser(storage, options);
            parser.reset(storage);
            json::error_code ec;
            parser.write(file.body.data(), file.body.size(), ec);
            if (!ec) parser.finish(ec);
            if (ec) throw std::runtime_error(file.name + ": not valid JSON: " + ec.message());
            json::value const tree = parser.release();
            sink += tree.is_object() ? tree.get_object().size() : 0;
        }
        auto const t1 = bench_clock::now();
        for (std::size_t c = 0; c < copies; ++c) {
            std::memcpy(destination.data(), file.body.data(), file.body.size());
            clobber(destination.data());
        }
        auto const t2 = bench_clock::now();
        sink += static_cast<unsigned char>(destination[destination.size() / 2]);
        double const tokenize_ns = time_tokenize(file);
        if (i >= warmup) {
            parse_samples.push_back(ns_between(t0, t1));
            tokenize_samples.push_back(tokenize_ns);
            copy_samples.push_back(ns_between(t1, t2) / static_cast<double>(copies));
        }
        if (enough_samples(parse_samples.size(), fixed_iterations, started, min_seconds)) break;
    }
    if (sink == 0) std::cerr << "(no output)\n";
    figures.iterations = parse_samples.size();
    figures.parse = summarize(parse_samples);
    figures.tokenize = summarize(tokenize_samples);
    figures.copy = summarize(copy_samples);
    return figures;
}

double megabytes_per_s(std::size_t bytes, double ns) {
    return ns > 0 ? static_cast<double>(bytes) / ns * 1e3 : 0;
}

struct bench_options {
    std::optional<fhir::instant> now;
    double min_seconds = 1.0;
    std::size_t fixed_iterations = 0;
    std::string json_out;
    std::string growth = "order-sign-500,order-sign-50";
    std::vector<request_file> files;
    bool parse_ceiling = true;
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    std::map<std::string, double> floors;  // request name -> the nginx floor's requests/s
};

// --floor NAME=REQUESTS_PER_S
void add_floor(bench_options& options, std::string const& value) {
    auto const eq = value.find('=');
    double const rps = eq == std::string::npos ? 0 : std::strtod(value.c_str() + eq + 1, nullptr);
    if (eq == std::string::npos || rps <= 0)
        usage("--floor takes NAME=REQUESTS_PER_S, e.g. order-sign-50=31152");
    options.floors[value.substr(0, eq)] = rps;
}

bench_options parse_arguments(int argc, char** argv) {
    bench_options options;
    for (int i = 1; i < argc; ++i) {
        std::string const arg = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--now") {
            auto const parsed = fhir::parse_date_time(next());
            if (!parsed.value) usage("--now is not a FHIR dateTime: " + parsed.error);
            options.now = parsed.value->start;
        } else if (arg == "--min-time") {
            options.min_seconds = std::strtod(next().c_str(), nullptr);
        } else if (arg == "--iterations") {
            options.fixed_iterations = std::strtoul(next().c_str(), nullptr, 10);
        } else if (arg == "--json") {
            options.json_out = next();
        } else if (arg == "--growth") {
            options.growth = next();
        } else if (arg == "--no-parse-ceiling") {
            options.parse_ceiling = false;
        } else if (arg == "--cores") {
            options.cores = static_cast<unsigned>(std::strtoul(next().c_str(), nullptr, 10));
            if (options.cores == 0) usage("--cores must be at least 1");
        } else if (arg == "--floor") {
            add_floor(options, next());
        } else if (arg == "--help" || arg == "-h") {
            usage("help");
        } else if (auto const eq = arg.find('=');
                   eq != std::string::npos && !arg.starts_with("--")) {
            options.files.push_back(
                request_file{arg.substr(0, eq), arg.substr(eq + 1), {}, nullptr});
        } else {
            usage("unknown argument " + arg);
        }
    }
    if (!options.now)
        usage("--now is required (the time the request's dates were generated against)");
    if (options.files.empty()) usage("no request files");
    return options;
}

// Reads each request file and finds the service that answers its hook.
void load_files(std::vector<request_file>& files, service::service_state const& state) {
    for (auto& file : files) {
        file.body = read_file(file.path);
        auto const body = parse_body(file.body);
        auto const hook = body.at("hook").as_string();
        for (auto const& s : state.rules->services()) {
            if (s.hook == hook) file.service = &s;
        }
        if (file.service == nullptr)
            throw std::runtime_error(file.name + ": no service for hook " + std::string{hook});
    }
}

void print_stage_table(std::vector<file_figures> const& results) {
    std::printf("\nin-process cost per request (median ns/request; %s)\n",
                "steady_clock around each stage");
    std::printf("%-18s %8s %5s %5s %6s %11s %11s %11s %11s %11s %11s %12s %7s\n", "request",
                "bytes", "obs", "meds", "cards", "parse", "schema", "snapshot", "evaluate",
                "serialize", "sum", "service_path", "iters");
    for (auto const& f : results) {
        std::printf("%-18s %8zu %5zu %5zu %6zu %11s %11s %11s %11s %11s %11s %12s %7zu\n",
                    f.name.c_str(), f.body_bytes, f.observations, f.medication_orders, f.card_count,
                    format_ns(f.stages[parse_stage].median_ns).c_str(),
                    format_ns(f.stages[schema_stage].median_ns).c_str(),
                    format_ns(f.stages[snapshot_stage].median_ns).c_str(),
                    format_ns(f.stages[evaluate_stage].median_ns).c_str(),
                    format_ns(f.stages[serialize_stage].median_ns).c_str(),
                    format_ns(stages_sum(f)).c_str(),
                    format_ns(f.stages[service_stage].median_ns).c_str(), f.iterations);
    }
    std::printf("\nreading the request (prepare_cds_call alone, median)\n");
    for (auto const& f : results) {
        std::printf("%-18s tree %11s   one pass %11s\n", f.name.c_str(),
                    format_ns(f.stages[read_tree_stage].median_ns).c_str(),
                    format_ns(f.stages[read_one_pass_stage].median_ns).c_str());
    }
}

file_figures const* figures_named(std::vector<file_figures> const& results,
                                  std::string const& name) {
    for (auto const& f : results) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

// How each stage grows from the small request to the big one (--growth BIG,SMALL): printed,
// and returned for the JSON output (empty when either request is not among the results).
json::object report_growth(std::vector<file_figures> const& results, std::string const& growth) {
    json::object growth_json;
    auto const comma = growth.find(',');
    if (comma == std::string::npos) return growth_json;
    auto const big_name = growth.substr(0, comma);
    auto const small_name = growth.substr(comma + 1);
    auto const* big = figures_named(results, big_name);
    auto const* small = figures_named(results, small_name);
    if (big == nullptr || small == nullptr) return growth_json;
    std::printf("\ngrowth %s / %s (bytes x%.1f, observations x%.1f):\n", big_name.c_str(),
                small_name.c_str(),
                static_cast<double>(big->body_bytes) / static_cast<double>(small->body_bytes),
                static_cast<double>(big->observations) /
                    static_cast<double>(std::max<std::size_t>(1, small->observations)));
    growth_json["big"] = big_name;
    growth_json["small"] = small_name;
    json::object ratios;
    for (std::size_t s = 0; s < stage_count; ++s) {
        double const ratio = big->stages[s].median_ns / std::max(1.0, small->stages[s].median_ns);
        ratios[stage_names[s]] = ratio;
        std::printf("  %-13s x%.2f\n", stage_names[s], ratio);
    }
    growth_json["ratio_median"] = std::move(ratios);
    return growth_json;
}

double parse_only_rps(parse_ceiling_figures const& c, unsigned cores) {
    return c.parse.median_ns > 0 ? cores * 1e9 / c.parse.median_ns : 0;
}

void print_parse_ceiling_row(parse_ceiling_figures const& c, unsigned cores) {
    double const ceiling_rps = parse_only_rps(c, cores);
    char floor_text[32] = "-";
    char ratio_text[32] = "-";
    char target_text[48] = "-";
    if (c.floor_rps > 0) {
        std::snprintf(floor_text, sizeof floor_text, "%.0f", c.floor_rps);
        std::snprintf(ratio_text, sizeof ratio_text, "%.2fx", ceiling_rps / c.floor_rps);
        // The share of the per-request CPU budget at 40 % of the floor that parsing alone
        // takes, if the service had all cores to itself.
        double const budget_ns = cores * 1e9 / (0.4 * c.floor_rps);
        std::snprintf(target_text, sizeof target_text, "%.0f (parse %.0f%%)", 0.4 * c.floor_rps,
                      100.0 * c.parse.median_ns / budget_ns);
    }
    std::printf(
        "%-18s %8zu %11s %10.0f %11s %10.0f %11s %10.0f %16.0f %12s %15s %14s\n", c.name.c_str(),
        c.body_bytes, format_ns(c.parse.median_ns).c_str(),
        megabytes_per_s(c.body_bytes, c.parse.median_ns), format_ns(c.tokenize.median_ns).c_str(),
        megabytes_per_s(c.body_bytes, c.tokenize.median_ns), format_ns(c.copy.median_ns).c_str(),
        megabytes_per_s(c.body_bytes, c.copy.median_ns), ceiling_rps, floor_text, ratio_text,
        target_text);
}

std::vector<parse_ceiling_figures> report_parse_ceilings(bench_options const& options) {
    std::vector<parse_ceiling_figures> ceilings;
    for (auto const& file : options.files) {
        ceilings.push_back(
            measure_parse_ceiling(file, options.min_seconds, options.fixed_iterations));
        if (auto const it = options.floors.find(file.name); it != options.floors.end())
            ceilings.back().floor_rps = it->second;
    }
    std::printf(
        "\nparse ceiling: the raw Boost.JSON parse alone (non-shared monotonic_resource, 256 KB "
        "first block reused, as the service), median; the service's tokenizer alone (a handler "
        "that keeps nothing); memcpy of the body for scale; %u cores\n",
        options.cores);
    std::printf("%-18s %8s %11s %10s %11s %10s %11s %10s %16s %12s %15s %14s\n", "request", "bytes",
                "parse", "MB/s", "tokenize", "MB/s", "memcpy", "MB/s", "parse-only rps",
                "nginx floor", "ceiling/floor", "40% of floor");
    for (auto const& c : ceilings) print_parse_ceiling_row(c, options.cores);
    std::printf(
        "(parse-only rps = cores / parse time: what the machine could answer if the service did "
        "nothing but parse, with no HTTP, no wrk and no nginx on the same cores)\n");
    return ceilings;
}

json::object file_figures_json(file_figures const& f) {
    json::object o{{"name", f.name},
                   {"body_bytes", f.body_bytes},
                   {"response_bytes", f.response_bytes},
                   {"cards", f.card_count},
                   {"observations", f.observations},
                   {"medication_orders", f.medication_orders},
                   {"iterations", f.iterations}};
    json::object stages;
    for (std::size_t s = 0; s < stage_count; ++s) {
        stages[stage_names[s]] = {{"median_ns", f.stages[s].median_ns},
                                  {"mean_ns", f.stages[s].mean_ns},
                                  {"min_ns", f.stages[s].min_ns}};
    }
    o["stages"] = std::move(stages);
    return o;
}

json::object parse_ceiling_json(std::vector<parse_ceiling_figures> const& ceilings,
                                unsigned cores) {
    json::array requests;
    for (auto const& c : ceilings) {
        double const ceiling_rps = parse_only_rps(c, cores);
        json::object o{{"name", c.name},
                       {"body_bytes", c.body_bytes},
                       {"iterations", c.iterations},
                       {"parse_median_ns", c.parse.median_ns},
                       {"parse_min_ns", c.parse.min_ns},
                       {"parse_mb_per_s", megabytes_per_s(c.body_bytes, c.parse.median_ns)},
                       {"tokenize_median_ns", c.tokenize.median_ns},
                       {"tokenize_mb_per_s", megabytes_per_s(c.body_bytes, c.tokenize.median_ns)},
                       {"memcpy_median_ns", c.copy.median_ns},
                       {"memcpy_mb_per_s", megabytes_per_s(c.body_bytes, c.copy.median_ns)},
                       {"parse_only_rps", ceiling_rps}};
        if (c.floor_rps > 0) {
            o["floor_rps"] = c.floor_rps;
            o["ceiling_over_floor"] = ceiling_rps / c.floor_rps;
            o["parse_share_of_budget_at_40pct_floor"] =
                c.parse.median_ns / (cores * 1e9 / (0.4 * c.floor_rps));
        }
        requests.push_back(std::move(o));
    }
    return {
        {"cores", cores},
        {"arena", "non-shared monotonic_resource, 256 KB first block reused (as prepare_cds_call)"},
        {"requests", std::move(requests)}};
}

void write_json(std::string const& path,
                std::vector<file_figures> const& results,
                json::object growth_json,
                std::vector<parse_ceiling_figures> const& ceilings,
                unsigned cores) {
    json::array out;
    for (auto const& f : results) out.push_back(file_figures_json(f));
    json::object document{{"requests", std::move(out)}, {"growth", std::move(growth_json)}};
    if (!ceilings.empty()) document["parse_ceiling"] = parse_ceiling_json(ceilings, cores);
    std::ofstream(path) << json::serialize(document) << '\n';
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse_arguments(argc, argv);
    try {
        auto loaded = rules::load_rule_set(rules::bundled_rule_set_json());
        if (!loaded.rules) throw std::runtime_error("the bundled rule set does not load");
        auto const state = service::make_service_state(loaded.rules);
        load_files(options.files, state);
        std::vector<file_figures> results;
        for (auto const& file : options.files) {
            results.push_back(
                measure(file, state, *options.now, options.min_seconds, options.fixed_iterations));
        }
        print_stage_table(results);
        auto growth_json = report_growth(results, options.growth);
        std::vector<parse_ceiling_figures> ceilings;
        if (options.parse_ceiling) ceilings = report_parse_ceilings(options);
        if (!options.json_out.empty())
            write_json(options.json_out, results, std::move(growth_json), ceilings, options.cores);
    } catch (std::exception const& e) {
        std::cerr << "evaluate_bench: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
