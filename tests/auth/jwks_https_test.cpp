// A JWKS served over real HTTPS on loopback (jwks_https_server.py, certificates from the
// test CA minted per run): certificate and host-name verification, timeouts, HTTP errors,
// and key rotation end to end through https_jwks_source.

#include <cds/service/auth/auth_config.hpp>
#include <cds/service/auth/jwks_source.hpp>
#include <cds/service/auth/jwt_verifier.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <doctest/doctest.h>

#include "auth_test_support.hpp"

extern char** environ;

namespace auth = cds::service::auth;
using auth::auth_reason;
using namespace std::chrono_literals;

namespace {

auth::test::minted const& m() { return auth::test::material(); }

// Starts jwks_https_server.py and stops it (stdin closed, then SIGTERM) when destroyed.
class https_server {
public:
    https_server() {
        int to_child[2];
        int from_child[2];
        REQUIRE(pipe(to_child) == 0);
        REQUIRE(pipe(from_child) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, to_child[1]);
        posix_spawn_file_actions_addclose(&actions, from_child[0]);
        std::string const python = CDS_PYTHON3;
        std::string const script = std::string(CDS_AUTH_TEST_DIR) + "/jwks_https_server.py";
        std::string const root = (auth::test::minted_dir() / "served").string();
        std::string const tls = (auth::test::minted_dir() / "tls").string();
        std::vector<std::string> args{python, script, "--root", root, "--tls-dir", tls};
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        int const spawned =
            posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(to_child[0]);
        close(from_child[1]);
        stdin_ = to_child[1];
        REQUIRE(spawned == 0);
        std::string line;
        char c = 0;
        while (read(from_child[0], &c, 1) == 1 && c != '\n') {
            line.push_back(c);
        }
        close(from_child[0]);
        REQUIRE_MESSAGE(!line.empty(), "the loopback HTTPS server did not start");
        auto ports = boost::json::parse(line).as_object();
        good_ = static_cast<int>(ports.at("good").as_int64());
        wrong_name_ = static_cast<int>(ports.at("wrong_name").as_int64());
        stall_ = static_cast<int>(ports.at("stall").as_int64());
    }
    ~https_server() {
        if (stdin_ >= 0) {
            close(stdin_);
        }
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            int status = 0;
            waitpid(pid_, &status, 0);
        }
    }
    https_server(https_server const&) = delete;
    https_server& operator=(https_server const&) = delete;

    std::string url(std::string_view host, int port, std::string_view file) const {
        return "https://" + std::string(host) + ":" + std::to_string(port) + "/" +
               std::string(file);
    }
    int good() const { return good_; }
    int wrong_name() const { return wrong_name_; }
    int stall() const { return stall_; }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int good_ = 0;
    int wrong_name_ = 0;
    int stall_ = 0;
};

void serve(std::string const& minted_name) {
    std::filesystem::copy_file(auth::test::minted_dir() / minted_name,
                               auth::test::minted_dir() / "served" / "remote.jwks.json",
                               std::filesystem::copy_options::overwrite_existing);
}

auth::https_jwks_options test_ca(std::chrono::milliseconds timeout = 5000ms) {
    return {timeout, (auth::test::minted_dir() / "tls/ca.pem").string()};
}

}  // namespace

