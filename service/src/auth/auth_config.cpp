#include <cds/service/auth/auth_config.hpp>

#include <algorithm>
#include <charconv>
#include <set>

#include <boost/asio/ip/address.hpp>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/value_semantic.hpp>
#include <boost/program_options/variables_map.hpp>
#include <boost/url/parse.hpp>

#include "cds/service/ops/duration.hpp"

namespace cds::service::auth {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// Beyond five minutes the leeway would outlast many tokens' whole lifetime.
constexpr std::chrono::seconds max_clock_skew{300};

}  // namespace

trust_entry parse_trust_flag(std::string_view value) {
    std::size_t split = std::string_view::npos;
    for (std::string_view const marker :
         {std::string_view{"=https://"}, std::string_view{"=http://"}}) {
        std::size_t const at = value.find(marker);
        if (at != std::string_view::npos && (split == std::string_view::npos || at < split)) {
            split = at;
        }
    }
    if (split == std::string_view::npos) {
        split = value.rfind('=');
    }
    if (split == std::string_view::npos) {
        throw auth_config_error("--trust expects ISSUER=JWKS_FILE_OR_HTTPS_URL, got \"" +
                                std::string(value) + "\"");
    }
    trust_entry entry{std::string(trim(value.substr(0, split))),
                      std::string(trim(value.substr(split + 1)))};
    if (entry.issuer.empty() || entry.jwks.empty()) {
        throw auth_config_error("--trust expects ISSUER=JWKS_FILE_OR_HTTPS_URL, got \"" +
                                std::string(value) + "\"");
    }
    if (entry.jwks.rfind("http://", 0) == 0) {
        throw auth_config_error("--trust " + entry.issuer +
                                ": the JWKS URL must use https: " + entry.jwks);
    }
    return entry;
}

std::string parse_public_url(std::string_view value) {
    auto parsed = boost::urls::parse_absolute_uri(trim(value));
    if (!parsed) {
        throw auth_config_error("--public-url is not an absolute URL: \"" + std::string(value) +
                                "\"");
    }
    auto const& u = *parsed;
    if (u.scheme_id() != boost::urls::scheme::https && u.scheme_id() != boost::urls::scheme::http) {
        throw auth_config_error("--public-url must be http or https: \"" + std::string(value) +
                                "\"");
    }
    if (u.has_query() || u.has_fragment() || u.has_userinfo() || u.encoded_host().empty()) {
        throw auth_config_error(
            "--public-url needs a host and no query, fragment or user "
            "info: \"" +
            std::string(value) + "\"");
    }
    std::string url(u.buffer());
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

std::chrono::seconds parse_clock_skew(std::string_view value) {
    value = trim(value);
    std::string error;
    auto const parsed = ops::parse_duration(value, error);
    if (!parsed) throw auth_config_error("--jwt-clock-skew: " + error);
    if (*parsed % std::chrono::seconds{1} != std::chrono::milliseconds{0} ||
        *parsed > max_clock_skew) {
        throw auth_config_error("--jwt-clock-skew expects whole seconds from 0s to " +
                                ops::format_duration(max_clock_skew) + ", got \"" +
                                std::string(value) + "\"");
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*parsed);
}

std::vector<jws_algorithm> parse_algorithms(std::string_view value) {
    std::vector<jws_algorithm> algorithms;
    while (true) {
        std::size_t const comma = value.find(',');
        std::string_view const name = trim(value.substr(0, comma));
        if (name == "none" || name.rfind("HS", 0) == 0) {
            throw auth_config_error("--jwt-algorithms: " + std::string(name) +
                                    " is forbidden by CDS Hooks (unsigned or symmetric)");
        }
        auto algorithm = parse_jws_algorithm(name);
        if (!algorithm) {
            throw auth_config_error("--jwt-algorithms: unsupported algorithm \"" +
                                    std::string(name) +
                                    "\" (supported: ES384, RS384, ES256, "
                                    "RS256)");
        }
        if (std::find(algorithms.begin(), algorithms.end(), *algorithm) == algorithms.end()) {
            algorithms.push_back(*algorithm);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
    return algorithms;
}

void add_auth_options(boost::program_options::options_description& options) {
    namespace po = boost::program_options;
    auth_flag_values const defaults;
    options.add_options()(
        "trust", po::value<std::vector<std::string>>()->composing(),
        "ISSUER=JWKS_FILE_OR_HTTPS_URL: trust JWTs with this iss, verified with these keys "
        "(repeatable; turns authentication on). The CDS Hooks sandbox: "
        "https://sandbox.cds-hooks.org=deploy/trust/cds-hooks-sandbox-jwks.json")(
        "public-url", po::value<std::string>(),
        "base URL clients call (e.g. https://cds.example.org); a JWT's aud must be this + the "
        "path called, and cards link to <URL>/rules/<rule-id>. Required with --trust; default "
        "for the links: the listen address")(
        "allow-unauthenticated", po::bool_switch(),
        "without --trust, listen on a non-loopback address anyway")(
        "protect-discovery", po::bool_switch(), "require a valid JWT for GET /cds-services too")(
        "jwt-clock-skew",
        po::value<std::string>()->default_value(
            ops::format_duration(verifier_options{}.clock_skew)),
        "leeway for exp, nbf and iat (whole seconds, 0s to 5m)")(
        "jwt-algorithms", po::value<std::string>()->default_value(defaults.algorithms),
        "accepted JWT signature algorithms, comma-separated: ES384, RS384, ES256, RS256")(
        "jwks-ca-file", po::value<std::string>(),
        "PEM CA bundle for HTTPS JWKS URLs (default: the system trust store)");
}

auth_flag_values read_auth_flags(boost::program_options::variables_map const& vm) {
    auth_flag_values values;
    auto text = [&vm](char const* name, std::string& out) {
        if (vm.count(name) != 0) {
            out = vm[name].as<std::string>();
        }
    };
    if (vm.count("trust") != 0) {
        values.trust = vm["trust"].as<std::vector<std::string>>();
    }
    text("public-url", values.public_url);
    text("jwt-clock-skew", values.clock_skew);
    text("jwt-algorithms", values.algorithms);
    text("jwks-ca-file", values.jwks_ca_file);
    values.allow_unauthenticated =
        vm.count("allow-unauthenticated") != 0 && vm["allow-unauthenticated"].as<bool>();
    values.protect_discovery =
        vm.count("protect-discovery") != 0 && vm["protect-discovery"].as<bool>();
    return values;
}

auth_config make_auth_config(auth_flag_values const& values) {
    auth_config config;
    std::set<std::string> issuers;
    for (auto const& flag : values.trust) {
        trust_entry entry = parse_trust_flag(flag);
        if (!issuers.insert(entry.issuer).second) {
            throw auth_config_error("--trust: issuer given twice: " + entry.issuer);
        }
        config.trust.push_back(std::move(entry));
    }
    if (!values.public_url.empty()) {
        config.public_url = parse_public_url(values.public_url);
    }
    if (config.enabled() && config.public_url.empty()) {
        // Deriving the URL from the Host header would let a token minted for another
        // service be replayed here with a forged Host.
        throw auth_config_error(
            "--trust needs --public-url: a JWT's aud must equal the URL "
            "the client called, and only configuration can say what "
            "that is");
    }
    config.allow_unauthenticated = values.allow_unauthenticated;
    config.protect_discovery = values.protect_discovery;
    if (!values.clock_skew.empty())
        config.verifier.clock_skew = parse_clock_skew(values.clock_skew);
    config.verifier.algorithms = parse_algorithms(values.algorithms);
    config.https.ca_file = values.jwks_ca_file;
    return config;
}

bool is_loopback_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host == "localhost") {
        return true;
    }
    boost::system::error_code ec;
    auto const address = boost::asio::ip::make_address(std::string(host), ec);
    if (ec) {
        return false;
    }
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6())
            .is_loopback();
    }
    return address.is_loopback();
}

listen_policy_decision check_listen_policy(std::string_view listen_host,
                                           auth_config const& config) {
    if (config.enabled()) {
        return {};
    }
    if (is_loopback_host(listen_host)) {
        return {true,
                "authentication is off (no --trust): any local process can call the "
                "service; add --trust ISSUER=JWKS before exposing it"};
    }
    if (config.allow_unauthenticated) {
        return {true, "authentication is off (no --trust) on non-loopback address " +
                          std::string(listen_host) +
                          " (--allow-unauthenticated): anyone who "
                          "can reach it can call the service"};
    }
    return {false, "refusing to listen on " + std::string(listen_host) +
                       " without authentication: add --trust ISSUER=JWKS_FILE_OR_HTTPS_URL "
                       "(and --public-url), listen on a loopback address, or pass "
                       "--allow-unauthenticated"};
}

std::shared_ptr<authenticator> make_authenticator(auth_config const& config,
                                                  std::chrono::system_clock::time_point now,
                                                  std::vector<std::string>* warnings) {
    if (!config.enabled()) {
        return std::make_shared<authenticator>(nullptr, config.public_url,
                                               config.protect_discovery);
    }
    if (config.public_url.empty()) {
        throw auth_config_error("--trust needs --public-url");
    }
    std::vector<trusted_issuer> issuers;
    for (auto const& entry : config.trust) {
        std::unique_ptr<jwks_source> source;
        try {
            source = make_jwks_source(entry.jwks, config.https);
        } catch (std::exception const& error) {
            throw auth_config_error("--trust " + entry.issuer + ": " + error.what());
        }
        if (!source->is_remote()) {
            // A file must be valid now: a typo should stop start-up, not every request.
            auto fetched = source->fetch();
            if (!fetched.body) {
                throw auth_config_error("--trust " + entry.issuer + ": " + fetched.error);
            }
            auto parsed = parse_jwk_set(*fetched.body);
            if (!parsed.set) {
                throw auth_config_error("--trust " + entry.issuer + ": " + entry.jwks + ": " +
                                        parsed.error);
            }
            if (parsed.set->keys.empty()) {
                throw auth_config_error("--trust " + entry.issuer + ": " + entry.jwks +
                                        " has no usable signing key");
            }
        }
        issuers.push_back({entry.issuer, std::move(source)});
    }
    auto verifier = std::make_unique<jwt_verifier>(std::move(issuers), config.verifier);
    for (auto& problem : verifier->load_keys(now)) {
        if (warnings != nullptr) {
            warnings->push_back(std::move(problem));
        }
    }
    return std::make_shared<authenticator>(std::move(verifier), config.public_url,
                                           config.protect_discovery);
}

}  // namespace cds::service::auth