TEST_CASE("HTTPS JWKS source against a loopback server") {
    serve("remote-1.jwks.json");
    https_server server;

    SUBCASE("IP literal: the certificate's IP SAN is checked") {
        auth::https_jwks_source source(server.url("127.0.0.1", server.good(), "remote.jwks.json"),
                                       test_ca());
        auto fetched = source.fetch();
        CAPTURE(fetched.error);
        REQUIRE(fetched.body);
        auto parsed = auth::parse_jwk_set(*fetched.body);
        REQUIRE(parsed.set);
        CHECK(parsed.set->find("r-1").size() == 1);
    }
    SUBCASE("DNS name with SNI: localhost") {
        auth::https_jwks_source source(server.url("localhost", server.good(), "remote.jwks.json"),
                                       test_ca());
        auto fetched = source.fetch();
        CAPTURE(fetched.error);
        CHECK(fetched.body);
    }
    SUBCASE("a certificate for another name is refused") {
        auth::https_jwks_source source(
            server.url("127.0.0.1", server.wrong_name(), "remote.jwks.json"), test_ca());
        auto fetched = source.fetch();
        CHECK_FALSE(fetched.body);
        CHECK(fetched.error.find("TLS handshake") != std::string::npos);
    }
    SUBCASE("a CA that did not sign the certificate is refused") {
        auth::https_jwks_source source(
            server.url("127.0.0.1", server.good(), "remote.jwks.json"),
            {5000ms, (auth::test::minted_dir() / "tls/other-ca.pem").string()});
        auto fetched = source.fetch();
        CHECK_FALSE(fetched.body);
        CHECK(fetched.error.find("certificate") != std::string::npos);
    }
    SUBCASE("the system trust store does not know the test CA") {
        auth::https_jwks_source source(server.url("127.0.0.1", server.good(), "remote.jwks.json"),
                                       {5000ms, ""});
        CHECK_FALSE(source.fetch().body);
    }
    SUBCASE("HTTP errors are failures") {
        auth::https_jwks_source source(server.url("127.0.0.1", server.good(), "missing.json"),
                                       test_ca());
        auto fetched = source.fetch();
        CHECK_FALSE(fetched.body);
        CHECK(fetched.error.find("404") != std::string::npos);
    }
    SUBCASE("a server that never answers hits the timeout") {
        auth::https_jwks_source source(server.url("127.0.0.1", server.stall(), "remote.jwks.json"),
                                       test_ca(300ms));
        auto fetched = source.fetch();
        CHECK_FALSE(fetched.body);
        CHECK(fetched.error.find("timed out") != std::string::npos);
    }
    SUBCASE("nothing listening") {
        // The stall port's neighbour is very likely closed; either way the fetch must fail.
        auth::https_jwks_source source("https://127.0.0.1:1/remote.jwks.json", test_ca(1000ms));
        CHECK_FALSE(source.fetch().body);
    }
}

TEST_CASE("remote issuer: verification and key rotation over HTTPS") {
    serve("remote-1.jwks.json");
    https_server server;
    auto const issuer = m().text("issuer_remote");
    std::vector<auth::trusted_issuer> issuers;
    issuers.push_back(
        {issuer, std::make_unique<auth::https_jwks_source>(
                     server.url("localhost", server.good(), "remote.jwks.json"), test_ca())});
    auth::jwt_verifier verifier(std::move(issuers), {});
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    REQUIRE(verifier.load_keys(t0).empty());

    CHECK(verifier.verify(m().token("remote_r1"), url, t0).ok());
    // r-2 is not published yet, and the verifier just fetched: no new fetch for 30 s.
    CHECK(verifier.verify(m().token("remote_r2"), url, t0 + 1s).reason == auth_reason::unknown_kid);
    CHECK(verifier.fetch_count(issuer) == 1);

    serve("remote-2.jwks.json");
    CHECK(verifier.verify(m().token("remote_r2"), url, t0 + 31s).ok());
    CHECK(verifier.fetch_count(issuer) == 2);
    CHECK(verifier.verify(m().token("remote_r2_again"), url, t0 + 32s).ok());
    CHECK(verifier.fetch_count(issuer) == 2);
}

TEST_CASE("make_authenticator: an HTTPS JWKS down at start-up is a warning, not a failure") {
    https_server server;
    auth::auth_flag_values flags;
    flags.trust = {m().text("issuer_remote") + "=" +
                   server.url("127.0.0.1", server.stall(), "remote.jwks.json")};
    flags.public_url = m().text("public_url");
    flags.jwks_ca_file = (auth::test::minted_dir() / "tls/ca.pem").string();
    auto config = auth::make_auth_config(flags);
    config.https.timeout = 300ms;
    std::vector<std::string> warnings;
    auto authenticator = auth::make_authenticator(config, m().now(), &warnings);
    REQUIRE(authenticator);
    CHECK(authenticator->enabled());
    REQUIRE(warnings.size() == 1);
    CHECK(warnings.front().find("timed out") != std::string::npos);
}
